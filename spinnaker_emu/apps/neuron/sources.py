"""Spike sources and the delay extension: the per-tick logic as plain classes
(the kernels in kernels.py feed them from SDRAM and send what they return)."""
import numpy as np

from . import fast
from .regions import DELAY_STAGE

POISSON_BATCH_TICKS = 64


class SpikeArray:
    """SpikeSourceArray: spikes sorted by tick; tick(t) -> neuron indices to send
    (a neuron listed twice in one tick sends twice)."""

    def __init__(self, ticks, neurons):
        self.ticks = np.asarray(ticks, dtype=np.int64)
        self.neurons = np.asarray(neurons, dtype=np.int64)

    def tick(self, t):
        lo, hi = np.searchsorted(self.ticks, [t, t + 1])
        return self.neurons[lo:hi]


class Poisson:
    """SpikeSourcePoisson: per neuron a mean number of spikes per tick, active in
    [start_tick, end_tick). Counts per tick are Poisson draws (the exact
    discretisation of a Poisson process; sPyNNaker draws inter-spike intervals
    for slow sources and counts for fast ones, which has the same distribution).
    Draws are made POISSON_BATCH_TICKS ticks at a time from a PCG64 stream
    seeded by the region's four seed words, so a run is reproducible."""

    def __init__(self, spikes_per_tick, start_tick, end_tick, seed):
        self.set_params(spikes_per_tick, start_tick, end_tick)
        self.reseed(seed)

    def set_params(self, spikes_per_tick, start_tick, end_tick):
        self.lam = np.asarray(spikes_per_tick, dtype=np.float64)
        self.start = np.asarray(start_tick, dtype=np.int64)
        self.end = np.asarray(end_tick, dtype=np.int64)
        self._batch = None

    def reseed(self, seed):
        self.rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
            [int(s) for s in seed])))
        self._batch = None

    def next_seed(self):
        """Four words that continue the stream (written back at PAUSE)."""
        return [int(x) for x in self.rng.integers(0, 2 ** 32, size=4, dtype=np.uint64)]

    def _counts(self):
        if self._batch is None or self._bi >= len(self._batch):
            self._batch = self.rng.poisson(self.lam, size=(POISSON_BATCH_TICKS, len(self.lam)))
            self._bi = 0
            # worst case of one tick's spikes, for spikes()
            self._out = np.empty(int(self._batch.sum(axis=1).max()), dtype=np.int64)
        counts = self._batch[self._bi]
        self._bi += 1
        return counts

    def tick(self, t):
        """-> per-neuron spike counts for tick t (int array)."""
        counts = self._counts()
        active = (t >= self.start) & (t < self.end)
        return np.where(active, counts, 0)

    def spikes(self, t):
        """-> the neuron of each spike of tick t (a neuron with k spikes k times, in
        neuron order): the same draws as tick(), compiled (fast.poisson_spikes)."""
        counts = self._counts()
        m = fast.poisson_spikes(counts, self.start, self.end, t, self._out)
        return self._out[:m].copy()


class DelayExtension:
    """Holds received spikes and re-emits each s x 16 ticks later (s = 1..n_stages)
    with key base | ((s - 1) << neuron_bits) | neuron, for the stages that neuron
    needs. Spikes are counted per (tick, neuron) so repeats are kept."""

    RING = 256   # > 16 x 8 stages + slack
    compiled = True   # tick() through fast.delay_tick; False: the numpy reference

    def __init__(self, n_neurons, n_stages, neuron_bits, base_key, stage_masks=None):
        self.n, self.n_stages, self.nbits, self.base = n_neurons, n_stages, neuron_bits, base_key
        self.masks = (np.ones((n_stages, n_neurons), dtype=bool) if stage_masks is None
                      else np.asarray(stage_masks, dtype=bool))
        self.counts = np.zeros((self.RING, n_neurons), dtype=np.int64)
        self.stage_offsets = DELAY_STAGE * np.arange(1, n_stages + 1)
        self._out = np.empty(64, dtype=np.uint32)

    def receive(self, sent_ticks, neurons):
        np.add.at(self.counts, (np.asarray(sent_ticks) % self.RING, np.asarray(neurons)), 1)

    def tick(self, t):
        """-> keys (uint32) to send in tick t."""
        if self.compiled:
            while True:
                m = fast.delay_tick(self.counts, self.masks, t, self.stage_offsets, self.RING,
                                    self.base, self.nbits, self._out)
                if m <= self._out.size:
                    return self._out[:m].copy()
                self._out = np.empty(2 * m, dtype=np.uint32)     # grown, then again
        src = t - self.stage_offsets
        ok = src >= 0
        keys = np.zeros(0, dtype=np.uint32)
        if ok.any():
            sub = self.counts[src[ok] % self.RING] * self.masks[ok]
            s_idx, n_idx = np.nonzero(sub)
            if s_idx.size:
                stage = np.flatnonzero(ok)[s_idx]
                k = (self.base | (stage << self.nbits) | n_idx).astype(np.uint32)
                keys = np.repeat(k, sub[s_idx, n_idx])
        # the last stage has used slot t - 16 n_stages: free it for reuse
        self.counts[(t - self.stage_offsets[-1]) % self.RING] = 0
        return keys
