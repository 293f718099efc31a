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


class TsodyksMarkramSynapse(synapses.TsodyksMarkramSynapse):
    """Short-term depression and facilitation (NEST's tsodyks_synapse update; the
    synaptic time constant of the post neuron's receptor plays tau_psc). U, tau_rec
    and tau_facil are per connection."""
    translations = _identity("weight", "delay", "U", "tau_rec", "tau_facil")
    parameter_checks = {"weight": check_weight_signs}
    connection_parameters = ("U", "tau_rec", "tau_facil")

    def _get_minimum_delay(self):
        return _minimum_delay()


class SimpleStochasticSynapse(synapses.SimpleStochasticSynapse):
    __doc__ = synapses.SimpleStochasticSynapse.__doc__
    translations = _identity("weight", "delay", "p")
    parameter_checks = {"weight": check_weight_signs}
    connection_parameters = ("p",)

    def _get_minimum_delay(self):
        return _minimum_delay()


# -- current sources ----------------------------------------------------------------------
class _CurrentSource:
    """Current sources are kept with the cells they inject into; the neuron cores
    apply them tick by tick (sPyNNaker's current-source region)."""

    def __init__(self, **parameters):
        self._native = {}
        self._version = 0        # bumped on every change: the loader re-sends the region
        super().__init__(**parameters)
        self._targets = []       # (population, indices)
        self._recording = False
        self._trace = []         # recorded current per run chunk (arrays, one per tick)
        self._final = 0.0        # current in the tick after the last one run
        # NoisyCurrentSource: the seed of the core's normal stream (host regenerates it)
        self._seed = [int(x) for x in np.random.SeedSequence().generate_state(4)]
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
            if not any(s is self for s in pop._current_sources):
                pop._current_sources.append(self)
        self._version += 1

    def set_native_parameters(self, parameters):
        if parameters.shape is None:
            parameters.shape = (1,)
        parameters.evaluate(simplify=True)
        new = {}
        for name, value in parameters.items():
            if isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
                value = value.ravel()[0]
            if isinstance(value, np.ndarray) or hasattr(value, "value"):
                value = getattr(value, "value", value)
            if isinstance(value, np.ndarray) and value.size == 1 and name not in (
                    "times", "amplitudes"):
                value = value.ravel()[0]
            new[name] = value
        if "times" in new or "amplitudes" in new:
            times = np.asarray(new.get("times", self._native.get("times", [])), float).ravel()
            amps = np.asarray(new.get("amplitudes", self._native.get("amplitudes", [])),
                              float).ravel()
            new["times"], new["amplitudes"] = _check_step_times(times, amps)
        self._native.update(new)
        self._version += 1

    def get_native_parameters(self):
        return ParameterSpace(dict(self._native))

    def record(self):
        self._recording = True

    def _get_data(self):
        """(times, currents): the current in force during each tick run so far, and
        in the next tick (n_ticks + 1 samples, as PyNN's other backends)."""
        i = np.concatenate(self._trace + [np.array([self._final])])
        return np.arange(len(i)) * state.dt, i


def _check_step_times(times, amplitudes):
    """PyNN's checks for StepCurrentSource: times >= 0 and increasing; times put on the
    timestep grid, and of several times landing on one step the last one kept."""
    if len(times) != len(amplitudes):
        raise ValueError("StepCurrentSource: times and amplitudes must have the same length")
    if not (times >= 0.0).all():
        raise ValueError("Step current cannot accept negative timestamps.")
    if not (np.diff(times) > 0.0).all():
        raise ValueError("Step current timestamps should be monotonically increasing.")
    dt = state.dt
    times = np.rint(times / dt) * dt
    keep = np.append(times[1:] != times[:-1], True) if len(times) else np.zeros(0, bool)
    return times[keep], amplitudes[keep]


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
