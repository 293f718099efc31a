"""Synaptic processing on a neuron core: master population table lookup, row
expansion into the input ring buffer, and pair-based STDP — vectorised.

The core reads its MASTER_POP and SYNAPTIC_MATRIX regions once at start (as
sPyNNaker DMAs rows, but cached: the rows of static synapses never change) and
keeps each block as flat arrays in row order (CSR). A batch of received keys is
looked up per pop-table entry with one vectorised mask compare, and all the
synapses of all matched rows are added to the ring buffer with one bincount.

Ring buffer: uint16 entries per (delay slot, synapse type, neuron) that saturate
at 0xFFFF, as sPyNNaker's; at tick t slot t % 16 is shifted left by the synapse
type's ring-buffer shift into S16.15 and cleared.

Plastic rows are processed one received spike at a time (the update of a row
depends on the previous one), vectorised across the synapses of the row.
"""
import numpy as np

from . import fast
from .regions import (FLAG_PLASTIC, FLAG_STOCHASTIC, FLAG_STP, N_SYNAPSE_TYPES,
                      PLASTIC_ROW_HEADER, POP_ENTRY_WORDS, POST_HISTORY, RING_SLOTS,
                      RULE_SHIFT, STATIC_ROW_HEADER, STP_FIELDS, STP_ROW_HEADER,
                      decode_synaptic_words, encode_synaptic_words, weight_scale)
from .fixed import from_s1615, from_u032, to_s1615

STDP_FIXED = 11                  # sPyNNaker's STDP traces: 16-bit, 11 fractional bits
STDP_ONE = 1 << STDP_FIXED


def decay_lut(tau, dt=1.0):
    """exp(-k dt/tau) for k = 0, 1, ... ticks in STDP fixed point, down to 0 (the host
    computes these tables for sPyNNaker's cores, indexed by time step: tau and dt in
    ms). Integer arithmetic from here on keeps the result independent of numpy's SIMD
    paths."""
    tau_ticks = tau / dt
    n = int(np.ceil(tau_ticks * np.log(STDP_ONE) + 2))
    lut = np.round(np.exp(-np.arange(n) / tau_ticks) * STDP_ONE).astype(np.int64)
    return np.append(lut, 0)


def _decay(trace, dt, lut):
    """trace (STDP fixed) decayed over dt ticks: (trace x lut[dt]) >> 11."""
    return (np.asarray(trace, dtype=np.int64) * lut[np.minimum(dt, len(lut) - 1)]) >> STDP_FIXED


class Block:
    """One master-population-table entry and its rows, flattened."""

    def __init__(self, entry, matrix_words):
        (self.key, self.mask, self.offset, self.n_rows, self.stride, self.neuron_bits,
         self.n_src, flags) = (int(x) for x in entry)
        self.plastic = bool(flags & FLAG_PLASTIC)
        self.stp = bool(flags & FLAG_STP)
        self.stochastic = bool(flags & FLAG_STOCHASTIC)
        self.rule = (flags >> RULE_SHIFT) & 0xFF
        self.static_compiled = False      # set by SynapseProcessor._compiled_tables
        self.head = (STP_ROW_HEADER if self.stp else PLASTIC_ROW_HEADER if self.plastic
                     else STATIC_ROW_HEADER)
        n_cols = 1 + (len(STP_FIELDS) if self.stp else 1 if self.stochastic else 0)
        self.m = (self.stride - self.head) // n_cols      # longest row
        words = np.array(matrix_words[self.offset:self.offset + self.n_rows * self.stride],
                         dtype=np.uint32).reshape(self.n_rows, self.stride)
        counts = words[:, 0].astype(np.int64)
        self.valid = np.arange(self.m)[None, :] < counts[:, None]
        self.row_ptr = np.concatenate([[0], np.cumsum(counts)])

        def column(k):
            return words[:, self.head + k * self.m:self.head + (k + 1) * self.m][self.valid]
        self.post, self.type, self.delay, self.w16 = decode_synaptic_words(column(0))
        self.w16 = self.w16.astype(np.int64)
        if self.stp:
            self.last_t = words[:, 1].astype(np.int64)
            self.stp_state = {name: column(k + 1).view("<f4").astype(np.float64)
                              for k, name in enumerate(STP_FIELDS)}
        if self.stochastic:
            self.p = from_u032(column(1))
        if self.plastic:
            self.last_t = words[:, 1].astype(np.int64)
            # the pre trace (STDP fixed point) kept as S16.15 in the row header
            self.last_tr = np.round(from_s1615(words[:, 2].view(np.int32)) * STDP_ONE).astype(
                np.int64)

    def rows_of(self, keys):
        idx = keys & ~np.uint32(self.mask)
        idx = idx.astype(np.int64)
        if self.neuron_bits:
            idx = (idx >> self.neuron_bits) * self.n_src + (idx & ((1 << self.neuron_bits) - 1))
        return idx

    def words(self):
        """The block as the core leaves it (plastic weights and row headers updated)."""
        block = np.zeros((self.n_rows, self.stride), dtype=np.uint32)
        block[:, 0] = np.diff(self.row_ptr)
        if self.plastic:
            block[:, 1] = self.last_t
            block[:, 2] = to_s1615(self.last_tr / STDP_ONE).view(np.uint32)
        block[:, self.head:][self.valid] = encode_synaptic_words(
            self.post, self.type, self.delay, self.w16)
        return block


class PairSTDP:
    """SpikePairRule with additive or multiplicative weight dependence, in
    sPyNNaker's deferred form: a plastic row is updated when its presynaptic
    spike arrives, against the post-synaptic spike history.

    All the delay is dendritic (sPyNNaker): a post spike at tp is seen by the
    synapse at tp + d. For a pre spike at t after one at t_last, with pre trace
    x (after t_last) and delay d, each post event with t_last - d < tp <= t - d
    potentiates by A+ x exp(-(tp + d - t_last)/tau+), then the newest post event
    with tp <= t - d (post trace y) depresses by A- y exp(-(t - tp - d)/tau-).
    Additive: w += A+ sum(...) (capped at w_max), w -= A- (...) (floored at w_min),
    in weight units. Multiplicative: w += (w_max - w) A+ (...) per event,
    w -= (w - w_min) A- (...). Traces add 1 per spike and decay exponentially."""

    def __init__(self, params, n_neurons, weight_scales, dt=1.0):
        self.p = params
        self.additive = params.rule == "additive"
        self.wscale = np.asarray(weight_scales, dtype=np.float64)
        # tau_plus / tau_minus are in ms, the spike times in ticks of dt ms
        self.lut_plus = decay_lut(params.tau_plus, dt)
        self.lut_minus = decay_lut(params.tau_minus, dt)
        self.times = np.zeros((n_neurons, POST_HISTORY), dtype=np.int64)
        self.traces = np.zeros((n_neurons, POST_HISTORY), dtype=np.int64)
        self.count = np.ones(n_neurons, dtype=np.int64)    # the (0, 0) start event

    def post_spikes(self, t, idx):
        if idx.size == 0:
            return
        last = self.count[idx] - 1
        new = _decay(self.traces[idx, last], t - self.times[idx, last], self.lut_minus) + STDP_ONE
        full = self.count[idx] >= POST_HISTORY
        if full.any():
            f = idx[full]
            self.times[f, :-1] = self.times[f, 1:]
            self.traces[f, :-1] = self.traces[f, 1:]
        pos = np.where(full, POST_HISTORY - 1, self.count[idx])
        self.times[idx, pos] = t
        self.traces[idx, pos] = new
        self.count[idx] = np.minimum(self.count[idx] + 1, POST_HISTORY)

    def pre_trace(self, t, last_t, last_tr):
        return int(_decay(last_tr, t - last_t, self.lut_plus)) + STDP_ONE

    def update_row(self, t, last_t, last_tr, post, delay, w16, stype):
        p = self.p
        ws = self.wscale[stype]
        w = w16 / ws
        T, TR = self.times[post], self.traces[post]
        valid = np.arange(POST_HISTORY)[None, :] < self.count[post][:, None]
        d = delay[:, None]
        begin = np.maximum(last_t - d, 0)
        end = np.maximum(t - d, 0)
        dt_pot = T + d - last_t
        in_win = valid & (T > begin) & (T <= end) & (dt_pot > 0)
        pot = np.where(in_win, _decay(last_tr, np.maximum(dt_pot, 0), self.lut_plus), 0)
        before = valid & (T <= end)
        has = before.any(axis=1)
        last = POST_HISTORY - 1 - np.argmax(before[:, ::-1], axis=1)
        rows = np.arange(len(post))
        dt_dep = np.maximum(t - (T[rows, last] + delay), 0)
        dep = np.where(has, _decay(TR[rows, last], dt_dep, self.lut_minus), 0) / STDP_ONE
        if self.additive:
            w = np.minimum(w + p.A_plus * (pot.sum(axis=1) / STDP_ONE), p.w_max)
            w = np.maximum(w - p.A_minus * dep, p.w_min)
        else:
            # event by event, as the core applies them (history is in time order)
            for j in range(POST_HISTORY):
                w = w + (p.w_max - w) * (p.A_plus * (pot[:, j] / STDP_ONE))
            w = w - (w - p.w_min) * (p.A_minus * dep)
        # back to 16 bits by truncation (bitsk(weight) >> shift); the epsilon keeps
        # an unchanged weight from losing a unit to float rounding
        return np.clip(np.floor(w * ws + 1e-6), 0, 0xFFFF).astype(np.int64)


class SynapseProcessor:
    def __init__(self, n_neurons, ring_buffer_shifts, global_weight_scale, pop_words,
                 matrix_words, stdp_params=None, n_types=N_SYNAPSE_TYPES, dt=1.0,
                 seed=(0,)):
        """stdp_params: None, one STDPParams or a list (a plastic block uses the rule
        its flags name); dt (ms): the tick of the STDP decay tables and of short-term
        plasticity; seed for stochastic synapses."""
        self.n = n_neurons
        self.dt = float(dt)
        self.rng = np.random.Generator(np.random.PCG64([int(s) for s in seed]))
        self.nt = n_types
        shifts = list(ring_buffer_shifts) + [0] * (n_types - len(ring_buffer_shifts))
        # ring-buffer sum -> S16.15 value in weight-scaled units: (sum << shift) / 2^15
        self.to_input = np.array([2.0 ** s / 32768.0 for s in shifts[:n_types]])
        self.ring = np.zeros(RING_SLOTS * n_types * n_neurons, dtype=np.int64)
        self.blocks = []
        if pop_words is not None and len(pop_words):
            n_entries = int(pop_words[0])
            entries = np.asarray(pop_words[1:1 + n_entries * POP_ENTRY_WORDS],
                                 dtype=np.int64).reshape(n_entries, POP_ENTRY_WORDS)
            self.blocks = [Block(e, matrix_words) for e in entries]
        if stdp_params is not None and not isinstance(stdp_params, (list, tuple)):
            stdp_params = [stdp_params]
        scales = [weight_scale(s, global_weight_scale) for s in shifts[:n_types]]
        # one rule per plastic block (each keeps its own post-synaptic traces)
        self.rules = [PairSTDP(p, n_neurons, scales, self.dt) for p in (stdp_params or [])]
        self.stdp = self.rules[0] if self.rules else None
        self.counters = {"saturations": 0, "unmatched_keys": 0, "invalid_rows": 0,
                         "late_spikes": 0, "synaptic_events": 0, "plastic_updates": 0}

    # static rows and the ring buffer through fast.py's loops; False: the numpy
    # reference (tests compare the two)
    compiled = True

    # -------------------------------------------------------------- input
    def receive(self, ticks, keys, next_tick):
        """ticks: the tick each spike was sent in; keys: uint32 array."""
        keys = np.asarray(keys, dtype=np.uint32)
        ticks = np.asarray(ticks, dtype=np.int64)
        if not len(keys):
            return
        matched = np.zeros(len(keys), dtype=bool)
        dep = []
        compiled = self._compiled_tables() if self.compiled else None
        if compiled is not None:
            # the static blocks: lookup and rows in one compiled call
            tables, others = compiled
            out = np.zeros(3, dtype=np.int64)
            fast.receive_static(keys.astype(np.int64), ticks, *tables, next_tick, self.ring,
                                RING_SLOTS, self.nt, self.n, matched, out)
            self.counters["synaptic_events"] += int(out[0])
            self.counters["late_spikes"] += int(out[1])
            self.counters["invalid_rows"] += int(out[2])
        for b, m in (self._match(keys) if compiled is None or compiled[1] else ()):
            matched |= m
            if compiled is not None and b.static_compiled:
                continue
            rows, tk = b.rows_of(keys[m]), ticks[m]
            ok = rows < b.n_rows
            if not ok.all():
                self.counters["invalid_rows"] += int((~ok).sum())
                rows, tk = rows[ok], tk[ok]
            if b.plastic and b.rule < len(self.rules):
                dep.extend(self._plastic(b, rows, tk))
            elif b.stp:
                dep.extend(self._stp(b, rows, tk))
            else:
                dep.append(self._static(b, rows, tk))
        self.counters["unmatched_keys"] += int((~matched).sum())
        dep = [d for d in dep if d is not None and len(d[0])]
        if dep:
            at, st, post, w = (np.concatenate(x) for x in zip(*dep))
            self._deposit(at, st, post, w, next_tick)

    def _match(self, keys):
        """(block, key mask) for every block some of ``keys`` belong to, in block order.
        Like the master population table's lookup: blocks are indexed by their masked
        key, so the cost follows the source cores that sent this tick, not the number
        of blocks (testing every block cost 60 % of a VA-CUBA tick, py-spy)."""
        index = getattr(self, "_index", None)
        if index is None or self._index_n != len(self.blocks):
            index = {}
            for order, b in enumerate(self.blocks):
                index.setdefault(int(b.mask), {}).setdefault(int(b.key), []).append((order, b))
            self._index, self._index_n = index, len(self.blocks)
        hits = []
        for mask, table in index.items():
            masked = keys & np.uint32(mask)
            uniq, inv = np.unique(masked, return_inverse=True)
            for u, kv in enumerate(uniq.tolist()):
                blocks = table.get(kv)
                if blocks:
                    m = inv == u
                    hits.extend((order, b, m) for order, b in blocks)
        hits.sort(key=lambda h: h[0])
        return [(b, m) for _o, b, m in hits]

    def _static(self, b, rows, tk):
        starts = b.row_ptr[rows]
        lens = b.row_ptr[rows + 1] - starts
        total = int(lens.sum())
        if total == 0:
            return None
        cum = np.cumsum(lens)
        sel = np.arange(total) - np.repeat(cum - lens - starts, lens)
        at = np.repeat(tk, lens) + b.delay[sel]
        if b.stochastic:
            # SimpleStochasticSynapse: each synapse transmits with its own p
            keep = self.rng.random(total) < b.p[sel]
            at, sel = at[keep], sel[keep]
        return (at, b.type[sel], b.post[sel], b.w16[sel])

    def _compiled_tables(self):
        """(arrays for fast.receive_static, whether other blocks remain) for the blocks
        whose rows are static and deterministic (not plastic with a rule, not STP, not
        stochastic): they go through one compiled call per batch of keys, straight
        into the ring buffer (integer sums: the order of blocks and synapses does not
        change them). The others keep the numpy path, in block order (their state and
        random draws depend on it). Built once, again if blocks were added."""
        if getattr(self, "_tables_n", None) == len(self.blocks):
            return self._tables
        static, others = [], False
        for b in self.blocks:
            b.static_compiled = not ((b.plastic and b.rule < len(self.rules)) or b.stp
                                     or b.stochastic)
            if b.static_compiled:
                static.append(b)
            else:
                others = True
        i64 = np.int64
        bases = np.cumsum([0] + [b.n_rows for b in static]).astype(i64)
        syn0 = np.cumsum([0] + [int(b.row_ptr[-1]) for b in static]).astype(i64)
        row_ptr = np.concatenate([np.zeros(1, i64)] + [b.row_ptr[1:] + syn0[k]
                                                       for k, b in enumerate(static)]).astype(i64)

        def cat(name):
            parts = [np.asarray(getattr(b, name), dtype=i64) for b in static]
            return np.concatenate(parts) if parts else np.zeros(0, i64)
        tables = (np.array([b.key for b in static], i64), np.array([b.mask for b in static], i64),
                  np.array([b.n_rows for b in static], i64),
                  np.array([b.neuron_bits for b in static], i64),
                  np.array([b.n_src for b in static], i64), bases[:-1], row_ptr,
                  cat("delay"), cat("type"), cat("post"), cat("w16"))
        self._tables, self._tables_n = (tables, others), len(self.blocks)
        return self._tables

    def _stp(self, b, rows, tk):
        """Tsodyks-Markram short-term plasticity with NEST's tsodyks_synapse update,
        per presynaptic spike of a row (time since the row's previous spike h):
        u = u e^(-h/tau_facil) + U (1 - u e^(-h/tau_facil)) (u = U when tau_facil = 0);
        x += y Pxy + (1 - x - y)(1 - e^(-h/tau_rec)); y *= e^(-h/tau_psc);
        then u x of the resources is released: the synapse delivers u x w."""
        out = []
        s = b.stp_state
        for i in np.argsort(tk, kind="stable"):
            r, t = int(rows[i]), int(tk[i])
            lo, hi = int(b.row_ptr[r]), int(b.row_ptr[r + 1])
            if hi > lo:
                sl = slice(lo, hi)
                h = (t - b.last_t[r]) * self.dt
                U, tr, tf, tp = s["U"][sl], s["tau_rec"][sl], s["tau_facil"][sl], s["tau_psc"][sl]
                u, x, y = s["u"][sl], s["x"][sl], s["y"][sl]
                with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                    puu = np.where(tf > 0, np.exp(-h / np.where(tf > 0, tf, 1.0)), 0.0)
                    pyy = np.exp(-h / tp)
                    pzz = np.exp(-h / tr)
                    same = np.isclose(tp, tr)
                    pxy = np.where(same, 1.0 - pzz * (1.0 + h / tr),
                                   ((pzz - 1.0) * tr - (pyy - 1.0) * tp)
                                   / np.where(same, 1.0, tp - tr))
                z = 1.0 - x - y
                u = u * puu
                u = u + U * (1.0 - u)
                x = x + pxy * y + (1.0 - pzz) * z
                y = y * pyy
                release = u * x
                x = x - release
                y = y + release
                s["u"][sl], s["x"][sl], s["y"][sl] = u, x, y
                w = np.rint(b.w16[sl] * release).astype(np.int64)
                out.append((t + b.delay[sl], b.type[sl], b.post[sl], w))
            b.last_t[r] = t
        return out

    def _plastic(self, b, rows, tk):
        out = []
        stdp = self.rules[b.rule]
        for i in np.argsort(tk, kind="stable"):
            r, t = int(rows[i]), int(tk[i])
            lo, hi = int(b.row_ptr[r]), int(b.row_ptr[r + 1])
            last_t, last_tr = int(b.last_t[r]), int(b.last_tr[r])
            if hi > lo:
                new = stdp.update_row(t, last_t, last_tr, b.post[lo:hi], b.delay[lo:hi],
                                      b.w16[lo:hi], b.type[lo:hi])
                b.w16[lo:hi] = new
                out.append((t + b.delay[lo:hi], b.type[lo:hi], b.post[lo:hi], new))
                self.counters["plastic_updates"] += hi - lo
            b.last_tr[r] = stdp.pre_trace(t, last_t, last_tr)
            b.last_t[r] = t
        return out

    def _deposit(self, at, stype, post, w, next_tick):
        late = at < next_tick
        if late.any():
            # sPyNNaker processes a late spike at the current time: it lands in the
            # earliest slot still to come rather than being lost
            self.counters["late_spikes"] += int(late.sum())
            at = np.maximum(at, next_tick)
        self.counters["synaptic_events"] += len(at)
        flat = ((at % RING_SLOTS) * self.nt + stype) * self.n + post
        self.ring += np.bincount(flat, weights=w, minlength=self.ring.size).astype(np.int64)

    def take(self, t):
        """The ring-buffer slot of tick t as S16.15 inputs (n_types x n), cleared."""
        if self.compiled:
            out = np.empty((self.nt, self.n))
            sat = fast.take_slot(self.ring, t % RING_SLOTS, self.nt, self.n, self.to_input, out)
            if sat:
                self.counters["saturations"] += sat
            return out
        seg = self.ring[(t % RING_SLOTS) * self.nt * self.n:
                        (t % RING_SLOTS + 1) * self.nt * self.n].reshape(self.nt, self.n)
        sat = seg > 0xFFFF
        if sat.any():
            self.counters["saturations"] += int(sat.sum())
        out = np.minimum(seg, 0xFFFF) * self.to_input[:, None]
        seg[:] = 0
        return out

    def post_spikes(self, t, idx):
        for rule in self.rules:
            rule.post_spikes(t, idx)

    def plastic_blocks(self):
        """[(offset_words, block uint32 array)] to write back into SYNAPTIC_MATRIX."""
        return [(b.offset, b.words()) for b in self.blocks if b.plastic]
