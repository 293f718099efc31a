"""Renewal spike sources (SpikeSourceGamma, SpikeSourcePoissonRefractory): the
per-tick logic for kernel ``spike_src_renew`` (format: regions_extra.py).

Each neuron is a renewal process: intervals ``dead + Gamma(shape, scale)`` (in
ticks, continuous time), a spike at time T sent in tick floor(T), only in
[start_tick, end_tick). Spike times are drawn RENEWAL_BATCH_TICKS ticks ahead from
a PCG64 stream seeded by the region's four seed words, so a run is reproducible;
several spikes of one neuron in one tick send several packets."""
import numpy as np

RENEWAL_BATCH_TICKS = 256


class RenewalSource:
    def __init__(self, p, now=0):
        self.set_params(p, now)

    def set_params(self, p, now):
        self.shape = np.asarray(p["shape"], dtype=np.float64)
        self.scale = np.asarray(p["scale_ticks"], dtype=np.float64)
        self.dead = np.asarray(p["dead_ticks"], dtype=np.float64)
        self.start = np.asarray(p["start_tick"], dtype=np.int64)
        self.end = np.asarray(p["end_tick"], dtype=np.int64)
        self.n = len(self.shape)
        self.rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
            [int(s) for s in p["seed"]])))
        nxt = np.array(p["next_time"], dtype=np.float64)
        fresh = np.isnan(nxt)
        if fresh.any():
            nxt[fresh] = np.maximum(self.start[fresh], now) + self._isi(np.flatnonzero(fresh))
        self.next = nxt
        self._clear_batch(now)

    def _clear_batch(self, now):
        self.batch_end = now
        self.b_ticks = np.zeros(0, np.int64)
        self.b_neurons = np.zeros(0, np.int64)
        self.b_times = np.zeros(0)
        self.b_active = np.zeros(0, bool)

    def _isi(self, idx):
        sh, sc, dd = self.shape[idx], self.scale[idx], self.dead[idx]
        out = np.full(len(idx), np.inf)
        ok = np.isfinite(sc) & (sc > 0) & (sh > 0)
        if ok.any():
            out[ok] = dd[ok] + self.rng.gamma(sh[ok], sc[ok])
        return out

    def _fill(self, t0):
        end = t0 + RENEWAL_BATCH_TICKS
        times, neurons = [], []
        idx = np.flatnonzero(self.next < end)
        while idx.size:
            times.append(self.next[idx].copy())
            neurons.append(idx)
            self.next[idx] += self._isi(idx)
            idx = idx[self.next[idx] < end]
        if times:
            tm, nr = np.concatenate(times), np.concatenate(neurons)
            tk = np.maximum(np.floor(tm).astype(np.int64), t0)
            o = np.argsort(tk, kind="stable")
            self.b_times, self.b_neurons, self.b_ticks = tm[o], nr[o], tk[o]
            self.b_active = (self.b_ticks >= self.start[self.b_neurons]) & (
                self.b_ticks < self.end[self.b_neurons])
        else:
            self._clear_batch(t0)
        self.batch_end = end

    def tick(self, t):
        """-> spike counts per neuron for tick t."""
        if t >= self.batch_end:
            self._fill(t)
        lo, hi = np.searchsorted(self.b_ticks, [t, t + 1])
        sel = slice(lo, hi)
        nr = self.b_neurons[sel][self.b_active[sel]]
        return np.bincount(nr, minlength=self.n) if nr.size else np.zeros(self.n, np.int64)

    def state_at(self, t):
        """(seed words, pending next spike time per neuron) to resume at tick t."""
        pending = self.next.copy()
        later = self.b_ticks >= t
        if later.any():
            np.minimum.at(pending, self.b_neurons[later], self.b_times[later])
        seed = [int(x) for x in self.rng.integers(0, 2 ** 32, size=4, dtype=np.uint64)]
        return seed, pending
