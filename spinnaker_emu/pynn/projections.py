"""Projection: connections kept as numpy columns (pre index, post index, weight, delay).

Connectors (PyNN's, plus our OneToOneConnector) call ``_convergent_connect`` once per
post-synaptic cell.  Delays are put on the timestep grid (SpiNNaker delivers spikes in
whole ticks); weights keep the value given until a run reads plastic weights back
from the machine (then they are the 16-bit fixed-point values the cores hold).
"""
import numpy as np

from pyNN import common, errors
from pyNN.space import Space
from pyNN.standardmodels import StandardSynapseType

from ..mapping.partition import MAX_DELAY_TICKS       # ring buffer + delay stages: 144
from . import simulator
from .standardmodels import StaticSynapse


class Connection(common.Connection):
    """One connection, a view on its projection's arrays."""

    def __init__(self, projection, k):
        self._projection = projection
        self._k = k

    @property
    def presynaptic_index(self):
        return int(self._projection._arrays()["pre"][self._k])

    @property
    def postsynaptic_index(self):
        return int(self._projection._arrays()["post"][self._k])

    def _get(self, name):
        return float(self._projection._arrays()[name][self._k])

    def _set(self, name, value):
        self._projection._arrays()[name][self._k] = value
        self._projection._dirty = True

    weight = property(lambda self: self._get("weight"), lambda self, v: self._set("weight", v))
    delay = property(lambda self: self._get("delay"), lambda self, v: self._set("delay", v))

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        arrays = self._projection._arrays()
        if name in arrays:
            return float(arrays[name][self._k])
        raise AttributeError(name)

    def as_tuple(self, *attribute_names):
        return tuple(getattr(self, name) for name in attribute_names)


class _Connections:
    def __init__(self, projection):
        self._p = projection

    def __len__(self):
        return len(self._p)

    def __iter__(self):
        for k in range(len(self._p)):
            yield Connection(self._p, k)

    def __getitem__(self, k):
        n = len(self._p)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(k)
        return Connection(self._p, k)


class Projection(common.Projection):
    __doc__ = common.Projection.__doc__
    _simulator = simulator
    _static_synapse_class = StaticSynapse

    def __init__(self, presynaptic_population, postsynaptic_population,
                 connector, synapse_type=None, source=None, receptor_type=None,
                 space=Space(), label=None, **extra):
        # sPyNNaker extras: download_synapses, partition_id
        self._download_synapses = extra.pop("download_synapses", False)
        extra.pop("partition_id", None)
        if extra:
            raise TypeError("Projection() got unexpected arguments %s" % sorted(extra))
        common.Projection.__init__(self, presynaptic_population, postsynaptic_population,
                                   connector, synapse_type, source, receptor_type,
                                   space, label)
        self._chunks = []
        self._cols = None
        self._dirty = True
        self.connections = _Connections(self)
        connector.connect(self)
        from .standardmodels import check_weight_signs
        check_weight_signs(self._arrays()["weight"], self)
        simulator.state.projections.append(self)

    # -- storage ------------------------------------------------------------------------
    def _native_names(self):
        # rule parameters (tau_plus, w_max, ...) are per projection on SpiNNaker;
        # short-term plasticity and transmission probabilities are per connection
        return ["weight", "delay"] + list(getattr(self.synapse_type,
                                                  "connection_parameters", ()))

    def _arrays(self):
        if self._cols is None or self._chunks:
            names = ["pre", "post"] + self._native_names()
            parts = ([self._cols] if self._cols is not None else []) + self._chunks
            cols = {}
            for name in names:
                vals = [p[name] for p in parts if name in p]
                dtype = np.int64 if name in ("pre", "post") else float
                cols[name] = np.concatenate(vals).astype(dtype) if vals else np.zeros(0, dtype)
            self._cols, self._chunks = cols, []
        return self._cols

    def __len__(self):
        return len(self._arrays()["pre"])

    def _convergent_connect(self, presynaptic_indices, postsynaptic_index,
                            location_selector=None, **connection_parameters):
        if location_selector is not None:
            raise NotImplementedError("SpiNNaker has no multi-compartment neurons.")
        pre = np.atleast_1d(np.asarray(presynaptic_indices, dtype=np.int64))
        n = pre.size
        if n == 0:
            return
        chunk = {"pre": pre, "post": np.full(n, int(postsynaptic_index), np.int64)}
        names = self._native_names()
        for name, value in connection_parameters.items():
            if name not in names:
                continue
            arr = np.asarray(value, dtype=float)
            chunk[name] = np.broadcast_to(arr, (n,)).copy() if arr.ndim == 0 or arr.size == 1 \
                else arr.reshape(n)
        chunk["delay"] = self._grid_delays(chunk.get("delay", np.full(n, self.synapse_type._get_minimum_delay())))
        self._chunks.append(chunk)
        self._dirty = True

    def _grid_delays(self, delays):
        dt = simulator.state.dt
        ticks = np.rint(np.asarray(delays, dtype=float) / dt)
        ticks = np.maximum(ticks, 1)
        if ticks.size and ticks.max() > MAX_DELAY_TICKS:
            raise errors.ConnectionError(
                "Projection %r has a delay of %g ms (%d timesteps); SpiNNaker supports at "
                "most %d timesteps (%g ms at timestep %g ms) with delay extensions. Use "
                "shorter delays or a larger timestep."
                % (self.label, ticks.max() * dt, ticks.max(), MAX_DELAY_TICKS,
                   MAX_DELAY_TICKS * dt, dt))
        return ticks * dt

    # -- access ---------------------------------------------------------------------------
    def _column(self, name):
        arrays = self._arrays()
        key = {"presynaptic_index": "pre", "postsynaptic_index": "post"}.get(name, name)
        if key in arrays:
            return arrays[key]
        if key.endswith("s") and key[:-1] in arrays:          # weights, delays
            return arrays[key[:-1]]
        # a rule parameter (tau_plus, w_max, ...): one value per projection on SpiNNaker
        ps = self.synapse_type.native_parameters
        if key not in ps.keys():
            raise errors.NonExistentParameterError(name, type(self.synapse_type).__name__,
                                                   ["weight", "delay"] + list(ps.keys()))
        ps.shape = (1,)
        ps.evaluate(simplify=True)
        return np.full(len(arrays["pre"]), float(ps[key]))

    def _get_attributes_as_list(self, names):
        cols = [self._column(name).tolist() for name in names]
        return list(zip(*cols))

    def _get_attributes_as_arrays(self, names, multiple_synapses="sum"):
        arrays = self._arrays()
        pre, post = arrays["pre"], arrays["post"]
        out = []
        for name in names:
            values = self._column(name)
            result = np.full((self.pre.size, self.post.size), np.nan)
            if multiple_synapses == "last":
                result[pre, post] = values
            elif multiple_synapses == "first":
                result[pre[::-1], post[::-1]] = values[::-1]
            else:
                flat = pre * self.post.size + post
                uniq, inv = np.unique(flat, return_inverse=True)
                if multiple_synapses == "sum":
                    agg = np.zeros(uniq.size)
                    np.add.at(agg, inv, values)
                elif multiple_synapses == "min":
                    agg = np.full(uniq.size, np.inf)
                    np.minimum.at(agg, inv, values)
                elif multiple_synapses == "max":
                    agg = np.full(uniq.size, -np.inf)
                    np.maximum.at(agg, inv, values)
                else:
                    raise ValueError(multiple_synapses)
                result.flat[uniq] = agg
            out.append(result)
        return out

    def _set_attributes(self, parameter_space):
        arrays = self._arrays()
        pre, post = arrays["pre"], arrays["post"]
        parameter_space.evaluate(simplify=False)
        for name, value in parameter_space.items():
            if name == "dendritic_delay_fraction":
                continue
            value = np.asarray(value, dtype=float)
            if name not in self._native_names():
                uniq = np.unique(value[~np.isnan(value)]) if value.ndim else [float(value)]
                if len(uniq) > 1:
                    raise ValueError("SpiNNaker applies one value of %s per projection" % name)
                self._set_rule_parameter(name, float(uniq[0]))
                continue
            if value.ndim == 0:
                new = np.full(pre.size, float(value))
            else:
                new = value[pre, post]
            if name == "delay":
                new = self._grid_delays(new)
            arrays[name] = new
        self._dirty = True

    def _set_rule_parameter(self, name, value):
        st = self.synapse_type
        for component in (getattr(st, "timing_dependence", None),
                          getattr(st, "weight_dependence", None), st):
            if component is not None and name in component.get_parameter_names():
                component.parameter_space.update(**{name: value})
                self._dirty = True
                return
        raise errors.NonExistentParameterError(name, type(st).__name__)

    def _set_initial_value_array(self, variable, initial_value):
        raise NotImplementedError("SpiNNaker synapses have no initial values to set")

    # -- sPyNNaker extras -------------------------------------------------------------------
    def set_download_synapses(self, download):
        self._download_synapses = bool(download)

    @property
    def is_plastic(self):
        return not isinstance(self.synapse_type, StaticSynapse)
