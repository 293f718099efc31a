"""Population, PopulationView and Assembly for the spinnaker-emu backend.

Parameters and initial state live on the host as numpy arrays (native = PyNN names and
units); the runner writes them to the neuron cores before a run and again after any
change between runs (sPyNNaker semantics: new values are loaded before the next run).
"""
import numpy as np

from pyNN import common, errors
from pyNN.parameters import ParameterSpace, simplify
from pyNN.standardmodels import StandardCellType

from . import simulator
from .recording import Recorder

DEFAULT_NEURONS_PER_CORE = 256


class Assembly(common.Assembly):
    _simulator = simulator


def _get_parameters(view, *names):
    celltype = view.celltype
    if isinstance(celltype, StandardCellType):
        if any(name in celltype.computed_parameters() for name in names):
            native_names = celltype.get_native_names()
        else:
            native_names = celltype.get_native_names(*names)
        return celltype.reverse_translate(view._get_native_parameters(*native_names))
    return view._get_native_parameters(*names)


class PopulationView(common.PopulationView):
    _assembly_class = Assembly
    _simulator = simulator

    def _get_parameters(self, *names):
        return _get_parameters(self, *names)

    def _get_native_parameters(self, *names):
        parameter_dict = {}
        for name in names:
            value = self.parent._parameters[name]
            if isinstance(value, np.ndarray):
                value = value[self.mask]
            parameter_dict[name] = simplify(value)
        return ParameterSpace(parameter_dict, shape=(self.size,))

    def _set_parameters(self, parameter_space):
        self.parent._set_parameters(parameter_space, mask=self.mask)

    def _set_initial_value_array(self, variable, initial_values):
        self.parent._set_initial_value_array(variable, initial_values, mask=self.mask)

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)

    @property
    def grandparent(self):
        return self.parent.grandparent


class Population(common.Population):
    __doc__ = common.Population.__doc__
    _simulator = simulator
    _recorder_class = Recorder
    _assembly_class = Assembly

    def __init__(self, size, cellclass, cellparams=None, structure=None,
                 initial_values={}, label=None, **additional):
        # sPyNNaker accepts initial_values=None and extra keyword arguments
        # (neurons_per_core, seed, spikes_per_second, ...)
        if initial_values is None:
            initial_values = {}
        self._additional = dict(additional.pop("additional_parameters", None) or {})
        self._additional.update(additional)
        self._current_sources = []
        self._placement_constraint = None
        self._dirty = set()
        super().__init__(size, cellclass, cellparams, structure, initial_values, label)
        npc = self._additional.get("neurons_per_core")
        if npc is None:
            npc = simulator.state.neurons_per_core.get(type(self.celltype).__name__)
        self._max_atoms_per_core = int(np.prod(npc)) if npc else DEFAULT_NEURONS_PER_CORE
        simulator.state.populations.append(self)

    @property
    def grandparent(self):
        return self

    def _create_cells(self):
        id_range = np.arange(simulator.state.id_counter,
                             simulator.state.id_counter + self.size)
        self.all_cells = np.array([simulator.ID(i) for i in id_range], dtype=simulator.ID)
        self._mask_local = np.ones((self.size,), bool)
        if isinstance(self.celltype, StandardCellType):
            parameter_space = self.celltype.native_parameters
        else:
            parameter_space = self.celltype.parameter_space
        parameter_space.shape = (self.size,)
        parameter_space.evaluate(mask=self._mask_local, simplify=False)
        self._parameters = parameter_space.as_dict()
        for name, value in self._parameters.items():
            self._check_values(name, value)
        self._initial_state = {}
        for variable, value in self.celltype.default_initial_values.items():
            self._initial_state[variable] = np.full(self.size, value, dtype=float)
        for cell in self.all_cells:
            cell.parent = self
        simulator.state.id_counter += self.size

    def _check_values(self, name, value):
        if name == "spike_times":
            for seq in np.atleast_1d(np.asarray(value, dtype=object)).ravel():
                times = np.asarray(getattr(seq, "value", seq), dtype=float)
                if times.size > 1 and np.any(np.diff(times) < 0):
                    raise errors.InvalidParameterValueError(
                        "SpikeSourceArray spike times must be sorted: %s" % times)
            return
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise errors.InvalidParameterValueError(
                "%s should be numeric, not %r" % (name, type(value)))
        if name in ("tau_m", "cm", "tau_syn_E", "tau_syn_I") and np.any(arr <= 0):
            raise errors.InvalidParameterValueError("%s must be positive" % name)
        if name in ("tau_refrac", "rate", "duration", "start") and np.any(arr < 0):
            raise errors.InvalidParameterValueError("%s must not be negative" % name)

    def _set_initial_value_array(self, variable, initial_values, mask=None):
        if variable not in self._initial_state:
            raise errors.NonExistentParameterError(
                variable, self.celltype.__class__.__name__,
                list(self._initial_state))
        if simulator.state.running and simulator.state.t > 0:
            simulator.logger.warning(
                "initialize(%s) after a run without reset(): it takes effect only after "
                "the next reset() (as on sPyNNaker)", variable)
        size = self.size if mask is None else len(np.arange(self.size)[mask])
        initial_values.shape = (size,)
        values = np.asarray(initial_values.evaluate(simplify=False), dtype=float)
        if mask is None:
            self._initial_state[variable][:] = values
        else:
            self._initial_state[variable][mask] = values

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)

    def _get_parameters(self, *names):
        return _get_parameters(self, *names)

    def _get_native_parameters(self, *names):
        return ParameterSpace({name: simplify(self._parameters[name]) for name in names},
                              shape=(self.size,))

    def _set_parameters(self, parameter_space, mask=None):
        size = self.size if mask is None else len(np.arange(self.size)[mask])
        parameter_space.shape = (size,)
        parameter_space.evaluate(simplify=False)
        for name, value in parameter_space.items():
            self._check_values(name, value)
            if name not in self._parameters:
                raise errors.NonExistentParameterError(name, self.celltype.__class__.__name__)
            current = self._parameters[name]
            if mask is None:
                self._parameters[name] = value
            else:
                if current.dtype != value.dtype:
                    current = current.astype(object)
                current[mask] = value
                self._parameters[name] = current
            self._dirty.add(name)

    # -- sPyNNaker extras -----------------------------------------------------------------
    def set_max_atoms_per_core(self, n):
        self._max_atoms_per_core = int(np.prod(n))

    def add_placement_constraint(self, x, y, p=None):
        self._placement_constraint = (x, y, p)

    def spinnaker_get_data(self, variable, as_matrix=False, view_indexes=None):
        block = self.get_data(variable)
        seg = block.segments[-1]
        if variable == "spikes":
            rows = []
            for st in seg.spiketrains:
                idx = st.annotations["source_index"]
                if view_indexes is None or idx in view_indexes:
                    rows.extend((idx, float(t)) for t in st.magnitude)
            return np.array(rows, dtype=float).reshape(-1, 2)
        sig = seg.filter(name=variable)[0]
        if as_matrix:
            return np.asarray(sig.magnitude)
        idx = np.asarray(sig.array_annotations["channel_index"])
        times = np.asarray(sig.times.rescale("ms").magnitude)
        rows = [(i, t, sig.magnitude[k, c]) for c, i in enumerate(idx)
                for k, t in enumerate(times)
                if view_indexes is None or i in view_indexes]
        return np.array(rows, dtype=float).reshape(-1, 3)

    def set_state(self, **values):
        self.initialize(**values)

    @property
    def current_values(self):
        return {k: v.copy() for k, v in self._initial_state.items()}
