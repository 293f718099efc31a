"""Neuron kernels on a real emulated board, loaded through the real path (SDRAM
regions written over SCP, region table at user0, image + AR, router entries,
SYNC0, pause, resume with the SDP runtime command): the recorded spikes and
voltages must equal the same network stepped directly with the model code."""
import numpy as np
import pytest

from spinnaker_emu.apps.image import AppImage
from spinnaker_emu.apps.neuron import regions as R
from spinnaker_emu.apps.neuron.models import MODELS
from spinnaker_emu.host.apps import load_routes, wait_state as _wait_state
from spinnaker_emu.host.scp import SCPConnection
from spinnaker_emu.protocol import constants as C
from spinnaker_emu.protocol.constants import SCPCommand as CMD, CPUState, Signal
from spinnaker_emu.protocol.structs import vcpu_address

SRC_KEY, NEURON_KEY, DELAY_KEY = 0x10000, 0x20000, 0x30000


def load_core(conn, x, y, p, kernel, regions, app_id):
    """Regions (bytes, or None for an absent one) into one SDRAM block, the region
    table at user0, then the image and AR. Returns the region addresses."""
    sizes = [0 if r is None else (len(r) + 3) // 4 * 4 for r in regions]
    base = conn.alloc_sdram(x, y, sum(sizes) + 8 + 4 * len(regions) + 16, app_id)
    addrs, a = [], base
    for r, s in zip(regions, sizes):
        addrs.append(a if r is not None else 0)
        if r:
            conn.write(x, y, a, r)
        a += s
    conn.write(x, y, a, R.pack_region_table(addrs))
    conn.write_word(x, y, vcpu_address(p, "user0"), a)
    conn.write(x, y, C.SDRAM_SYS, AppImage(kernel, kernel).pack())
    conn.send(x, y, 0, CMD.AR, ((app_id << 24) | (1 << p),))
    return addrs


def runtime(conn, x, y, p, n):
    conn.sock.send(SCPConnection.packet(x, y, p, 1, (n, 0, 0), seq=0, port=1, reply=False))


def wait_state(conn, app, state, n, cores=((0, 0, 1), (0, 0, 2), (0, 0, 3))):
    try:
        _wait_state(conn, app, state, n, 15.0)
    except TimeoutError as e:
        why = ["%s: %s %s" % (c, CPUState(conn.vcpu(*c)["cpu_state"]).name, conn.iobuf(*c))
               for c in cores]
        raise AssertionError("%s\n%s" % (e, "\n".join(why)))


def read_recording(conn, x, y, addr, n_rec):
    head = conn.read(x, y, addr, R.recording_header_size(n_rec))
    used = int(np.frombuffer(head, "<u4")[R.REC_WRITE_OFFSET])
    body = conn.read(x, y, addr + R.recording_header_size(n_rec), used) if used else b""
    # the host has what it needs: rewind the write pointer so a resumed run appends afresh
    conn.write_word(x, y, addr + R.RECORDING_WRITE_OFFSET_BYTE, 0)
    return R.unpack_recording(head + body)


# the network: 3 array sources -> 4 IF_curr_exp neurons
SPIKES = [[0, 10, 11, 12, 30], [5, 6, 7, 8], [2, 40]]
CONNS = [  # pre, post, weight (nA), delay (ticks), type
    (0, 0, 5.0, 1, R.EXCITATORY), (1, 1, 3.0, 3, R.EXCITATORY), (1, 2, 3.0, 16, R.EXCITATORY),
    (0, 2, 2.0, 2, R.INHIBITORY), (2, 3, 6.0, 20, R.EXCITATORY), (2, 3, 6.0, 21, R.EXCITATORY),
    (0, 3, 4.0, 40, R.EXCITATORY)]
N_POST = 4
SHIFTS = [4, 2]


def reference(n_ticks):
    """The same network stepped with the model code directly."""
    m = MODELS["IF_curr_exp"]
    _m, f = R.unpack_neuron_fields(R.pack_neuron_params("IF_curr_exp", N_POST), kernel_units=True)
    ring = np.zeros((n_ticks + 200, 2, N_POST))
    for pre, post, w, d, st in CONNS:
        w16 = int(R.quantise_weights([w], SHIFTS[st])[0])
        for t in SPIKES[pre]:
            ring[t + d, st, post] += w16 * 2.0 ** SHIFTS[st] / 32768
    spikes, vs = [], []
    for t in range(n_ticks):
        s, v, _ge, _gi = m.step(f, ring[t, 0], ring[t, 1])
        spikes += [(t, j) for j in np.flatnonzero(s)]
        vs.append(v)
    return spikes, np.array(vs)


@pytest.fixture(scope="module")
def board_conn():
    from conftest import Board
    b = Board(5)
    yield b.conn
    b.stop()


def test_array_source_into_if_curr_exp_with_delay_extension_pause_and_resume(board_conn):
    conn, app, x, y = board_conn, 60, 0, 0
    n_ticks = 50
    # stage split: delays <= 16 direct from the source, 17..144 via the delay extension
    pre, post, w, d, st = (np.array(c) for c in zip(*CONNS))
    stage, local = R.split_delays(d)
    w16 = np.array([R.quantise_weights([wi], SHIFTS[s])[0] for wi, s in zip(w, st)])
    direct = stage == 0
    nbits = R.delay_neuron_bits(3)
    blocks = [R.SynapticBlock(SRC_KEY, 0xFFFFFF00, 3, pre[direct], post[direct], st[direct],
                              local[direct], w16[direct]),
              R.SynapticBlock(DELAY_KEY, 0xFFFFFF00, R.MAX_DELAY_STAGES * 3,
                              (stage[~direct] - 1) * 3 + pre[~direct], post[~direct],
                              st[~direct], local[~direct], w16[~direct], neuron_bits=nbits, n_src=3)]
    pop, matrix = R.pack_synaptic_matrix(blocks)
    n_stages = int(stage.max())
    system = R.pack_system_region(1000, n_ticks)
    # routes: source spikes to the neuron core (2) and the delay extension (3);
    # delayed spikes to the neuron core; the neuron core's own spikes go nowhere
    load_routes(conn, x, y, [(SRC_KEY, 0xFFFFFF00, 1 << (6 + 2) | 1 << (6 + 3)),
                             (DELAY_KEY, 0xFFFFFF00, 1 << (6 + 2))], app)
    load_core(conn, x, y, 1, "spike_src_array",
              [system, R.pack_source_core_region(SRC_KEY, 3), R.pack_spike_times(SPIKES),
               R.pack_recording_region(R.REC_KIND_SPIKES, [0, 1, 2], n_ticks)], app)
    neuron = load_core(conn, x, y, 2, "if_curr_exp", [
        system, R.pack_neuron_core_region(NEURON_KEY, N_POST, SHIFTS, 1.0),
        R.pack_neuron_params("IF_curr_exp", N_POST), R.pack_synapse_dynamics(None), pop, matrix,
        R.pack_recording_region(R.REC_KIND_SPIKES, range(N_POST), n_ticks),
        R.pack_recording_region(R.REC_KIND_VALUES, range(N_POST), n_ticks),
        R.pack_recording_region(R.REC_KIND_VALUES, [], n_ticks), None], app)
    load_core(conn, x, y, 3, "delay_extension",
              [system, R.pack_delay_params(SRC_KEY, 0xFFFFFF00, DELAY_KEY, 3, n_stages)], app)
    want_spikes, want_v = reference(2 * n_ticks)
    assert want_spikes, "the reference network should fire"

    got_spikes, got_v = [], []
    for run in range(2):
        wait_state(conn, app, CPUState.SYNC0, 3)
        conn.signal(app, Signal.SYNC0, C.SIG_TYPE_MC)
        wait_state(conn, app, CPUState.PAUSE, 3)
        rec = read_recording(conn, x, y, neuron[R.REC_SPIKES], N_POST)
        got_spikes += list(zip(rec["ticks"].tolist(), rec["neurons"].tolist()))
        rv = read_recording(conn, x, y, neuron[R.REC_V], N_POST)
        assert list(rv["ticks"]) == list(range(run * n_ticks, (run + 1) * n_ticks))
        got_v.append(rv["values"])
        if run == 0:
            # state left at PAUSE: v after the last tick, what PyNN's extra sample needs
            st = R.unpack_neuron_state(conn.read(x, y, neuron[R.NEURON_PARAMS],
                                                 R.neuron_params_size("IF_curr_exp", N_POST)))
            assert np.allclose(st["v"], want_v[n_ticks], atol=1e-9)
            for p in (1, 2, 3):
                runtime(conn, x, y, p, n_ticks)
    assert sorted(got_spikes) == sorted(want_spikes)
    assert np.array_equal(np.concatenate(got_v), want_v)
    conn.signal(app, Signal.STOP)


def test_poisson_source_into_plastic_synapses_matches_direct_stepping(board_conn):
    """A Poisson source core drives STDP synapses; the weights read back from SDRAM
    after the run and the post spikes equal the same draws pushed through the
    synapse and model code directly."""
    from spinnaker_emu.apps.neuron.sources import Poisson
    from spinnaker_emu.apps.neuron.synapses import SynapseProcessor
    conn, app, x, y = board_conn, 61, 1, 0
    n_src, n_post, n_ticks, seed = 10, 5, 300, (11, 22, 33, 44)
    stdp = R.STDPParams("additive", 20.0, 20.0, 0.1, 0.12, 0.0, 4.0)
    pre = np.repeat(np.arange(n_src), n_post)
    post = np.tile(np.arange(n_post), n_src)
    k = len(pre)
    w16 = R.quantise_weights(np.full(k, 1.0), 3)
    block = R.SynapticBlock(SRC_KEY, 0xFFFFFF00, n_src, pre, post, np.zeros(k, int),
                            np.ones(k, int), w16, plastic=True)
    pop, matrix = R.pack_synaptic_matrix([block])
    params = {"i_offset": 0.5, "tau_refrac": 2.0}
    poisson = R.pack_poisson_params(np.full(n_src, 30.0), seed=seed)
    system = R.pack_system_region(1000, n_ticks)
    load_routes(conn, x, y, [(SRC_KEY, 0xFFFFFF00, 1 << (6 + 2))], app)
    source = load_core(conn, x, y, 1, "spike_src_poiss", [
        system, R.pack_source_core_region(SRC_KEY, n_src), poisson,
        R.pack_recording_region(R.REC_KIND_SPIKES, range(n_src), n_ticks)], app)
    neuron = load_core(conn, x, y, 2, "if_curr_exp", [
        system, R.pack_neuron_core_region(NEURON_KEY, n_post, [3, 3], 1.0),
        R.pack_neuron_params("IF_curr_exp", n_post, params), R.pack_synapse_dynamics(stdp),
        pop, matrix, R.pack_recording_region(R.REC_KIND_SPIKES, range(n_post), n_ticks),
        None, None, None], app)
    cores = ((x, y, 1), (x, y, 2))
    wait_state(conn, app, CPUState.SYNC0, 2, cores)
    conn.signal(app, Signal.SYNC0, C.SIG_TYPE_MC)
    wait_state(conn, app, CPUState.PAUSE, 2, cores)
    rec = read_recording(conn, x, y, neuron[R.REC_SPIKES], n_post)
    got_spikes = sorted(zip(rec["ticks"].tolist(), rec["neurons"].tolist()))
    got = R.unpack_synaptic_block(pop, conn.read(x, y, neuron[R.SYNAPTIC_MATRIX], len(matrix)), 0)
    got_w = got["weight_u16"]
    src_rec = read_recording(conn, x, y, source[R.SOURCE_REC_SPIKES], n_src)
    conn.signal(app, Signal.STOP)

    # the reference: same draws, same code, no board
    p = R.unpack_poisson_params(poisson)
    src = Poisson(p["spikes_per_tick"], p["start_tick"], p["end_tick"], p["seed"])
    # the core sees the STDP parameters as the region holds them (S16.15)
    sp = SynapseProcessor(n_post, [3, 3], 1.0, np.frombuffer(pop, "<u4"),
                          np.frombuffer(matrix, "<u4"),
                          R.unpack_synapse_dynamics(R.pack_synapse_dynamics(stdp)))
    m = MODELS["IF_curr_exp"]
    _m, f = R.unpack_neuron_fields(R.pack_neuron_params("IF_curr_exp", n_post, params),
                                   kernel_units=True)
    want, n_in, want_src = [], 0, []
    for t in range(n_ticks):
        inp = sp.take(t)
        s, *_ = m.step(f, inp[0], inp[1])
        idx = np.flatnonzero(s)
        sp.post_spikes(t, idx)
        want += [(t, j) for j in idx]
        c = src.tick(t)
        # a source with k spikes in a tick records k times (fa97895)
        want_src += [(t, int(j)) for j in np.repeat(np.arange(n_src), c)]
        keys = np.repeat(SRC_KEY | np.arange(n_src), c).astype(np.uint32)
        n_in += len(keys)
        # spikes sent in the last tick would be processed in the next run
        if len(keys) and t < n_ticks - 1:
            sp.receive(np.full(len(keys), t), keys, t + 1)
    assert sorted(zip(src_rec["ticks"].tolist(), src_rec["neurons"].tolist())) == want_src
    assert 30 < n_in < 150                       # ~30 Hz x 10 sources x 0.3 s
    assert want and got_spikes == sorted(want)
    assert np.array_equal(got_w, sp.blocks[0].w16)
    assert not np.all(got_w == w16)              # STDP changed the weights


def test_current_sources_region_changed_between_runs(board_conn):
    """DC and step sources in the CURRENT_SOURCES region of an IF_curr_exp core; the
    host rewrites the region at PAUSE (a new amplitude) and the resumed run uses it.
    Recorded v equals the model stepped directly with the same currents."""
    from spinnaker_emu.apps.neuron import current_sources as CS
    conn, app, x, y = board_conn, 62, 0, 1
    n, n_ticks, dt = 3, 40, 1.0
    params = {"v_rest": -60.0, "v_thresh": -55.0, "tau_refrac": 2.0}
    state = {"v": -60.0}

    def sources(amp):
        return [(CS.DC, [0, 2], CS.source_words(CS.DC, dict(amplitude=amp, start=5.0,
                                                              stop=60.0), dt)),
                (CS.STEP, [1], CS.source_words(CS.STEP, dict(times=[10.0, 50.0],
                                                             amplitudes=[0.3, 1.2]), dt))]
    first = CS.pack_current_sources(sources(0.2))
    system = R.pack_system_region(1000, n_ticks)
    neuron = load_core(conn, x, y, 1, "if_curr_exp", [
        system, R.pack_neuron_core_region(NEURON_KEY, n, [0, 0], dt),
        R.pack_neuron_params("IF_curr_exp", n, params, state), R.pack_synapse_dynamics(None),
        None, None, R.pack_recording_region(R.REC_KIND_SPIKES, range(n), n_ticks),
        R.pack_recording_region(R.REC_KIND_VALUES, range(n), n_ticks), None, None,
        first + bytes(256)], app)
    cores = ((x, y, 1),)
    got_v, spikes = [], []
    for run, amp in enumerate((0.2, 0.9)):
        if run:
            conn.write(x, y, neuron[R.CURRENT_SOURCES], CS.pack_current_sources(sources(amp)))
            runtime(conn, x, y, 1, n_ticks)
        wait_state(conn, app, CPUState.SYNC0, 1, cores)
        conn.signal(app, Signal.SYNC0, C.SIG_TYPE_MC)
        wait_state(conn, app, CPUState.PAUSE, 1, cores)
        got_v.append(read_recording(conn, x, y, neuron[R.REC_V], n)["values"])
        rec = read_recording(conn, x, y, neuron[R.REC_SPIKES], n)
        spikes += list(zip(rec["ticks"].tolist(), rec["neurons"].tolist()))
    conn.signal(app, Signal.STOP)
    got_v = np.concatenate(got_v)

    m = MODELS["IF_curr_exp"]
    _m, f = R.unpack_neuron_fields(R.pack_neuron_params("IF_curr_exp", n, params, state),
                                   kernel_units=True)
    cs = CS.CurrentSources(n, first)
    want_v, want_s = [], []
    for t in range(2 * n_ticks):
        if t == n_ticks:
            cs.load(CS.pack_current_sources(sources(0.9)))
        base = f["i_offset"]
        f["i_offset"] = base + cs.tick(t)
        s, v, _e, _i = m.step(f, np.zeros(n), np.zeros(n))
        f["i_offset"] = base
        want_v.append(v)
        want_s += [(t, j) for j in np.flatnonzero(s)]
    want_v = np.array(want_v)
    assert np.array_equal(got_v, want_v)
    assert sorted(spikes) == sorted(want_s) and want_s      # 0.9 nA drives 0 and 2 to fire
    assert np.all(got_v[:6] == -60.0) and got_v[6, 0] > -60.0
    assert got_v[n_ticks + 1, 0] - got_v[n_ticks, 0] > got_v[n_ticks - 1, 0] - got_v[n_ticks - 2, 0]
