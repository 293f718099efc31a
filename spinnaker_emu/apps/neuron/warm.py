"""Compile (or load from numba's disk cache) every loop of fast.py with the argument
types the kernels pass, by running the real code paths on a few neurons.

The host calls this before a run (pynn/loader.py): a chip process that compiled
a kernel in the middle of a run would not answer SCP for seconds, and the host
would take it for dead (ChipsNotResponding, seen on the first run after fast.py
changed). After this the chip processes find the compiled code in the cache.
"""
import numpy as np

_done = False
# fast.py's kernels (its inlined helpers have no cache entries of their own)
KERNELS = ("take_slot", "receive_static", "lif_curr_exp", "lif_cond_exp_a", "lif_cond_exp_b",
           "izhikevich", "delay_tick", "poisson_spikes")


def cache_is_warm():
    """Whether numba's disk cache holds compiled code for every kernel, for fast.py as
    it is now (numba keys the cache on a hash of the source file). Loading that code
    here would cost 0.3 s that a run need not pay: the chips find it themselves. Uses
    numba's cache index (not public API): on any surprise the answer is no."""
    from . import fast
    try:
        return all(getattr(fast, k)._cache._cache_file._load_index() for k in KERNELS)
    except Exception:
        return False


def warm_if_cold():
    if not _done and not cache_is_warm():
        warm()


def warm():
    global _done
    if _done:
        return
    from .models import MODELS
    from . import regions as R
    from .regions import SynapticBlock, encode_neuron_fields, pack_synaptic_matrix, \
        unpack_neuron_fields
    from .sources import DelayExtension, Poisson
    from .synapses import SynapseProcessor
    n = 4
    for name in ("IF_curr_exp", "IF_cond_exp", "Izhikevich"):
        m = MODELS[name]
        # fields as the kernel has them: decoded from the region
        _m, f = unpack_neuron_fields(encode_neuron_fields(m.model_id, m.derive(n)),
                                     kernel_units=True)
        m.step(f, np.zeros(n), np.zeros(n))
    one = np.zeros(1, dtype=np.int64)
    blk = SynapticBlock(key=0, mask=0xFFFFFF00, n_rows=1, rows=one, post=one,
                        synapse_type=one, delay=one + 1, weight_u16=one + 1)
    pop, matrix = pack_synaptic_matrix([blk])
    syn = SynapseProcessor(n, [0, 0], 1.0, np.frombuffer(pop, "<u4"),
                           np.frombuffer(matrix, "<u4"))
    syn.receive(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.uint32), 0)
    syn.take(0)
    p = R.unpack_delay_params(R.pack_delay_params(0, 0xFFFFFF00, 0x100, n, 1))
    dx = DelayExtension(n, 1, p["neuron_bits"], p["base_key"], p["stage_masks"])
    dx.receive(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))
    dx.tick(16)
    p = R.unpack_poisson_params(R.pack_poisson_params(np.full(n, 10.0), seed=(1, 2, 3, 4)))
    Poisson(p["spikes_per_tick"], p["start_tick"], p["end_tick"], p["seed"]).spikes(0)
    _done = True
