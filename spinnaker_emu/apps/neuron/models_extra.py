"""Neuron models that sPyNNaker does not provide, integrated in float64 on the core.

IF_cond_alpha, EIF_cond_exp_isfa_ista, EIF_cond_alpha_isfa_ista, HH_cond_exp and
the composed PyNN ``PointNeuron`` (LIF or AdExp with up to four post-synaptic
receptors: current-exponential, conductance-exponential or conductance-alpha).
There is no sPyNNaker C code to follow for these, so the kernels follow NEST's
models (iaf_cond_alpha, aeif_cond_exp/alpha, hh_cond_exp_traub,
aeif_cond_alpha_multisynapse, iaf_psc_exp_multisynapse), which are what PyNN's
other backends run:

- **State in float64** (field kind 'd': two words per neuron in NEURON_PARAMS, low
  then high), not S16.15: the exponential term of the AdEx and the HH gating
  kinetics do not survive 15 fractional bits, and NEST's results are the reference.
- **Synapses exactly**: an exponential receptor decays as g e^(-s/tau); an alpha
  receptor (NEST's two-state form) as g(s) = (g + s dg) e^(-s/tau),
  dg(s) = dg e^(-s/tau). A spike of weight w adds w to g (exponential; peak w) or
  w e/tau to dg (alpha; peak w at t = tau), as NEST does.
- **Membrane (and w, HH gates) by classical RK4** with n_sub fixed sub-steps per tick
  (h = dt / n_sub <= 0.025 ms for the AdEx/LIF, 0.01 ms for HH, and <= tau/4 for
  every time constant, chosen on the host), the conductances at the RK4 stages taken
  from the exact synaptic solution. NEST integrates the same equations with an
  adaptive RKF45 (GSL) inside each step; at these sub-steps the two agree to well
  under the time step in spike times (tests/test_neuron_extra_models.py).
- **Order of a tick** as the other kernels (models.py): ring-buffer slot t added to
  the receptors; v, the conductances (and w) recorded (values at the start of the
  tick); the tick integrated; spikes; the receptors' decay is part of the integration.
- **Spikes and refractoriness as NEST**: AdEx/LIF: after each sub-step
  V >= V_peak (V_th when delta_T = 0) -> spike, V = V_reset, w += b; while
  refractory V is clamped to V_reset (w and the receptors keep evolving) for
  round(tau_refrac / dt) ticks after the spike tick; the RHS uses min(V, V_peak).
  HH: spike when V > V_T + 30 mV and V falls (the step after the peak), 2 ms dead
  time for spike detection only (hh_cond_exp_traub's t_ref), no clamp.
- Weights reach these cores as for IF_cond_exp: x1024 on the host (global weight
  scale), divided back on the core. A current receptor has a sign (+1 depolarising,
  -1 hyperpolarising) set by the host from the sign of the PyNN weights.

Units are PyNN's throughout (mV, nA, uS, nF, ms); the AdEx ``a`` is given in nS
(PyNN) and stored in uS.
"""
import numpy as np

from .models import MODELS, MODELS_BY_ID, NeuronModel

D, I = "d", "i"          # float64 (two rows) / int32
KIND_ALPHA, KIND_COND = 1, 2
H_MAX = {"adex": 0.025, "hh": 0.01}      # ms, largest RK4 sub-step
HH_T_REF = 2.0                           # ms, hh_cond_exp_traub's default t_ref
MAX_SLOTS = 4                            # the synaptic word has 2 type bits


def _full(n, value):
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).astype(np.float64)


def _dfields(*names):
    out = []
    for name in names:
        out += [(name, "dlo"), (name, "dhi")]
    return out


_ADEX = _dfields("v", "w", "cm", "g_leak", "v_rest", "delta_T", "v_thresh", "v_spike",
                 "v_reset", "a", "b", "tau_w", "i_offset")
_HH = _dfields("v", "m", "h", "n", "cm", "g_leak", "e_leak", "g_na", "e_na", "g_k",
               "e_k", "v_offset", "i_offset")
_COMMON = _dfields("dt") + [("t_refract", I), ("refract_timer", I), ("n_sub", I)]


def _slot_fields(k):
    p = "s%d_" % k
    return _dfields(p + "tau", p + "e_rev", p + "sign", p + "g", p + "dg") + [(p + "kind", I)]


def refract_counts(tau_refrac, dt):
    """NEST: Time(ms(t_ref)).get_steps(), the nearest whole number of steps."""
    return np.rint(np.asarray(tau_refrac, dtype=np.float64) / dt + 1e-9)


def n_substeps(dt, h_max, taus):
    """Sub-steps per tick: h <= h_max and h <= tau / 4 for every time constant."""
    tmin = min([float(np.min(t)) for t in taus if np.size(t)] + [np.inf])
    h = min(h_max, tmin / 4.0) if np.isfinite(tmin) else h_max
    return max(1, int(np.ceil(dt / h - 1e-9)))


def _xexp(x, k):
    """x / (exp(x / k) - 1), continuous at x = 0 (= k)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = x / np.expm1(x / k)
    return np.where(np.abs(x) < 1e-9, k, r)


class FloatNeuron(NeuronModel):
    """Common part: receptor slots, derivation helpers, the tick."""
    neuron = "adex"
    n_slots = 2
    global_weight_scale = 1024.0
    float_model = True
    # value channels recorded in REC_V (v) and onwards; see `recordings`
    channels = ("v", "syn0", "syn1")
    extra_channels = ()
    # PyNN names of the conductances of slots 0 and 1 (standard models)
    slot_state_names = ("gsyn_exc", "gsyn_inh")

    @property
    def n_synapse_types(self):
        return self.n_slots

    @property
    def state_fields(self):
        neuron = ("v", "w") if self.neuron == "adex" else ("v", "m", "h", "n")
        return neuron + ("refract_timer",) + tuple(
            "s%d_%s" % (k, x) for k in range(self.n_slots) for x in ("g", "dg"))

    def recordings(self, base):
        """Channel name -> recording region, given the first extra region index
        (regions.N_NEURON_REGIONS): spikes 6, v 7, slot 0 8, slot 1 9, then
        the further channels from ``base``."""
        out = {"spikes": 6, "v": 7}
        rest = list(self.channels[1:])
        for i, name in enumerate(rest[:2]):
            out[name] = 8 + i
        for i, name in enumerate(rest[2:]):
            out[name] = base + i
        for k, pynn in enumerate(self.slot_state_names[:self.n_slots]):
            if pynn and "syn%d" % k in out:
                out[pynn] = out["syn%d" % k]
        return out

    def n_extra_channels(self):
        return max(0, len(self.channels) - 3)

    # ---------------------------------------------------------------- host side
    def derive(self, n, params=None, state=None, dt=1.0):
        p = dict(self.defaults)
        p.update(params or {})
        unknown = set(p) - set(self.defaults)
        if unknown:
            raise ValueError("%s has no parameter(s) %s" % (self.name, sorted(unknown)))
        s = dict(self.initial_values)
        for k, v in (state or {}).items():
            s[self._state_key(k)] = v
        p = {k: _full(n, v) for k, v in p.items()}
        s = {k: _full(n, v) for k, v in s.items() if k is not None}
        f = self._derive_neuron(n, p, s, dt)
        taus = [f[x] for x in ("tau_w",) if x in f and self.neuron == "adex"
                and np.any(f["a"] != 0)]
        for k, sl in enumerate(self._derive_slots(n, p, s)):
            for key, val in sl.items():
                f["s%d_%s" % (k, key)] = _full(n, val)
            if np.any(sl["kind"] != 0) or np.any(sl["sign"] != 0):
                taus.append(f["s%d_tau" % k])
        taus.append(p["tau_m"] if "tau_m" in p else f["cm"] / f["g_leak"])
        f["dt"] = _full(n, dt)
        f["n_sub"] = _full(n, n_substeps(dt, H_MAX[self.neuron], taus))
        f.setdefault("refract_timer", s.get("refract_timer", np.zeros(n)))
        return f

    def _state_key(self, k):
        """PyNN state name -> initial_values key (isyn_* from the loader = gsyn_*)."""
        return {"isyn_exc": "gsyn_exc", "isyn_inh": "gsyn_inh"}.get(k, k)

    def _adex_fields(self, p, s, dt):
        dT = p["delta_T"]
        return {"v": s["v"], "w": s.get("w", np.zeros_like(s["v"])), "cm": p["cm"],
                "g_leak": p["cm"] / p["tau_m"], "v_rest": p["v_rest"], "delta_T": dT,
                "v_thresh": p["v_thresh"],
                # NEST: with delta_T = 0 the spike is at V_th
                "v_spike": np.where(dT > 0, p["v_spike"], p["v_thresh"]),
                "v_reset": p["v_reset"], "a": p["a"] / 1000.0, "b": p["b"],
                "tau_w": p["tau_w"], "i_offset": p["i_offset"],
                "t_refract": refract_counts(p["tau_refrac"], dt)}

    def slot_channel(self, f, k):
        g = f["s%d_g" % k]
        kind = f["s%d_kind" % k]
        return np.where(kind.astype(np.int64) & KIND_COND, g, g * f["s%d_sign" % k])

    def state_of(self, f):
        out = {"v": f["v"].copy(), "refract_timer": f["refract_timer"].copy()}
        for name in ("w", "m", "h", "n"):
            if name in f:
                out[name] = f[name].copy()
        for k in range(self.n_slots):
            out["syn%d" % k] = self.slot_channel(f, k)
            pynn = self.slot_state_names[k] if k < len(self.slot_state_names) else None
            if pynn:
                out[pynn] = out["syn%d" % k]
        if self.n_slots >= 2:
            out["isyn_exc"], out["isyn_inh"] = out["syn0"], out["syn1"]
        return out

    def set_state(self, f, k, v):
        """A PyNN state variable written between runs (repack_neuron_params)."""
        k = self._state_key(k)
        for s, pynn in enumerate(self.slot_state_names):
            if k == pynn or k == "syn%d" % s:
                f["s%d_g" % s], f["s%d_dg" % s] = v, np.zeros_like(v)
                return
        if k in f and k in self.state_fields:
            f[k] = v
            return
        raise ValueError("%s has no state variable %s" % (self.name, k))

    # ---------------------------------------------------------------- kernel side
    def channel_values(self, f):
        out = []
        for c in self.channels:
            if c.startswith("syn"):
                out.append(self.slot_channel(f, int(c[3:])))
            else:
                out.append(f[c].copy())
        return out

    def step_channels(self, f, inputs):
        """One tick. inputs: ring-buffer values (n_types x n, weight-scaled units).
        Returns (spiked, [channel values at the start of the tick])."""
        gws = self.global_weight_scale
        for k in range(min(self.n_slots, len(inputs))):
            x = inputs[k]
            if not x.any():
                continue
            x = x / gws
            kind = f["s%d_kind" % k].astype(np.int64)
            alpha = (kind & KIND_ALPHA) != 0
            tau = f["s%d_tau" % k]
            f["s%d_dg" % k] = f["s%d_dg" % k] + np.where(alpha, x * np.e / tau, 0.0)
            f["s%d_g" % k] = f["s%d_g" % k] + np.where(alpha, 0.0, x)
        rec = self.channel_values(f)
        spiked = self.integrate(f)
        return spiked, rec

    def step(self, f, add_exc, add_inh):
        """The two-receptor interface of models.NeuronModel."""
        spiked, rec = self.step_channels(f, np.vstack([add_exc, add_inh]))
        return spiked, rec[0], rec[1], rec[2]

    def _syn_stages(self, f, h):
        """Per slot: conductance (signed current for current receptors, as
        (g, is_cond, e_rev, sign)) at s = 0, h/2, h, and the state after h."""
        stages = []
        for k in range(self.n_slots):
            p = "s%d_" % k
            g, dg, tau = f[p + "g"], f[p + "dg"], f[p + "tau"]
            kind = f[p + "kind"].astype(np.int64)
            alpha = (kind & KIND_ALPHA) != 0
            e1, e2 = np.exp(-0.5 * h / tau), np.exp(-h / tau)
            g_half = np.where(alpha, (g + 0.5 * h * dg) * e1, g * e1)
            g_end = np.where(alpha, (g + h * dg) * e2, g * e2)
            stages.append((g, g_half, g_end, dg * e2, (kind & KIND_COND) != 0,
                           f[p + "e_rev"], f[p + "sign"]))
        return stages

    def _i_syn(self, stages, which, v):
        """Total synaptic current *out of* the cell (NEST's I_syn sign convention)."""
        total = 0.0
        for st in stages:
            g, cond, e, sign = st[which], st[4], st[5], st[6]
            total = total + np.where(cond, g * (v - e), -sign * g)
        return total

    def integrate(self, f):
        nsub = int(f["n_sub"].max()) if len(f["n_sub"]) else 1
        h = float(f["dt"][0]) / nsub
        if self.neuron == "hh":
            return self._integrate_hh(f, nsub, h)
        return self._integrate_adex(f, nsub, h)

    # AdEx (LIF when delta_T = a = b = 0): NEST aeif_cond_* / iaf_cond_alpha
    def _integrate_adex(self, f, nsub, h):
        n = len(f["v"])
        spiked = np.zeros(n, dtype=bool)
        cm, gl, el, dT = f["cm"], f["g_leak"], f["v_rest"], f["delta_T"]
        vt, vpk, vr, a, b, tw = (f["v_thresh"], f["v_spike"], f["v_reset"], f["a"], f["b"],
                                 f["tau_w"])
        ie = f["i_offset"]
        has_exp = dT > 0
        dts = np.where(has_exp, dT, 1.0)
        timer = f["refract_timer"]
        v, w = f["v"], f["w"]
        for _ in range(nsub):
            stages = self._syn_stages(f, h)
            refr = timer > 0

            def rhs(vv, ww, which):
                V = np.where(refr, vr, np.minimum(vv, vpk))
                i_spike = np.where(has_exp, gl * dT * np.exp(np.minimum(
                    (V - vt) / dts, 700.0)), 0.0)
                dv = (-gl * (V - el) + i_spike - self._i_syn(stages, which, V) - ww + ie) / cm
                return np.where(refr, 0.0, dv), (a * (V - el) - ww) / tw

            k1v, k1w = rhs(v, w, 0)
            k2v, k2w = rhs(v + 0.5 * h * k1v, w + 0.5 * h * k1w, 1)
            k3v, k3w = rhs(v + 0.5 * h * k2v, w + 0.5 * h * k2w, 1)
            k4v, k4w = rhs(v + h * k3v, w + h * k3w, 2)
            v = v + h / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
            w = w + h / 6.0 * (k1w + 2.0 * k2w + 2.0 * k3w + k4w)
            for k, st in enumerate(stages):
                f["s%d_g" % k], f["s%d_dg" % k] = st[2], st[3]
            v = np.where(refr, vr, v)
            fire = ~refr & (v >= vpk)
            if fire.any():
                v = np.where(fire, vr, v)
                w = np.where(fire, w + b, w)
                t_ref = f["t_refract"]
                timer = np.where(fire, np.where(t_ref > 0, t_ref + 1, 0), timer)
                spiked |= fire
        f["v"], f["w"] = v, w
        f["refract_timer"] = np.maximum(timer - 1, 0)
        return spiked

    # Hodgkin-Huxley, Traub & Miles kinetics: NEST hh_cond_exp_traub
    def _integrate_hh(self, f, nsub, h):
        cm, gl, el = f["cm"], f["g_leak"], f["e_leak"]
        gna, ena, gk, ek, vt, ie = (f["g_na"], f["e_na"], f["g_k"], f["e_k"], f["v_offset"],
                                    f["i_offset"])
        v, m, hh, nn = f["v"], f["m"], f["h"], f["n"]
        v_old = v.copy()
        for _ in range(nsub):
            stages = self._syn_stages(f, h)

            def rhs(V, M, H, N, which):
                vr = V - vt
                alpha_n = 0.032 * _xexp(15.0 - vr, 5.0)
                beta_n = 0.5 * np.exp((10.0 - vr) / 40.0)
                alpha_m = 0.32 * _xexp(13.0 - vr, 4.0)
                beta_m = 0.28 * _xexp(vr - 40.0, 5.0)
                alpha_h = 0.128 * np.exp((17.0 - vr) / 18.0)
                beta_h = 4.0 / (1.0 + np.exp((40.0 - vr) / 5.0))
                i_na = gna * M * M * M * H * (V - ena)
                i_k = gk * N * N * N * N * (V - ek)
                i_l = gl * (V - el)
                dv = (-i_na - i_k - i_l - self._i_syn(stages, which, V) + ie) / cm
                return (dv, alpha_m - (alpha_m + beta_m) * M, alpha_h - (alpha_h + beta_h) * H,
                        alpha_n - (alpha_n + beta_n) * N)

            y = (v, m, hh, nn)
            k1 = rhs(*y, 0)
            k2 = rhs(*[a + 0.5 * h * d for a, d in zip(y, k1)], 1)
            k3 = rhs(*[a + 0.5 * h * d for a, d in zip(y, k2)], 1)
            k4 = rhs(*[a + h * d for a, d in zip(y, k3)], 2)
            v, m, hh, nn = (a + h / 6.0 * (d1 + 2.0 * d2 + 2.0 * d3 + d4)
                            for a, d1, d2, d3, d4 in zip(y, k1, k2, k3, k4))
            for k, st in enumerate(stages):
                f["s%d_g" % k], f["s%d_dg" % k] = st[2], st[3]
        f["v"], f["m"], f["h"], f["n"] = v, m, hh, nn
        timer = f["refract_timer"]
        free = timer <= 0
        spiked = free & (v >= vt + 30.0) & (v_old > v)
        f["refract_timer"] = np.where(free, np.where(spiked, f["t_refract"], 0), timer - 1)
        return spiked


def _cond_slots(p, s, alpha):
    kind = KIND_COND | (KIND_ALPHA if alpha else 0)
    return [{"tau": p["tau_syn_E"], "e_rev": p["e_rev_E"], "sign": 1.0, "kind": kind,
             "g": s.get("gsyn_exc", 0.0), "dg": 0.0},
            {"tau": p["tau_syn_I"], "e_rev": p["e_rev_I"], "sign": 1.0, "kind": kind,
             "g": s.get("gsyn_inh", 0.0), "dg": 0.0}]


class IFCondAlpha(FloatNeuron):
    """LIF with alpha conductances (NEST iaf_cond_alpha; the AdEx integrator with
    delta_T = a = b = 0)."""
    name, model_id, kernel_name = "IF_cond_alpha", 10, "if_cond_alpha"
    fields = _ADEX + _COMMON + _slot_fields(0) + _slot_fields(1)
    defaults = dict(v_rest=-65.0, cm=1.0, tau_m=20.0, tau_refrac=0.1, tau_syn_E=0.3,
                    tau_syn_I=0.5, e_rev_E=0.0, e_rev_I=-70.0, v_thresh=-50.0,
                    v_reset=-65.0, i_offset=0.0)
    initial_values = dict(v=-65.0, gsyn_exc=0.0, gsyn_inh=0.0)

    def _derive_neuron(self, n, p, s, dt):
        q = dict(p, delta_T=np.zeros(n), a=np.zeros(n), b=np.zeros(n), tau_w=np.ones(n),
                 v_spike=p["v_thresh"])
        return self._adex_fields(q, s, dt)

    def _derive_slots(self, n, p, s):
        return _cond_slots(p, s, alpha=True)


_EIF_DEFAULTS = dict(cm=0.281, tau_refrac=0.1, v_spike=-40.0, v_reset=-70.6, v_rest=-70.6,
                     tau_m=9.3667, i_offset=0.0, a=4.0, b=0.0805, delta_T=2.0, tau_w=144.0,
                     v_thresh=-50.4, e_rev_E=0.0, tau_syn_E=5.0, e_rev_I=-80.0,
                     tau_syn_I=5.0)


class EIFCondExpIsfaIsta(FloatNeuron):
    """Adaptive exponential IF (Brette & Gerstner 2005), exponential conductances
    (NEST aeif_cond_exp)."""
    name, model_id, kernel_name = "EIF_cond_exp_isfa_ista", 11, "eif_cond_exp"
    fields = _ADEX + _COMMON + _slot_fields(0) + _slot_fields(1)
    defaults = dict(_EIF_DEFAULTS)
    initial_values = dict(v=-70.6, w=0.0, gsyn_exc=0.0, gsyn_inh=0.0)
    channels = ("v", "syn0", "syn1", "w")
    alpha_slots = False

    def _derive_neuron(self, n, p, s, dt):
        return self._adex_fields(p, s, dt)

    def _derive_slots(self, n, p, s):
        return _cond_slots(p, s, alpha=self.alpha_slots)


class EIFCondAlphaIsfaIsta(EIFCondExpIsfaIsta):
    """Adaptive exponential IF, alpha conductances (NEST aeif_cond_alpha)."""
    name, model_id, kernel_name = "EIF_cond_alpha_isfa_ista", 12, "eif_cond_alpha"
    alpha_slots = True


class HHCondExp(FloatNeuron):
    """Hodgkin-Huxley with Traub & Miles kinetics, exponential conductances
    (NEST hh_cond_exp_traub)."""
    name, model_id, kernel_name = "HH_cond_exp", 13, "hh_cond_exp"
    neuron = "hh"
    fields = _HH + _COMMON + _slot_fields(0) + _slot_fields(1)
    defaults = dict(gbar_Na=20.0, gbar_K=6.0, g_leak=0.01, cm=0.2, v_offset=-63.0,
                    e_rev_Na=50.0, e_rev_K=-90.0, e_rev_leak=-65.0, e_rev_E=0.0,
                    e_rev_I=-80.0, tau_syn_E=0.2, tau_syn_I=2.0, i_offset=0.0)
    initial_values = dict(v=-65.0, gsyn_exc=0.0, gsyn_inh=0.0, h=1.0, m=0.0, n=0.0)
    channels = ("v", "syn0", "syn1", "m", "h", "n")

    def _derive_neuron(self, n, p, s, dt):
        return {"v": s["v"], "m": s["m"], "h": s["h"], "n": s["n"], "cm": p["cm"],
                "g_leak": p["g_leak"], "e_leak": p["e_rev_leak"], "g_na": p["gbar_Na"],
                "e_na": p["e_rev_Na"], "g_k": p["gbar_K"], "e_k": p["e_rev_K"],
                "v_offset": p["v_offset"], "i_offset": p["i_offset"],
                "t_refract": refract_counts(_full(n, HH_T_REF), dt)}

    def _derive_slots(self, n, p, s):
        return _cond_slots(p, s, alpha=False)


class PointNeuronModel(FloatNeuron):
    """PyNN's composed PointNeuron: an AdEx (a LIF is an AdEx with delta_T = a = b = 0)
    with up to four receptor slots; the host (pynn/extra_cells.py) maps the PyNN
    receptors (sorted by name) onto the slots s0..s3 with their kind bits
    (1 alpha, 2 conductance), tau, e_rev and sign. Unused slots are current
    slots nothing projects onto."""
    name, model_id, kernel_name = "PointNeuron", 14, "point_neuron"
    n_slots = MAX_SLOTS
    fields = _ADEX + _COMMON + [x for k in range(MAX_SLOTS) for x in _slot_fields(k)]
    defaults = dict({k: v for k, v in _EIF_DEFAULTS.items() if not k.endswith(("_E", "_I"))},
                    **{"s%d_%s" % (k, x): d for k in range(MAX_SLOTS)
                       for x, d in (("tau", 5.0), ("e_rev", 0.0), ("kind", 0), ("sign", 1.0))})
    initial_values = dict(v=-70.6, w=0.0, **{"s%d_g" % k: 0.0 for k in range(MAX_SLOTS)})
    channels = ("v", "syn0", "syn1", "syn2", "syn3", "w")
    slot_state_names = ()

    def _derive_neuron(self, n, p, s, dt):
        return self._adex_fields(p, s, dt)

    def _derive_slots(self, n, p, s):
        return [{"tau": p["s%d_tau" % k], "e_rev": p["s%d_e_rev" % k],
                 "sign": p["s%d_sign" % k], "kind": p["s%d_kind" % k],
                 "g": s.get("s%d_g" % k, 0.0), "dg": 0.0} for k in range(MAX_SLOTS)]

    def _state_key(self, k):
        return k

    def set_state(self, f, k, v):
        k = {"isyn_exc": "s0_g", "isyn_inh": "s1_g", "syn0": "s0_g", "syn1": "s1_g",
             "syn2": "s2_g", "syn3": "s3_g"}.get(k, k)
        if k.startswith("s") and k.endswith("_g") and k[1:-2].isdigit():
            f[k], f[k[:-1] + "dg"] = v, np.zeros_like(v)
            return
        super().set_state(f, k, v)


EXTRA_MODELS = {m.name: m() for m in (IFCondAlpha, EIFCondExpIsfaIsta, EIFCondAlphaIsfaIsta,
                                      HHCondExp, PointNeuronModel)}
MODELS.update(EXTRA_MODELS)
MODELS_BY_ID.update({m.model_id: m for m in EXTRA_MODELS.values()})
