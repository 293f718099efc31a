"""The compiled per-tick loops (apps/neuron/fast.py) against the numpy reference:
the same bits, tick after tick, on random states that cross threshold, sit in the
refractory period and receive saturating input."""
import copy

import numpy as np
import pytest

from spinnaker_emu.apps.neuron import fast, synapses as S
from spinnaker_emu.apps.neuron.models import MODELS
from spinnaker_emu.apps.neuron.regions import RING_SLOTS
from spinnaker_emu.apps.neuron.sources import DelayExtension

N = 300


def _state(name, rng, dt):
    m = MODELS[name]
    if name == "Izhikevich":
        params = {"a": rng.uniform(0.02, 0.1, N), "d": rng.uniform(2, 8, N),
                  "i_offset": rng.uniform(0, 12, N)}
        state = {"v": rng.uniform(-75, 25, N), "u": rng.uniform(-16, -8, N)}
    else:
        params = {"i_offset": rng.uniform(-0.5, 2.5, N), "tau_m": rng.uniform(5, 30, N),
                  "tau_refrac": rng.uniform(0, 5, N)}
        state = {"v": rng.uniform(-70, -49, N)}
    f = m.derive(N, params, state, dt=dt)
    # the kernel's fields hold values on the grid (decoded from the region)
    from spinnaker_emu.apps.neuron import regions as R
    _m, f = R.unpack_neuron_fields(R.encode_neuron_fields(m.model_id, f), kernel_units=True)
    return m, f


@pytest.mark.parametrize("name", ["IF_curr_exp", "IF_cond_exp", "Izhikevich"])
@pytest.mark.parametrize("dt", [0.1, 1.0])
def test_compiled_step_equals_numpy_reference(name, dt):
    rng = np.random.default_rng(7)
    m, f = _state(name, rng, dt)
    g = copy.deepcopy(f)
    scale = 1024.0 if m.conductance else 1.0
    spikes = 0
    for t in range(400):
        # sparse, sometimes huge (saturated ring-buffer) input, in S16.15 steps
        e = np.where(rng.random(N) < 0.2, rng.integers(0, 0xFFFF, N), 0) * (2.0 ** -13) * scale / 64
        i = np.where(rng.random(N) < 0.1, rng.integers(0, 0xFFFF, N), 0) * (2.0 ** -13) * scale / 64
        a = m.step(f, e.copy(), i.copy())
        b = m.step_numpy(g, e.copy(), i.copy())
        for x, y in zip(a, b):
            assert np.array_equal(x, y), (name, t)
        for k in f:
            assert np.array_equal(f[k], g[k]), (name, t, k)
        spikes += int(a[0].sum())
    assert spikes > 50          # the comparison went through threshold crossings


def test_compiled_ring_buffer_equals_reference():
    rng = np.random.default_rng(3)
    n, nt, n_rows = 200, 2, 50
    lens = rng.integers(0, 40, n_rows)
    row_ptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    tot = int(row_ptr[-1])
    post = rng.integers(0, n, tot)
    stype = rng.integers(0, nt, tot)
    delay = rng.integers(1, 17, tot)
    w16 = rng.integers(0, 0x4000, tot)
    ring_a = np.zeros(RING_SLOTS * nt * n, dtype=np.int64)
    ring_b = ring_a.copy()
    to_input = np.array([2.0 ** 3 / 32768, 2.0 ** 5 / 32768])
    late_total = 0
    for t in range(60):
        rows = rng.integers(0, n_rows, 30)
        ticks = t - rng.integers(0, 3, 30)     # some sent earlier: late when delay is short
        # one block: key = row (mask 0xFFFFFF00, block key 0)
        out = np.zeros(3, dtype=np.int64)
        matched = np.zeros(rows.size, dtype=bool)
        i64 = np.int64
        fast.receive_static(rows.astype(i64), ticks.astype(i64), np.zeros(1, i64),
                            np.array([0xFFFFFF00], i64), np.array([n_rows], i64),
                            np.zeros(1, i64), np.zeros(1, i64), np.zeros(1, i64), row_ptr,
                            delay, stype, post, w16, t, ring_a, RING_SLOTS, nt, n, matched, out)
        ev, late = out[0], out[1]
        assert matched.all() and out[2] == 0
        late_total += late
        # the reference: _static's expansion and _deposit's bincount
        starts = row_ptr[rows]
        ln = row_ptr[rows + 1] - starts
        sel = np.arange(int(ln.sum())) - np.repeat(np.cumsum(ln) - ln - starts, ln)
        at = np.maximum(np.repeat(ticks, ln) + delay[sel], t)
        flat = ((at % RING_SLOTS) * nt + stype[sel]) * n + post[sel]
        ring_b += np.bincount(flat, weights=w16[sel], minlength=ring_b.size).astype(np.int64)
        assert ev == len(sel)
        out = np.empty((nt, n))
        sat = fast.take_slot(ring_a, t % RING_SLOTS, nt, n, to_input, out)
        seg = ring_b[(t % RING_SLOTS) * nt * n:(t % RING_SLOTS + 1) * nt * n].reshape(nt, n)
        ref = np.minimum(seg, 0xFFFF) * to_input[:, None]
        assert sat == int((seg > 0xFFFF).sum())
        seg[:] = 0
        assert np.array_equal(out, ref)
        assert np.array_equal(ring_a, ring_b)
    assert late_total > 0


def test_synapse_processor_static_rows_compiled_as_reference():
    """SynapseProcessor.receive through the compiled path fills the ring buffer
    as the numpy one (the _static + _deposit reference)."""
    from spinnaker_emu.apps.neuron.regions import SynapticBlock, pack_synaptic_matrix
    rng = np.random.default_rng(5)
    n_pre, n = 64, 100
    pre = rng.integers(0, n_pre, 2000)
    post = rng.integers(0, n, 2000)
    w = rng.integers(1, 3000, 2000)
    d = rng.integers(1, 17, 2000)
    blk = SynapticBlock(key=0x10000, mask=0xFFFFFF00, n_rows=n_pre, rows=pre, post=post,
                        synapse_type=rng.integers(0, 2, 2000), delay=d, weight_u16=w)
    pop, matrix = pack_synaptic_matrix([blk])
    pw = np.frombuffer(pop, "<u4")
    mw = np.frombuffer(matrix, "<u4")
    a = S.SynapseProcessor(n, [2, 2], 1.0, pw, mw)
    b = S.SynapseProcessor(n, [2, 2], 1.0, pw, mw)
    b.compiled = False
    for t in range(40):
        keys = (0x10000 | rng.integers(0, n_pre + 4, 20)).astype(np.uint32)
        ticks = np.full(20, t - 1)
        a.receive(ticks, keys, t)
        b.receive(ticks, keys, t)
        assert np.array_equal(a.take(t), b.take(t))
        assert np.array_equal(a.ring, b.ring)
    assert a.counters == b.counters and a.counters["synaptic_events"] > 0


def test_compiled_delay_extension_equals_reference():
    rng = np.random.default_rng(11)
    n, ns = 70, 5
    masks = rng.random((ns, n)) < 0.6
    a = DelayExtension(n, ns, 7, 0x20000, masks)
    b = DelayExtension(n, ns, 7, 0x20000, masks)
    b.compiled = False
    for t in range(300):
        k = rng.integers(0, n, rng.integers(0, 40))
        a.receive(np.full(k.size, t), k)
        b.receive(np.full(k.size, t), k)
        assert np.array_equal(a.tick(t), b.tick(t))


def test_compiled_poisson_spikes_are_the_reference_counts():
    from spinnaker_emu.apps.neuron.sources import Poisson
    lam = np.linspace(0.0, 3.0, 50)
    start = np.arange(50) % 7
    end = np.where(np.arange(50) % 3 == 0, 40, 10 ** 9)
    a = Poisson(lam, start, end, (1, 2, 3, 4))
    b = Poisson(lam, start, end, (1, 2, 3, 4))
    for t in range(200):
        c = b.tick(t)
        idx = np.flatnonzero(c)
        assert np.array_equal(a.spikes(t), np.repeat(idx, c[idx]))
