"""Current sources injected into neurons (sPyNNaker's current-source region).

A neuron core carries a CURRENT_SOURCES region listing every source that injects
into one of its neurons: the kind, the core-local target indices and the
parameters, with times already converted to ticks by the host. Each tick the
core adds the sum of the sources' currents to the neurons' external bias (with
``i_offset``), as sPyNNaker's ``current_source_get_offset`` does.

Region: ``[n_sources]`` then per source
``[kind, n_targets, n_param_words, target * n_targets, param words...]``.

- DC (1):    ``[amplitude (S16.15), start_tick, stop_tick]``: on in [start, stop).
- AC (2):    ``[start_tick, stop_tick, amplitude, offset, omega, phase]`` (S16.15;
  omega in radians per tick, phase in radians):
  ``offset + amplitude sin(omega (t - start) + phase)`` in [start, stop).
- STEP (3):  ``[n, tick * n, amplitude * n]``: from ``tick[i]`` on the current is
  ``amplitude[i]`` (0 before the first time; the last value holds for ever).
- NOISY (4): ``[mean, stdev (S16.15), start_tick, stop_tick, period_ticks, seed * 4]``:
  in [start, stop), ``mean + stdev z_k`` with ``k = (t - start) // period`` and
  ``z`` the standard normal stream of PCG64 seeded by the four words (the host
  regenerates the same values to return the recorded current).

Currents are nA on the S16.15 grid (rounded to nearest). The evaluation is a
pure function of the tick (the noise stream is cached, never re-drawn), so a
core may re-read the region between runs (changed parameters) and continue.
"""
import math

import numpy as np

from .fixed import from_s1615, q_round, to_s1615

DC, AC, STEP, NOISY = 1, 2, 3, 4
KINDS = {"DCSource": DC, "ACSource": AC, "StepCurrentSource": STEP,
         "NoisyCurrentSource": NOISY}
NEVER = 0xFFFFFFFF


def _s(x):
    return int(to_s1615(x).view(np.uint32)) if np.ndim(x) == 0 else \
        to_s1615(x).view(np.uint32).astype(np.int64).tolist()


def _tick(t_ms, dt):
    """ms -> tick (rounded); huge times (PyNN's 1e12 'never') saturate."""
    t = float(t_ms) / dt
    if not math.isfinite(t) or t >= NEVER - 1:
        return NEVER
    return max(0, int(np.rint(t)))


def source_words(kind, params, dt, seed=(1, 2, 3, 4)):
    """PyNN parameters (nA, ms, Hz, degrees) -> the parameter words of one source."""
    if kind == DC:
        return [_s(params["amplitude"]), _tick(params["start"], dt), _tick(params["stop"], dt)]
    if kind == AC:
        omega = 2.0 * math.pi * float(params["frequency"]) * dt / 1000.0
        phase = math.radians(float(params["phase"]))
        return [_tick(params["start"], dt), _tick(params["stop"], dt),
                _s(params["amplitude"]), _s(params["offset"]), _s(omega), _s(phase)]
    if kind == STEP:
        times = np.asarray(params["times"], dtype=float).ravel()
        amps = np.asarray(params["amplitudes"], dtype=float).ravel()
        if len(times) != len(amps):
            raise ValueError("StepCurrentSource: times and amplitudes differ in length")
        ticks = [_tick(t, dt) for t in times]
        return [len(ticks)] + ticks + (_s(amps) if len(amps) else [])
    if kind == NOISY:
        period = max(1, int(np.rint(float(params["dt"]) / dt)))
        return [_s(params["mean"]), _s(params["stdev"]), _tick(params["start"], dt),
                _tick(params["stop"], dt), period] + [int(s) & 0xFFFFFFFF for s in seed]
    raise ValueError("unknown current source kind %r" % (kind,))


def pack_current_sources(sources, capacity_bytes=None):
    """sources: [(kind, targets (core-local indices), param words)] -> region bytes,
    zero-padded to capacity_bytes (room for changes between runs)."""
    words = [len(sources)]
    for kind, targets, pw in sources:
        targets = [int(i) for i in np.asarray(targets, dtype=np.int64).ravel()]
        words += [int(kind), len(targets), len(pw)] + targets + [int(w) for w in pw]
    data = np.asarray(words, dtype=np.int64).astype("<u4").tobytes()
    if capacity_bytes is not None:
        if len(data) > capacity_bytes:
            raise ValueError("current sources need %d bytes, the region has %d"
                             % (len(data), capacity_bytes))
        data += bytes(capacity_bytes - len(data))
    return data


def current_sources_size(sources):
    return 4 * (1 + sum(3 + len(np.ravel(t)) + len(pw) for _k, t, pw in sources))


def unpack_current_sources(data):
    """-> [(kind, targets int64 array, Source)]."""
    w = np.frombuffer(data, dtype="<u4")
    n, pos, out = int(w[0]), 1, []
    for _ in range(n):
        kind, nt, npw = (int(x) for x in w[pos:pos + 3])
        pos += 3
        targets = w[pos:pos + nt].astype(np.int64)
        pos += nt
        out.append((kind, targets, Source(kind, w[pos:pos + npw])))
        pos += npw
    return out


def _real(word):
    return float(from_s1615(np.uint32(word).view(np.int32)))


class Source:
    """One decoded source: values(ticks) -> current (nA) in each tick."""

    def __init__(self, kind, words):
        self.kind = kind
        w = [int(x) for x in words]
        self.words = w
        if kind == DC:
            self.amplitude, self.start, self.stop = _real(w[0]), w[1], w[2]
        elif kind == AC:
            self.start, self.stop = w[0], w[1]
            self.amplitude, self.offset, self.omega, self.phase = (_real(x) for x in w[2:6])
        elif kind == STEP:
            n = w[0]
            self.ticks = np.asarray(w[1:1 + n], dtype=np.int64)
            self.amps = from_s1615(np.asarray(w[1 + n:1 + 2 * n], dtype=np.uint32).view(np.int32))
        elif kind == NOISY:
            self.mean, self.stdev = _real(w[0]), _real(w[1])
            self.start, self.stop, self.period = w[2], w[3], max(1, w[4])
            self.seed = tuple(w[5:9])
            self._rng = np.random.Generator(np.random.PCG64(list(self.seed)))
            self._z = np.zeros(0)
        else:
            raise ValueError("unknown current source kind %d" % kind)

    def same_stream(self, other):
        return self.kind == NOISY and other.kind == NOISY and self.seed == other.seed

    def adopt_stream(self, other):
        """Continue another instance's noise stream (same seed: the draws made so far)."""
        self._rng, self._z = other._rng, other._z

    def _noise(self, k):
        need = int(k.max()) + 1 if k.size else 0
        if need > len(self._z):
            more = max(need - len(self._z), 1024)
            self._z = np.concatenate([self._z, self._rng.standard_normal(more)])
        return self._z[k]

    def values(self, ticks):
        t = np.asarray(ticks, dtype=np.int64)
        if self.kind == STEP:
            i = np.searchsorted(self.ticks, t, side="right") - 1
            return np.where(i >= 0, self.amps[np.maximum(i, 0)], 0.0)
        on = (t >= self.start) & (t < self.stop)
        out = np.zeros(t.shape)
        if not on.any():
            return out
        if self.kind == DC:
            out[on] = self.amplitude
        elif self.kind == AC:
            x = self.offset + self.amplitude * np.sin(self.omega * (t[on] - self.start)
                                                      + self.phase)
            out[on] = q_round(x)
        else:
            z = self._noise((t[on] - self.start) // self.period)
            out[on] = q_round(self.mean + self.stdev * z)
        return out


class CurrentSources:
    """The kernel's view: per tick, the summed injected current of each neuron."""

    def __init__(self, n_neurons, data=None):
        self.n = n_neurons
        self.sources = []
        if data is not None:
            self.load(data)

    def load(self, data):
        new = unpack_current_sources(data)
        for _k, targets, src in new:
            if targets.size and targets.max() >= self.n:
                raise ValueError("current source target %d beyond %d neurons"
                                 % (targets.max(), self.n))
            for _k2, _t2, old in self.sources:
                if src.same_stream(old):
                    src.adopt_stream(old)
                    break
        self.sources = new
        if new:
            self._tgt = np.concatenate([t for _k, t, _s in new])
            self._src = np.concatenate([np.full(len(t), i) for i, (_k, t, _s) in enumerate(new)])

    def __bool__(self):
        return bool(self.sources)

    def tick(self, t):
        vals = np.array([float(s.values(np.array([t]))[0]) for _k, _t, s in self.sources])
        return np.bincount(self._tgt, weights=vals[self._src], minlength=self.n)
