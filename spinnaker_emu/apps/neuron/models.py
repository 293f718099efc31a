"""Neuron models with sPyNNaker's update order and numerics, vectorised over a core.

A model is the composition sPyNNaker builds its binaries from: a synapse shaping
(exponential or alpha), an input type (current or conductance), a neuron model
(LIF closed form or Izhikevich RK2) and a static threshold. One timer tick of
``neuron_impl_standard`` is, per neuron:

  1. the ring-buffer slot for this tick is added to the synaptic state (done by
     the caller through ``step(f, add_exc, add_inh)``);
  2. the synaptic input is read (conductances are shifted down by the global
     weight scale, 1024);
  3. v, gsyn_exc and gsyn_inh are recorded: v *before* the update, so tick 0
     records the initial value;
  4. the input is converted to current and the neuron state is updated (not
     during the refractory period, which only counts down);
  5. v >= threshold -> spike: reset, refractory timer = T_refract;
  6. the synaptic state decays (shaping).

State lives in a dict of float64 arrays ("fields") that always hold values on the
fixed-point grid; the same fields, encoded, are the NEURON_PARAMS region
(regions.py). Derived constants (decays, R = tau_m/cm, refractory ticks) are
computed on the host, as sPyNNaker's Python side does.
"""
import math

import numpy as np

from . import fast
from .fixed import q, q_round

# Field kinds: 's' S16.15 value, 'u' U0.32 fraction, 'i' int32,
# 'w' S16.15 synaptic state in weight-scaled units (x global weight scale).
S, U, I, W = "s", "u", "i", "w"

# exp_tc in U0.32 (sPyNNaker: an accum): at dt = 0.01 ms an S16.15 exp(-dt/tau_m) is
# 2% off, which shifts constant-current firing times by as much
_LIF_FIELDS = [("v", S), ("v_rest", S), ("r_membrane", S), ("exp_tc", U),
               ("i_offset", S), ("v_reset", S), ("v_thresh", S),
               ("t_refract", I), ("refract_timer", I)]
_EXP_SYN_FIELDS = [("exc_decay", U), ("exc_init", U), ("isyn_exc", W),
                   ("inh_decay", U), ("inh_init", U), ("isyn_inh", W)]
_ALPHA_SYN_FIELDS = [("exc_decay", U), ("exc_dt_tau2", S), ("exc_lin", W),
                     ("exc_exp", S), ("exc_q", W),
                     ("inh_decay", U), ("inh_dt_tau2", S), ("inh_lin", W),
                     ("inh_exp", S), ("inh_q", W)]
_COND_FIELDS = [("e_rev_E", S), ("e_rev_I", S)]
_IZH_FIELDS = [("v", S), ("u", S), ("a", S), ("b", S), ("c", S), ("d", S),
               ("i_offset", S), ("v_thresh", S), ("this_h", S), ("dt", S)]

_LIF_DEFAULTS = dict(cm=1.0, tau_m=20.0, tau_refrac=0.1, tau_syn_E=5.0, tau_syn_I=5.0,
                     v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0, i_offset=0.0)

_C004 = float(q_round(0.04))      # REAL_CONST(0.04) as the ARM code holds it
_C185 = float(q_round(1.85))


def _full(n, value):
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).astype(np.float64)


def _vec(x, n):
    """A contiguous float64 vector of n for the compiled loops (one specialisation)."""
    if type(x) is np.ndarray and x.dtype == np.float64 and x.shape == (n,) and \
            x.flags.c_contiguous:
        return x
    return np.ascontiguousarray(np.broadcast_to(np.asarray(x, dtype=np.float64), (n,)))


def _outputs(n):
    return np.empty(n), np.empty(n), np.empty(n), np.empty(n, dtype=np.bool_)


def refract_ticks(tau_refrac, dt):
    """sPyNNaker: T_refract = ceil(tau_refrac / timestep) whole ticks."""
    return np.ceil(np.asarray(tau_refrac, dtype=np.float64) / dt - 1e-9).astype(np.int64)


def exp_synapse_constants(tau, dt):
    """Exact per-tick decay exp(-dt/tau), and the input scaling
    init = tau/dt * (1 - decay) that makes one weight unit deliver the charge
    of a continuous exponential synapse."""
    tau = np.asarray(tau, dtype=np.float64)
    decay = np.exp(-dt / tau)
    return decay, tau / dt * (1.0 - decay)


class NeuronModel:
    """Base: field layout, host-side derivation and the per-tick update."""
    name = None
    model_id = None
    kernel_name = None
    global_weight_scale = 1.0
    fields = []
    defaults = {}
    initial_values = {}
    alpha = False
    conductance = False

    # ---------------- host side ----------------
    def derive(self, n, params=None, state=None, dt=1.0):
        """PyNN parameters + state (scalars or arrays, PyNN names and units) ->
        the dict of field arrays the region holds (state in PyNN units)."""
        p = dict(self.defaults)
        p.update(params or {})
        s = dict(self.initial_values)
        s.update(state or {})
        unknown = set(p) - set(self.defaults)
        if unknown:
            raise ValueError("%s has no parameter(s) %s" % (self.name, sorted(unknown)))
        p = {k: _full(n, v) for k, v in p.items()}
        s = {k: _full(n, v) for k, v in s.items()}
        f = self._derive(n, p, s, dt)
        for syn in ("exc", "inh"):
            tau = p["tau_syn_E" if syn == "exc" else "tau_syn_I"]
            decay, init = exp_synapse_constants(tau, dt)
            f[syn + "_decay"] = decay
            key = "isyn_" + syn
            if self.alpha:
                f[syn + "_dt_tau2"] = dt / (tau * tau)
                # an initial current is lin x exp with exp = 1; at rest both are 0
                f[syn + "_lin"] = s.get(key, np.zeros(n))
                f[syn + "_exp"] = (f[syn + "_lin"] != 0).astype(np.float64)
                f[syn + "_q"] = np.zeros(n)
            else:
                f[syn + "_init"] = init
                f[key] = s.get(key, np.zeros(n))
        return f

    def state_of(self, f):
        """Fields (decoded, PyNN units) -> the PyNN/sPyNNaker state variables."""
        out = {"v": f["v"].copy()}
        for syn in ("exc", "inh"):
            if self.alpha:
                out["isyn_" + syn] = f[syn + "_lin"] * f[syn + "_exp"]
            else:
                out["isyn_" + syn] = f["isyn_" + syn].copy()
        if "refract_timer" in f:
            out["refract_timer"] = f["refract_timer"].copy()
        if "u" in f:
            out["u"] = f["u"].copy()
        return out

    # ---------------- kernel side ----------------
    def add_input(self, f, add_exc, add_inh):
        """Ring-buffer values (weight-scaled units, on the S16.15 grid) -> synapses."""
        if self.alpha:
            for syn, inp in (("exc", add_exc), ("inh", add_inh)):
                m = inp > 0
                if not m.any():
                    continue
                x = inp[m]
                dtt = f[syn + "_dt_tau2"][m]
                f[syn + "_q"][m] = x
                e = q(f[syn + "_exp"][m] * f[syn + "_decay"][m]) + 1.0
                f[syn + "_exp"][m] = e
                lin = f[syn + "_lin"][m] + q(x * dtt)
                f[syn + "_lin"][m] = q(lin * (1.0 - q(1.0 / e)))
        else:
            f["isyn_exc"] += q(add_exc * f["exc_init"])
            f["isyn_inh"] += q(add_inh * f["inh_init"])

    def synaptic_input(self, f):
        if self.alpha:
            ge = q(f["exc_lin"] * f["exc_exp"])
            gi = q(f["inh_lin"] * f["inh_exp"])
        else:
            ge, gi = f["isyn_exc"], f["isyn_inh"]
        if self.global_weight_scale != 1.0:
            # input_type_conductance: value >> 10 undoes the host's x1024
            ge = q(ge / self.global_weight_scale)
            gi = q(gi / self.global_weight_scale)
        return ge, gi

    def shape(self, f):
        if self.alpha:
            for syn in ("exc", "inh"):
                f[syn + "_lin"] = f[syn + "_lin"] + q(f[syn + "_q"] * f[syn + "_dt_tau2"])
                f[syn + "_exp"] = q(f[syn + "_exp"] * f[syn + "_decay"])
        else:
            f["isyn_exc"] = q(f["isyn_exc"] * f["exc_decay"])
            f["isyn_inh"] = q(f["isyn_inh"] * f["inh_decay"])

    def step(self, f, add_exc, add_inh):
        """One timer tick for every neuron. Returns (spiked bool array, v, gsyn_exc,
        gsyn_inh) where the three recorded values are those at the start of the tick.
        Models with a compiled loop (fast.py) run it; it gives the same bits as
        step_numpy, the reference (tests/test_neuron_fast.py)."""
        if self.fast_step is not None:
            n = len(f["v"])
            return self.fast_step(f, _vec(add_exc, n), _vec(add_inh, n))
        return self.step_numpy(f, add_exc, add_inh)

    fast_step = None

    def step_numpy(self, f, add_exc, add_inh):
        """The reference tick, vectorised with numpy."""
        self.add_input(f, add_exc, add_inh)
        ge, gi = self.synaptic_input(f)
        v0 = f["v"].copy()
        if self.conductance:
            exc = q(ge * (f["e_rev_E"] - v0))
            inh = q(gi * (v0 - f["e_rev_I"]))
        else:
            exc, inh = ge, gi
        if self.conductance:
            spiked = self.update_conductance(f, ge, gi)
        else:
            spiked = self.update(f, exc, inh)
        self.shape(f)
        return spiked, v0, ge, gi


class _LIF(NeuronModel):
    defaults = _LIF_DEFAULTS
    initial_values = dict(v=-65.0, isyn_exc=0.0, isyn_inh=0.0)

    def _derive(self, n, p, s, dt):
        f = {"v": s["v"], "v_rest": p["v_rest"], "r_membrane": p["tau_m"] / p["cm"],
             "exp_tc": np.exp(-dt / p["tau_m"]), "i_offset": p["i_offset"],
             "v_reset": p["v_reset"], "v_thresh": p["v_thresh"],
             "t_refract": refract_ticks(p["tau_refrac"], dt).astype(np.float64),
             "refract_timer": s.get("refract_timer", np.zeros(n))}
        if self.conductance:
            f["e_rev_E"] = p["e_rev_E"]
            f["e_rev_I"] = p["e_rev_I"]
        return f

    def update(self, f, exc, inh):
        """neuron_model_lif: closed-form exponential integration over one tick,
        V = alpha - exp(-dt/tau_m) (alpha - V), alpha = I R + V_rest."""
        v = f["v"]
        active = f["refract_timer"] <= 0
        inp = exc - inh + f["i_offset"]
        # MULT_ROUND_NEAREST_ACCUM (sPyNNaker's lif_neuron_closed_form): truncating
        # would bias v upwards by up to 2^-15 mV per tick
        alpha = q_round(inp * f["r_membrane"]) + f["v_rest"]
        v_new = alpha - q_round(f["exp_tc"] * (alpha - v))
        return self._fire(f, active, v_new)

    @staticmethod
    def _fire(f, active, v_new):
        """The rest of a LIF tick: take v_new where not refractory, count refractory
        ticks down, reset and start the refractory period where v reached threshold."""
        v = f["v"]
        f["v"] = v = np.where(active, v_new, v)
        f["refract_timer"] = np.where(active, f["refract_timer"], f["refract_timer"] - 1)
        spiked = v >= f["v_thresh"]
        if spiked.any():
            v[spiked] = f["v_reset"][spiked]
            f["refract_timer"][spiked] = f["t_refract"][spiked]
        return spiked

    def update_conductance(self, f, ge, gi):
        """Conductance input, integrated exactly over the tick with the conductances
        held constant: v relaxes towards v_inf = (v_rest + R (ge E_e + gi E_i + I))
        / (1 + R (ge + gi)) with time constant tau_m / (1 + R (ge + gi)).
        sPyNNaker's explicit form (current g (E - v) frozen at the start of the
        tick) overshoots the reversal potentials once R g >> 1 (seed002: twice
        NEST's rates); this form agrees with NEST's integration."""
        v = f["v"]
        active = f["refract_timer"] <= 0
        r = f["r_membrane"]
        gr = 1.0 + r * (ge + gi)
        v_inf = (f["v_rest"] + r * (ge * f["e_rev_E"] + gi * f["e_rev_I"]
                                    + f["i_offset"])) / gr
        v_new = q(v_inf + (v - v_inf) * np.power(f["exp_tc"], gr))
        return self._fire(f, active, v_new)


class IFCurrExp(_LIF):
    name, model_id, kernel_name = "IF_curr_exp", 1, "if_curr_exp"
    fields = _LIF_FIELDS + _EXP_SYN_FIELDS

    def fast_step(self, f, add_exc, add_inh):
        rv, re, ri, spiked = _outputs(len(f["v"]))
        fast.lif_curr_exp(add_exc, add_inh, f["v"], f["v_rest"], f["r_membrane"],
                          f["exp_tc"], f["i_offset"], f["v_reset"], f["v_thresh"],
                          f["t_refract"], f["refract_timer"], f["exc_init"], f["isyn_exc"],
                          f["exc_decay"], f["inh_init"], f["isyn_inh"], f["inh_decay"],
                          rv, re, ri, spiked)
        return spiked, rv, re, ri


class IFCondExp(_LIF):
    name, model_id, kernel_name = "IF_cond_exp", 2, "if_cond_exp"
    fields = _LIF_FIELDS + _COND_FIELDS + _EXP_SYN_FIELDS
    defaults = dict(_LIF_DEFAULTS, e_rev_E=0.0, e_rev_I=-70.0)
    conductance = True
    # sPyNNaker's InputTypeConductance: weights x1024 on the host, >>10 on the core,
    # so small uS weights keep their resolution in 16 bits.
    global_weight_scale = 1024.0

    def fast_step(self, f, add_exc, add_inh):
        n = len(f["v"])
        rv, re, ri, spiked = _outputs(n)
        gr, v_inf = np.empty(n), np.empty(n)
        fast.lif_cond_exp_a(add_exc, add_inh, self.global_weight_scale, f["v"], f["v_rest"],
                            f["r_membrane"], f["i_offset"], f["e_rev_E"], f["e_rev_I"],
                            f["exc_init"], f["isyn_exc"], f["inh_init"], f["isyn_inh"],
                            rv, re, ri, gr, v_inf)
        # numpy's power, as the reference (its SIMD result differs from libm's)
        decay = np.power(f["exp_tc"], gr)
        fast.lif_cond_exp_b(f["v"], v_inf, decay, f["v_reset"], f["v_thresh"],
                            f["t_refract"], f["refract_timer"], f["isyn_exc"], f["exc_decay"],
                            f["isyn_inh"], f["inh_decay"], spiked)
        return spiked, rv, re, ri


class IFCurrAlpha(_LIF):
    name, model_id, kernel_name = "IF_curr_alpha", 3, "if_curr_alpha"
    fields = _LIF_FIELDS + _ALPHA_SYN_FIELDS
    defaults = dict(_LIF_DEFAULTS, tau_syn_E=0.5, tau_syn_I=0.5)
    alpha = True


class Izhikevich(NeuronModel):
    name, model_id, kernel_name = "Izhikevich", 4, "izhikevich"
    fields = _IZH_FIELDS + _EXP_SYN_FIELDS
    # sPyNNaker's Izhikevich is current based with exponential synapses and a
    # static threshold at 30 mV.
    defaults = dict(a=0.02, b=0.2, c=-65.0, d=2.0, i_offset=0.0,
                    tau_syn_E=5.0, tau_syn_I=5.0, v_thresh=30.0)
    initial_values = dict(v=-70.0, u=-14.0, isyn_exc=0.0, isyn_inh=0.0)

    def _derive(self, n, p, s, dt):
        return {"v": s["v"], "u": s["u"], "a": p["a"], "b": p["b"], "c": p["c"],
                "d": p["d"], "i_offset": p["i_offset"], "v_thresh": p["v_thresh"],
                "this_h": s.get("this_h", _full(n, dt)), "dt": _full(n, dt)}

    def update(self, f, exc, inh):
        """neuron_model_izh: one RK2 midpoint step of length h; the tick after a
        spike uses h = 1.85 dt (sPyNNaker's simple threshold correction)."""
        v, u, a, b, h = f["v"], f["u"], f["a"], f["b"], f["this_h"]
        inp = exc - inh + f["i_offset"]
        pre_alph = 140.0 + inp - u
        alpha = pre_alph + (5.0 + _C004 * v) * v
        eta = v + 0.5 * h * alpha
        beta = 0.5 * h * (b * v - u) * a
        v_new = q(v + h * (pre_alph - beta + (5.0 + _C004 * eta) * eta))
        u_new = q(u + a * h * (-u - beta + b * eta))
        f["v"], f["u"] = v_new, u_new
        f["this_h"] = f["dt"].copy()
        spiked = v_new >= f["v_thresh"]
        if spiked.any():
            v_new[spiked] = f["c"][spiked]
            u_new[spiked] = q(u_new[spiked] + f["d"][spiked])
            f["this_h"][spiked] = q(f["dt"][spiked] * _C185)
        return spiked

    def fast_step(self, f, add_exc, add_inh):
        rv, re, ri, spiked = _outputs(len(f["v"]))
        fast.izhikevich(add_exc, add_inh, f["v"], f["u"], f["a"], f["b"], f["c"], f["d"],
                        f["i_offset"], f["v_thresh"], f["this_h"], f["dt"], f["exc_init"],
                        f["isyn_exc"], f["exc_decay"], f["inh_init"], f["isyn_inh"],
                        f["inh_decay"], _C004, _C185, rv, re, ri, spiked)
        return spiked, rv, re, ri


MODELS = {m.name: m() for m in (IFCurrExp, IFCondExp, IFCurrAlpha, Izhikevich)}
MODELS_BY_ID = {m.model_id: m for m in MODELS.values()}


def get_model(name_or_id):
    if isinstance(name_or_id, int):
        return MODELS_BY_ID[name_or_id]
    return MODELS[name_or_id]


def analytic_lif_first_spike(i_offset, cm=1.0, tau_m=20.0, v_rest=-65.0, v_thresh=-50.0,
                             v0=None):
    """Time (ms) at which a LIF with constant current reaches threshold (inf if never)."""
    v0 = v_rest if v0 is None else v0
    v_inf = v_rest + i_offset * tau_m / cm
    if v_inf <= v_thresh:
        return math.inf
    return tau_m * math.log((v_inf - v0) / (v_inf - v_thresh))
