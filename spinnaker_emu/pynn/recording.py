"""Recorder: holds what the runner extracted from the machine, PyNN builds the neo.

Signals are kept as rows sampled every ``sampling_interval``: row 0 is the state at
the start of recording (initial values at t=0), row k the state at
``t_start + k * sampling_interval`` (the value a core recorded at the end of that tick),
so ``run(T)`` gives ``T / interval + 1`` rows, as PyNN's other backends do.
"""
import numpy as np

from pyNN import recording

from . import simulator


class Recorder(recording.Recorder):
    _simulator = simulator

    def __init__(self, population, file=None):
        super().__init__(population, file)
        self._clear_data()

    # -- storage, filled by the runner ------------------------------------------------------
    def _clear_data(self):
        self._spike_idx = []      # chunks of population indices
        self._spike_t = []        # chunks of times (ms)
        self._rows = {}           # variable name -> list of (n, size) arrays

    def sampling_ticks(self):
        """Sampling interval in timesteps."""
        return max(1, int(round(self.sampling_interval / simulator.state.dt)))

    def store_spikes(self, indices, times):
        if len(indices):
            indices = np.asarray(indices, dtype=np.int64)
            times = np.asarray(times, dtype=float)
            if type(self.population.celltype).__name__ == "SpikeSourceArray":
                times = self._requested_times(indices, times)
            self._spike_idx.append(indices)
            self._spike_t.append(times)

    def _requested_times(self, indices, times):
        """A SpikeSourceArray sends each spike in the tick nearest its time; report
        the time the user asked for (NEST's off-grid precision), not the tick's."""
        dt = simulator.state.dt
        values = self.population._parameters.get("spike_times")
        if values is None:
            return times
        out = times.copy()
        order = np.lexsort((times, indices))
        k = 0
        while k < order.size:
            i = int(indices[order[k]])
            j = k
            while j < order.size and indices[order[j]] == i:
                j += 1
            seq = values[i] if np.ndim(values) else values
            asked = np.sort(np.asarray(getattr(seq, "value", seq), dtype=float).ravel())
            asked_ticks = np.rint(asked / dt)
            for m in order[k:j]:
                hit = np.flatnonzero(asked_ticks == np.rint(times[m] / dt))
                if hit.size:
                    out[m] = asked[hit[0]]
                    asked_ticks[hit[0]] = np.nan      # the next spike of that tick
            k = j
        return out

    def store_rows(self, name, rows):
        rows = np.asarray(rows, dtype=float)
        if rows.size:
            self._rows.setdefault(name, []).append(rows.reshape(-1, self.population.size))

    def has_rows(self, name):
        return bool(self._rows.get(name))

    def _all_rows(self, name):
        chunks = self._rows.get(name)
        if not chunks:
            return np.zeros((0, self.population.size))
        if len(chunks) > 1:
            self._rows[name] = chunks = [np.concatenate(chunks)]
        return chunks[0]

    def _all_spikes(self):
        if not self._spike_idx:
            return np.zeros(0, np.int64), np.zeros(0)
        if len(self._spike_idx) > 1:
            self._spike_idx = [np.concatenate(self._spike_idx)]
            self._spike_t = [np.concatenate(self._spike_t)]
        return self._spike_idx[0], self._spike_t[0]

    # -- PyNN hooks ---------------------------------------------------------------------
    def _record(self, variable, new_ids, sampling_interval=None):
        if sampling_interval is not None and variable.name != "spikes":
            self.sampling_interval = sampling_interval

    def _get_spiketimes(self, ids, clear=False):
        ids = np.asarray(ids, dtype=np.int64)
        idx, times = self._all_spikes()
        if ids.size == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        wanted = self.population.id_to_index(ids) if ids.size else np.zeros(0, int)
        wanted = np.atleast_1d(np.asarray(wanted, dtype=np.int64))
        mask = np.isin(idx, wanted)
        t0 = float(self._recording_start_time.rescale("ms").magnitude)
        mask &= times >= t0 - 1e-9
        sel_idx, sel_t = idx[mask], times[mask]
        order = np.lexsort((sel_t, sel_idx))
        first_id = int(self.population.first_id)
        id_array = (sel_idx[order] + first_id).astype(np.int64)
        if clear:
            self._spike_idx, self._spike_t = [], []
        return id_array, sel_t[order].copy()

    def _get_all_signals(self, variable, ids, clear=False):
        rows = self._all_rows(variable.name)
        idx = np.atleast_1d(np.asarray(self.population.id_to_index(np.asarray(ids, int)),
                                       dtype=int)) if len(ids) else np.zeros(0, int)
        data = rows[:, idx] if len(ids) else np.zeros((rows.shape[0], 0))
        if clear and rows.shape[0]:
            self._rows[variable.name] = [rows[-1:].copy()]
        return data, None

    def _local_count(self, variable, filter_ids=None):
        idx, times = self._all_spikes()
        counts = np.bincount(idx, minlength=self.population.size) if idx.size else \
            np.zeros(self.population.size, int)
        return {int(i): int(counts[self.population.id_to_index(i)])
                for i in self.filter_recorded(variable, filter_ids)}

    def _clear_simulator(self):
        self._spike_idx, self._spike_t = [], []
        for name, chunks in list(self._rows.items()):
            rows = self._all_rows(name)
            self._rows[name] = [rows[-1:].copy()] if rows.shape[0] else []

    def _reset(self):
        pass
