"""Region format of the renewal spike sources (SpikeSourceGamma,
SpikeSourcePoissonRefractory; kernel ``spike_src_renew``, sources_extra.py).

RENEWAL_PARAMS (region 2, where the Poisson source has POISSON_PARAMS):
``[n, seed_0..3]`` then rows of n words: shape (float64, two rows: low, high word),
scale in ticks (float64), dead time in ticks (float64), start tick, end tick
(exclusive, FOREVER), next spike time in ticks (float64; NaN = draw afresh from
max(start, now)). The interval between spikes is ``dead + Gamma(shape, scale)``:
SpikeSourceGamma(alpha, beta) is shape alpha, scale 1000/beta ms, dead 0;
SpikeSourcePoissonRefractory(rate, tau_refrac) is shape 1, scale
1000/rate - tau_refrac ms, dead tau_refrac. A spike at time T (ticks) is sent in tick
floor(T). At PAUSE the core writes a new seed and the pending next spike times
(the process continues across runs).
"""
import numpy as np

from .regions import FOREVER, _as_words, _words

RENEWAL_ROWS = 10
RENEWAL_MODELS = ("SpikeSourceGamma", "SpikeSourcePoissonRefractory")


def _f64_rows(x):
    w = np.ascontiguousarray(x, dtype="<f8").view("<u4")
    return np.vstack([w[0::2], w[1::2]])


def _rows_f64(lo, hi):
    return np.column_stack([lo, hi]).astype("<u4").ravel().view("<f8").astype(np.float64)


def pack_renewal_params(shape, scale_ticks, dead_ticks, start_ticks, end_ticks, seed,
                        next_time=None, n_neurons=None):
    if n_neurons is None:
        n_neurons = len(np.atleast_1d(shape))
    n = n_neurons

    def full(x, dtype=np.float64):
        return np.broadcast_to(np.asarray(x, dtype=dtype), (n,)).copy()
    nxt = full(np.nan if next_time is None else next_time)
    end = full(FOREVER if end_ticks is None else end_ticks, np.int64)
    rows = np.vstack([_f64_rows(full(shape)), _f64_rows(full(scale_ticks)),
                      _f64_rows(full(dead_ticks)),
                      full(start_ticks, np.int64).astype("<u4")[None, :],
                      np.minimum(end, FOREVER).astype("<u4")[None, :], _f64_rows(nxt)])
    seed = [int(s) & 0xFFFFFFFF for s in seed]
    if len(seed) != 4:
        raise ValueError("4 seed words")
    return _words([n] + seed) + rows.astype("<u4").tobytes()


def renewal_params_size(n_neurons):
    return 4 * (5 + RENEWAL_ROWS * n_neurons)


def unpack_renewal_params(data):
    w = _as_words(data, 0, 5)
    n = int(w[0])
    r = _as_words(data, 20, RENEWAL_ROWS * n).reshape(RENEWAL_ROWS, n)
    return {"n_neurons": n, "seed": [int(x) for x in w[1:5]],
            "shape": _rows_f64(r[0], r[1]), "scale_ticks": _rows_f64(r[2], r[3]),
            "dead_ticks": _rows_f64(r[4], r[5]), "start_tick": r[6].astype(np.int64),
            "end_tick": r[7].astype(np.int64), "next_time": _rows_f64(r[8], r[9])}


def renewal_state_writes(n_neurons, seed, next_time):
    """[(byte offset in the region, bytes)] for the core's write-back at PAUSE."""
    return [(4, _words([int(s) & 0xFFFFFFFF for s in seed])),
            (4 * (5 + 8 * n_neurons), _f64_rows(np.asarray(next_time, dtype=np.float64))
             .astype("<u4").tobytes())]


def repack_renewal_params(old, new):
    """Between runs: the new parameters (``new``, packed bytes) with the seed and
    pending spike times the core left in ``old``; a neuron whose parameters changed
    draws its next spike afresh."""
    o, nw = unpack_renewal_params(old), unpack_renewal_params(new)
    same = np.ones(o["n_neurons"], dtype=bool)
    for k in ("shape", "scale_ticks", "dead_ticks", "start_tick", "end_tick"):
        same &= (o[k] == nw[k]) | (np.isinf(o[k]) & np.isinf(nw[k])) if o[k].dtype.kind == "f" \
            else (o[k] == nw[k])
    nxt = np.where(same, o["next_time"], np.nan)
    return pack_renewal_params(nw["shape"], nw["scale_ticks"], nw["dead_ticks"],
                               nw["start_tick"], nw["end_tick"], o["seed"], nxt)
