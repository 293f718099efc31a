"""PyNN cell types beyond sPyNNaker's set, run by the float64 kernels of
``apps/neuron/models_extra.py`` and the renewal sources of
``apps/neuron/sources_extra.py`` (docs/NEURON_APPS.md).

IF_cond_alpha, EIF_cond_exp_isfa_ista, EIF_cond_alpha_isfa_ista, HH_cond_exp,
SpikeSourceGamma, SpikeSourcePoissonRefractory, and the composed
``PointNeuron(LIF | AdExp, name=CurrExpPostSynapticResponse | CondExpPostSynapticResponse
| CondAlphaPostSynapticResponse, ...)`` with at most four receptors.
Native names are PyNN's (identity translations), in PyNN units.
"""
from copy import deepcopy

import numpy as np

from pyNN import errors
from pyNN.parameters import ParameterSpace
from pyNN.standardmodels import build_translations, cells, receptors

from .simulator import state


def _identity(*names):
    return build_translations(*[(n, n) for n in names])


def _cell(base, recordable=None):
    attrs = {"__doc__": base.__doc__,
             "translations": _identity(*base.default_parameters)}
    if recordable:
        attrs["recordable"] = recordable
    return type(base.__name__, (base,), attrs)


IF_cond_alpha = _cell(cells.IF_cond_alpha)
EIF_cond_exp_isfa_ista = _cell(cells.EIF_cond_exp_isfa_ista)
EIF_cond_alpha_isfa_ista = _cell(cells.EIF_cond_alpha_isfa_ista)
HH_cond_exp = _cell(cells.HH_cond_exp, recordable=['spikes', 'v', 'gsyn_exc', 'gsyn_inh',
                                                   'm', 'h', 'n'])
HH_cond_exp.receptor_types = ('excitatory', 'inhibitory')
SpikeSourceGamma = _cell(cells.SpikeSourceGamma)
SpikeSourcePoissonRefractory = _cell(cells.SpikeSourcePoissonRefractory)

#: cell types handled by models_extra (name -> kernel model name)
FLOAT_NEURON_MODELS = ("IF_cond_alpha", "EIF_cond_exp_isfa_ista", "EIF_cond_alpha_isfa_ista",
                       "HH_cond_exp", "PointNeuron")
RENEWAL_SOURCES = ("SpikeSourceGamma", "SpikeSourcePoissonRefractory")


# -- composed neurons ------------------------------------------------------------------------
class LIF(cells.LIF):
    __doc__ = cells.LIF.__doc__
    translations = _identity(*cells.LIF.default_parameters)


class AdExp(cells.AdExp):
    __doc__ = cells.AdExp.__doc__
    translations = _identity(*cells.AdExp.default_parameters)


_ALPHA, _COND = 1, 2      # models_extra.KIND_ALPHA, KIND_COND


class CurrExpPostSynapticResponse(receptors.CurrExpPostSynapticResponse):
    __doc__ = receptors.CurrExpPostSynapticResponse.__doc__
    translations = _identity(*receptors.CurrExpPostSynapticResponse.default_parameters)
    recordable = ["isyn"]
    kind = 0


class CondExpPostSynapticResponse(receptors.CondExpPostSynapticResponse):
    __doc__ = receptors.CondExpPostSynapticResponse.__doc__
    translations = _identity(*receptors.CondExpPostSynapticResponse.default_parameters)
    recordable = ["gsyn"]
    kind = _COND


class CondAlphaPostSynapticResponse(receptors.CondAlphaPostSynapticResponse):
    __doc__ = receptors.CondAlphaPostSynapticResponse.__doc__
    translations = _identity(*receptors.CondAlphaPostSynapticResponse.default_parameters)
    recordable = ["gsyn"]
    kind = _COND | _ALPHA


ExpPSR = CondExpPostSynapticResponse
AlphaPSR = CondAlphaPostSynapticResponse
MAX_RECEPTORS = 4


class PointNeuron(cells.PointNeuron):
    """A LIF or AdExp neuron with named post-synaptic receptors (at most four,
    all current-based or all conductance-based). Parameters are flat: the neuron's
    names and ``<receptor>.<name>`` (e.g. ``AMPA.tau_syn``); receptor_type of a
    Projection is the receptor's name."""

    def __init__(self, neuron, **post_synaptic_receptors):
        if not isinstance(neuron, (LIF, AdExp)):
            raise errors.InvalidModelError(
                "PointNeuron on SpiNNaker takes sim.LIF or sim.AdExp, not %s"
                % type(neuron).__name__)
        if not 1 <= len(post_synaptic_receptors) <= MAX_RECEPTORS:
            raise errors.InvalidModelError(
                "PointNeuron on SpiNNaker takes 1..%d receptors (2 synapse-type bits)"
                % MAX_RECEPTORS)
        for name, psr in post_synaptic_receptors.items():
            if not hasattr(psr, "kind"):
                raise errors.InvalidModelError(
                    "receptor %s: %s is not supported (CurrExpPostSynapticResponse, "
                    "CondExpPostSynapticResponse, CondAlphaPostSynapticResponse)"
                    % (name, type(psr).__name__))
        super().__init__(neuron, **post_synaptic_receptors)
        self.conductance_based        # noqa: B018 -- raises for a mix
        flat = {k: v for k, v in deepcopy(neuron.parameter_space).items()}
        for rname, psr in post_synaptic_receptors.items():
            for k, v in deepcopy(psr.parameter_space).items():
                if k != "locations":
                    flat["%s.%s" % (rname, k)] = v
        self.parameter_space = ParameterSpace(flat, schema=None, shape=None)
        self.translations = _identity(*flat)
        self.default_parameters = {k: None for k in flat}

    def get_schema(self):
        return None

    # flat names with dots cannot go through PyNN's eval-based identity translation
    def translate(self, parameters, copy=True):
        ps = deepcopy(parameters) if copy else parameters
        return ParameterSpace(dict(ps.items()), schema=None, shape=parameters.shape)

    def reverse_translate(self, native_parameters):
        return ParameterSpace(dict(native_parameters.items()), schema=None,
                              shape=native_parameters.shape)

    def receptor_index(self, receptor_type):
        return self.receptor_types.index(receptor_type)

    def recording_aliases(self):
        """PyNN recordable -> the kernel's channel name (models_extra.PointNeuronModel)."""
        out = {}
        for k, rname in enumerate(self.receptor_types):
            for var in self.post_synaptic_receptors[rname].recordable:
                out["%s.%s" % (rname, var)] = "syn%d" % k
        return out

    def kernel_parameters(self, parameters, initial_state, lo, hi, population=None):
        """PyNN parameters/initial values of neurons lo..hi -> the parameters and state
        of the kernel model ``PointNeuron`` (receptors onto slots s0..s3)."""
        def val(name, default=None):
            v = parameters.get(name, default)
            v = np.asarray(v, dtype=float)
            return v[lo:hi] if v.ndim else float(v)
        p = {}
        if isinstance(self.neuron, AdExp):
            for name in cells.AdExp.default_parameters:
                p[name] = val(name)
        else:
            for name in cells.LIF.default_parameters:
                p[name] = val(name)
            p.update(delta_T=0.0, a=0.0, b=0.0, tau_w=1.0, v_spike=p["v_thresh"])
        st = {"v": np.asarray(initial_state["v"], float)[lo:hi]}
        if "w" in initial_state:
            st["w"] = np.asarray(initial_state["w"], float)[lo:hi]
        signs = _receptor_signs(population) if population is not None else {}
        for k, rname in enumerate(self.receptor_types):
            psr = self.post_synaptic_receptors[rname]
            p["s%d_tau" % k] = val(rname + ".tau_syn")
            p["s%d_e_rev" % k] = val(rname + ".e_syn", 0.0)
            p["s%d_kind" % k] = psr.kind
            p["s%d_sign" % k] = 1.0 if psr.kind & _COND else signs.get(rname, 1.0)
            for var in psr.recordable:
                key = "%s.%s" % (rname, var)
                if key in initial_state:
                    st["s%d_g" % k] = np.abs(np.asarray(initial_state[key], float)[lo:hi])
        return p, st


def _receptor_signs(population):
    """Current receptors take the sign of the PyNN weights projected onto them
    (SpiNNaker stores |w|): -1 when they are negative."""
    out = {}
    for proj in state.projections:
        if proj.post.grandparent is not population:
            continue
        w = np.asarray(proj._arrays()["weight"], float) if hasattr(proj, "_arrays") else None
        if w is None or not w.size:
            continue
        sign = -1.0 if w.max() <= 0 and w.min() < 0 else 1.0
        old = out.setdefault(proj.receptor_type, sign)
        if old != sign:
            raise errors.ConnectionError(
                "projections onto receptor %r of %r mix positive and negative weights; a "
                "SpiNNaker receptor has one sign" % (proj.receptor_type, population.label))
    return out


def renewal_parameters(celltype_name, parameters, lo, hi, dt):
    """SpikeSourceGamma / SpikeSourcePoissonRefractory parameters of neurons lo..hi
    -> (shape, scale_ticks, dead_ticks, start_ticks, end_ticks) for
    regions_extra.pack_renewal_params."""
    n = hi - lo

    def val(name):
        v = np.asarray(parameters[name], dtype=float)
        return np.broadcast_to(v[lo:hi] if v.ndim else v, (n,)).astype(float)
    if celltype_name == "SpikeSourceGamma":
        alpha, beta = val("alpha"), val("beta")
        if np.any(alpha <= 0) or np.any(beta < 0):
            raise errors.InvalidParameterValueError("SpikeSourceGamma: alpha > 0, beta >= 0")
        shape = alpha
        with np.errstate(divide="ignore"):
            scale = np.where(beta > 0, 1000.0 / beta, np.inf)
        dead = np.zeros(n)
    else:
        rate, tref = val("rate"), val("tau_refrac")
        with np.errstate(divide="ignore"):
            mean = np.where(rate > 0, 1000.0 / rate, np.inf)
        if np.any(mean - tref <= 0):
            raise errors.InvalidParameterValueError(
                "SpikeSourcePoissonRefractory: rate x tau_refrac must be below 1000 ms/s")
        shape, scale, dead = np.ones(n), mean - tref, tref
    start, dur = val("start"), val("duration")
    start_t = np.rint(start / dt).astype(np.int64)
    end = (start + dur) / dt
    end_t = np.where(end >= 0xFFFFFFFE, 0xFFFFFFFF, np.rint(np.minimum(end, 0xFFFFFFFE)))
    return shape, scale / dt, dead / dt, start_t, end_t.astype(np.int64)
