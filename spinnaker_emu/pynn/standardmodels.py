"""Standard cell and synapse types of the spinnaker-emu backend.

Native names are PyNN's own names (identity translations) in PyNN units; the mapping
layer converts them into the fixed-point words the neuron kernels read, the way
sPyNNaker's data-specification step does.  Models follow sPyNNaker where it differs
from PyNN: Izhikevich is current-based with exponential synapses (``tau_syn_E``,
``tau_syn_I``), SpikeSourcePoisson accepts ``duration=None`` (forever).
"""
import numpy as np

from pyNN import errors
from pyNN.standardmodels import cells, synapses, electrodes, build_translations
from pyNN.parameters import ParameterSpace

from .simulator import state


def _identity(*names):
    return build_translations(*[(n, n) for n in names])


def _cell(base, extra_parameters=None, extra_units=None, extra_initial=None,
          recordable=None):
    names = list(base.default_parameters) + list(extra_parameters or {})
    attrs = {
        "__doc__": base.__doc__,
        "translations": _identity(*names),
    }
    if extra_parameters:
        attrs["default_parameters"] = dict(base.default_parameters, **extra_parameters)
    if extra_units:
        attrs["units"] = dict(base.units, **extra_units)
    if extra_initial:
        attrs["default_initial_values"] = dict(base.default_initial_values, **extra_initial)
    if recordable:
        attrs["recordable"] = recordable
    return type(base.__name__, (base,), attrs)


IF_curr_exp = _cell(cells.IF_curr_exp)
IF_cond_exp = _cell(cells.IF_cond_exp)
IF_curr_alpha = _cell(cells.IF_curr_alpha)
IF_curr_delta = _cell(cells.IF_curr_delta)
Izhikevich = _cell(cells.Izhikevich,
                   extra_parameters={"tau_syn_E": 5.0, "tau_syn_I": 5.0},
                   extra_units={"tau_syn_E": "ms", "tau_syn_I": "ms"})
Izhikevich.voltage_based_synapses = False

# the kernels (and so the mapping) know these cell models
NEURON_MODELS = ("IF_curr_exp", "IF_cond_exp", "IF_curr_alpha", "IF_curr_delta", "Izhikevich")


class SpikeSourceArray(cells.SpikeSourceArray):
    __doc__ = cells.SpikeSourceArray.__doc__
    translations = _identity("spike_times")


class SpikeSourcePoisson(cells.SpikeSourcePoisson):
    __doc__ = cells.SpikeSourcePoisson.__doc__
    translations = _identity("rate", "start", "duration")

    def __init__(self, **parameters):
        # sPyNNaker: duration=None means "until the end"
        if "duration" in parameters and parameters["duration"] is None:
            parameters["duration"] = self.default_parameters["duration"]
        super().__init__(**parameters)


def _minimum_delay():
    d = state.min_delay
    if d == "auto":
        d = state.dt
    return d


def check_weight_signs(weight, projection):
    """sPyNNaker takes |w| and lets the receptor decide the sign; it refuses a mix
    of signs within one projection (the receptor could not honour both)."""
    w = np.asarray(weight, dtype=float)
    if w.size and (w.min() < 0 < w.max()):
        raise errors.ConnectionError(
            "Weights of projection %r mix positive and negative values; SpiNNaker "
            "takes |weight| and the receptor type ('excitatory'/'inhibitory') sets "
            "the sign: split it into two projections." % (projection.label,))


class StaticSynapse(synapses.StaticSynapse):
    __doc__ = synapses.StaticSynapse.__doc__
    translations = _identity("weight", "delay")
    parameter_checks = {"weight": check_weight_signs}

    def _get_minimum_delay(self):
        return _minimum_delay()


class STDPMechanism(synapses.STDPMechanism):
    __doc__ = synapses.STDPMechanism.__doc__
    base_translations = _identity("weight", "delay", "dendritic_delay_fraction")
    parameter_checks = {"weight": check_weight_signs}

    def _get_minimum_delay(self):
        return _minimum_delay()


class AdditiveWeightDependence(synapses.AdditiveWeightDependence):
    __doc__ = synapses.AdditiveWeightDependence.__doc__
    translations = _identity("w_max", "w_min")


class MultiplicativeWeightDependence(synapses.MultiplicativeWeightDependence):
    __doc__ = synapses.MultiplicativeWeightDependence.__doc__
    translations = _identity("w_max", "w_min")


class SpikePairRule(synapses.SpikePairRule):
    __doc__ = synapses.SpikePairRule.__doc__
    translations = _identity("tau_plus", "tau_minus", "A_plus", "A_minus")


# -- current sources ----------------------------------------------------------------------
class _CurrentSource:
    """Current sources are kept with the cells they inject into; the neuron cores
    apply them tick by tick (sPyNNaker's current-source region)."""

    def __init__(self, **parameters):
        super().__init__(**parameters)
        self._targets = []       # (population, indices)
        self._recording = False
        self._native = {}
        self.set_native_parameters(self.native_parameters)

    def inject_into(self, cells):
        from pyNN.common import BasePopulation
        for cell in cells:
            if not cell.local:
                continue
            if getattr(cell.celltype, "injectable", True) is False:
                raise TypeError("Can't inject current into a spike source.")
        if isinstance(cells, BasePopulation):
            groups = {}
            parent = getattr(cells, "grandparent", cells)
            groups[parent] = parent.id_to_index(cells.all_cells)
        else:
            groups = {}
            for cell in cells:
                groups.setdefault(cell.parent, []).append(cell.parent.id_to_index(cell))
        for pop, idx in groups.items():
            self._targets.append((pop, np.atleast_1d(np.asarray(idx, dtype=int))))
            pop._current_sources.append(self)

    def set_native_parameters(self, parameters):
        if parameters.shape is None:
            parameters.shape = (1,)
        parameters.evaluate(simplify=True)
        for name, value in parameters.items():
            if isinstance(value, np.ndarray) or hasattr(value, "value"):
                value = getattr(value, "value", value)
            self._native[name] = value

    def get_native_parameters(self):
        return ParameterSpace(dict(self._native))

    def record(self):
        self._recording = True

    def current_at_ticks(self, ticks, dt):
        """Amplitude (nA) in force during each tick (array), from the parameters."""
        raise NotImplementedError


class DCSource(_CurrentSource, electrodes.DCSource):
    __doc__ = electrodes.DCSource.__doc__
    translations = _identity("amplitude", "start", "stop")


class StepCurrentSource(_CurrentSource, electrodes.StepCurrentSource):
    __doc__ = electrodes.StepCurrentSource.__doc__
    translations = _identity("amplitudes", "times")


class ACSource(_CurrentSource, electrodes.ACSource):
    __doc__ = electrodes.ACSource.__doc__
    translations = _identity("amplitude", "start", "stop", "frequency", "offset", "phase")


class NoisyCurrentSource(_CurrentSource, electrodes.NoisyCurrentSource):
    __doc__ = electrodes.NoisyCurrentSource.__doc__
    translations = _identity("mean", "start", "stop", "stdev", "dt")
