"""Compiled (numba) per-tick loops of the neuron cores: ring-buffer slot -> inputs,
the neuron updates of IF_curr_exp, IF_cond_exp and Izhikevich, the master population
table lookup and static synaptic rows into the ring buffer, the delay extension's
re-emission and the Poisson sources' spikes.

They replace numpy expressions that cost more in per-call overhead than in
arithmetic on a core's few hundred neurons (docs/PERFORMANCE.md has the profile).
Each loop performs, per neuron, the same float64 operations in the same order as
the numpy reference (models.py: NeuronModel.step_numpy, synapses.py), so results
are identical to the last bit, not merely close: no fastmath (no reassociation, no
fused multiply-add), and no transcendental functions here, because numpy's SIMD
exp/power (SVML on AVX-512) differ from libm's in the last bit (about 5 % of
arguments on this machine) and the S16.15 truncation can turn such a bit into a
different spike. IF_cond_exp's power is therefore computed by numpy between two
compiled halves.

All the numba code of the neuron apps lives in this one module: numba's on-disk
cache (cache=True) is keyed on the source file of each function, so a compiled
function calling an njit function of another module would keep a stale copy of it
(see board/arm/__init__.py). The only constants taken from elsewhere are the
S16.15 format's (fixed.py), frozen into the cache when compiled.
"""
import math

import numpy as np
from numba import njit

from .fixed import S1615_ONE

_S = float(S1615_ONE)
_MIN = -(2.0 ** 31) / _S           # the accum range, as fixed.q clips
_MAX = (2.0 ** 31 - 1) / _S
_I32MIN = -(2.0 ** 31)
_I32MAX = 2.0 ** 31 - 1


@njit(cache=True, inline="always")
def _q(x):
    """fixed.q: S16.15 grid, truncated towards -inf, saturating."""
    y = math.floor(x * _S) / _S
    if y < _MIN:
        return _MIN
    if y > _MAX:
        return _MAX
    return y


@njit(cache=True, inline="always")
def _q_round(x):
    """fixed.q_round: S16.15 grid, round half to even, saturating (clip before the divide)."""
    y = np.rint(x * _S)
    if y < _I32MIN:
        y = _I32MIN
    elif y > _I32MAX:
        y = _I32MAX
    return y / _S


# ------------------------------------------------------------------ ring buffer
@njit(cache=True)
def take_slot(ring, slot, nt, n, to_input, out):
    """SynapseProcessor.take: slot's nt x n entries, saturated at 0xFFFF, shifted into
    S16.15 values (out), then cleared. Returns the number of saturated entries."""
    sat = 0
    base = slot * nt * n
    for s in range(nt):
        scale = to_input[s]
        for i in range(n):
            k = base + s * n + i
            raw = ring[k]
            if raw > 0xFFFF:
                sat += 1
                raw = 0xFFFF
            out[s, i] = raw * scale
            ring[k] = 0
    return sat


# ------------------------------------------------------------------ neuron models
@njit(cache=True, inline="always")
def _fire(i, vi, v, v_thresh, v_reset, t_refract, refract_timer, spiked):
    """A LIF neuron's new membrane voltage ``vi``: threshold, reset and the start of
    its refractory period, stored in ``v``; True if it fired."""
    fired = vi >= v_thresh[i]
    if fired:
        vi = v_reset[i]
        refract_timer[i] = t_refract[i]
    spiked[i] = fired
    v[i] = vi
    return fired


@njit(cache=True)
def lif_curr_exp(inp_e, inp_i, v, v_rest, r_membrane, exp_tc, i_offset, v_reset,
                 v_thresh, t_refract, refract_timer, exc_init, isyn_exc, exc_decay,
                 inh_init, isyn_inh, inh_decay, rec_v, rec_ge, rec_gi, spiked):
    """NeuronModel.step for IF_curr_exp (models.py), in place; rec_* get the values at
    the start of the tick, spiked the threshold crossings. Returns the spike count."""
    count = 0
    for i in range(v.size):
        ge = isyn_exc[i] + _q(inp_e[i] * exc_init[i])
        gi = isyn_inh[i] + _q(inp_i[i] * inh_init[i])
        v0 = v[i]
        rec_v[i] = v0
        rec_ge[i] = ge
        rec_gi[i] = gi
        vi = v0
        if refract_timer[i] <= 0:
            inp = ge - gi + i_offset[i]
            alpha = _q_round(inp * r_membrane[i]) + v_rest[i]
            vi = alpha - _q_round(exp_tc[i] * (alpha - v0))
        else:
            refract_timer[i] = refract_timer[i] - 1
        if _fire(i, vi, v, v_thresh, v_reset, t_refract, refract_timer, spiked):
            count += 1
        isyn_exc[i] = _q(ge * exc_decay[i])
        isyn_inh[i] = _q(gi * inh_decay[i])
    return count


@njit(cache=True)
def lif_cond_exp_a(inp_e, inp_i, gws, v, v_rest, r_membrane, i_offset, e_rev_E, e_rev_I,
                   exc_init, isyn_exc, inh_init, isyn_inh, rec_v, rec_ge, rec_gi, gr, v_inf):
    """First half of NeuronModel.step for IF_cond_exp: the input, the conductances
    (shifted down by the global weight scale), gr = 1 + R (g_e + g_i) and v_inf. The
    caller computes exp_tc ** gr with numpy (see the module's docstring)."""
    for i in range(v.size):
        se = isyn_exc[i] + _q(inp_e[i] * exc_init[i])
        si = isyn_inh[i] + _q(inp_i[i] * inh_init[i])
        isyn_exc[i] = se
        isyn_inh[i] = si
        ge = _q(se / gws)
        gi = _q(si / gws)
        rec_v[i] = v[i]
        rec_ge[i] = ge
        rec_gi[i] = gi
        r = r_membrane[i]
        g = 1.0 + r * (ge + gi)
        gr[i] = g
        v_inf[i] = (v_rest[i] + r * (ge * e_rev_E[i] + gi * e_rev_I[i] + i_offset[i])) / g


@njit(cache=True)
def lif_cond_exp_b(v, v_inf, decay_gr, v_reset, v_thresh, t_refract, refract_timer,
                   isyn_exc, exc_decay, isyn_inh, inh_decay, spiked):
    """Second half: v relaxes towards v_inf by decay_gr = exp_tc ** gr; threshold,
    reset, refractory count-down; the synapses decay. Returns the spike count."""
    count = 0
    for i in range(v.size):
        vi = v[i]
        if refract_timer[i] <= 0:
            vi = _q(v_inf[i] + (vi - v_inf[i]) * decay_gr[i])
        else:
            refract_timer[i] = refract_timer[i] - 1
        if _fire(i, vi, v, v_thresh, v_reset, t_refract, refract_timer, spiked):
            count += 1
        isyn_exc[i] = _q(isyn_exc[i] * exc_decay[i])
        isyn_inh[i] = _q(isyn_inh[i] * inh_decay[i])
    return count


@njit(cache=True)
def izhikevich(inp_e, inp_i, v, u, a, b, c, d, i_offset, v_thresh, this_h, dt,
               exc_init, isyn_exc, exc_decay, inh_init, isyn_inh, inh_decay,
               c004, c185, rec_v, rec_ge, rec_gi, spiked):
    """NeuronModel.step for Izhikevich (models.py: one RK2 midpoint step of length h,
    h = 1.85 dt after a spike), term by term in the reference's order."""
    count = 0
    for i in range(v.size):
        ge = isyn_exc[i] + _q(inp_e[i] * exc_init[i])
        gi = isyn_inh[i] + _q(inp_i[i] * inh_init[i])
        vi = v[i]
        ui = u[i]
        h = this_h[i]
        rec_v[i] = vi
        rec_ge[i] = ge
        rec_gi[i] = gi
        inp = ge - gi + i_offset[i]
        pre_alph = 140.0 + inp - ui
        alpha = pre_alph + (5.0 + c004 * vi) * vi
        eta = vi + 0.5 * h * alpha
        beta = 0.5 * h * (b[i] * vi - ui) * a[i]
        v_new = _q(vi + h * (pre_alph - beta + (5.0 + c004 * eta) * eta))
        u_new = _q(ui + a[i] * h * (-ui - beta + b[i] * eta))
        this_h[i] = dt[i]
        if v_new >= v_thresh[i]:
            v_new = c[i]
            u_new = _q(u_new + d[i])
            this_h[i] = _q(dt[i] * c185)
            spiked[i] = True
            count += 1
        else:
            spiked[i] = False
        v[i] = v_new
        u[i] = u_new
        isyn_exc[i] = _q(ge * exc_decay[i])
        isyn_inh[i] = _q(gi * inh_decay[i])
    return count


# ------------------------------------------------------------------ delay extension
@njit(cache=True)
def delay_tick(counts, masks, t, stage_offsets, ring, base, nbits, out):
    """DelayExtension.tick: the keys to send in tick t (stage by stage, neuron by
    neuron, each repeated by its count) into out (grown by the caller when the
    return value, the number of keys, exceeds it); frees the last stage's slot."""
    m = 0
    n = counts.shape[1]
    for s in range(stage_offsets.size):
        src = t - stage_offsets[s]
        if src < 0:
            continue
        row = src % ring
        for i in range(n):
            k = counts[row, i]
            if k and masks[s, i]:
                key = base | (s << nbits) | i
                for _ in range(k):
                    if m < out.size:
                        out[m] = key
                    m += 1
    last = (t - stage_offsets[stage_offsets.size - 1]) % ring + ring  # Python % sign rule
    if m <= out.size:
        counts[last % ring, :] = 0
    return m


# ------------------------------------------------------------------ spike sources
@njit(cache=True)
def poisson_spikes(counts, start, end, t, out):
    """Poisson.tick + np.repeat(flatnonzero(counts), counts): the neurons active at t
    (start <= t < end), each as many times as its count, in neuron order, into out
    (sized for the worst case by the caller). Returns how many."""
    m = 0
    for i in range(counts.size):
        k = counts[i]
        if k and start[i] <= t < end[i]:
            for _ in range(k):
                out[m] = i
                m += 1
    return m


@njit(cache=True)
def receive_static(keys, ticks, bkey, bmask, bnrows, bnbits, bnsrc, bbase, row_ptr, delay,
                   stype, post, w16, next_tick, ring, ring_slots, nt, n, matched, out):
    """The master population table lookup and the static rows of a batch of keys
    (SynapseProcessor.receive for its static blocks): every block whose key matches
    (key & mask == block key) contributes its row (key & ~mask, or stage * n_src +
    neuron for delay-extension keys; rows past the block are counted invalid) to the
    ring buffer. The blocks' rows are concatenated: block b's
    row r is row bbase[b] + r of row_ptr. A synapse lands in slot (tick + delay) %
    ring_slots, a late one (before next_tick) in the earliest slot still to come.
    matched[j] is set for keys some block took; out[0..2] += events, late, invalid
    rows."""
    events = 0
    late = 0
    invalid = 0
    for j in range(keys.size):
        k = keys[j]
        t = ticks[j]
        for b in range(bkey.size):
            m = bmask[b]
            if (k & m) != bkey[b]:
                continue
            matched[j] = True
            idx = k & (~m & 0xFFFFFFFF)
            nb = bnbits[b]
            if nb:
                idx = (idx >> nb) * bnsrc[b] + (idx & ((1 << nb) - 1))
            if idx >= bnrows[b]:
                invalid += 1
                continue
            r = bbase[b] + idx
            for s in range(row_ptr[r], row_ptr[r + 1]):
                at = t + delay[s]
                if at < next_tick:
                    late += 1
                    at = next_tick
                ring[((at % ring_slots) * nt + stype[s]) * n + post[s]] += w16[s]
                events += 1
    out[0] += events
    out[1] += late
    out[2] += invalid
