"""Numerics of the neuron apps (spinnaker_emu/apps/neuron), tested as plain
numpy code: models, fixed point, synapses and ring buffer, STDP, sources, delay
extension and the region formats."""
import math

import numpy as np
import pytest

from spinnaker_emu.apps.neuron import regions as R
from spinnaker_emu.apps.neuron.fixed import from_s1615, q, to_s1615, to_u032, from_u032
from spinnaker_emu.apps.neuron.models import MODELS, analytic_lif_first_spike
from spinnaker_emu.apps.neuron.sources import DelayExtension, Poisson, SpikeArray
from spinnaker_emu.apps.neuron.synapses import SynapseProcessor


def fields(model, n, params=None, state=None, dt=1.0):
    """Fields as the kernel holds them: through the region encoding and back."""
    data = R.pack_neuron_params(model, n, params, state, dt)
    m, f = R.unpack_neuron_fields(data, kernel_units=True)
    return m, f


def run(m, f, ticks, exc=None, inh=None):
    n = len(f["v"])
    spikes, vs = [], []
    for t in range(ticks):
        e = np.zeros(n) if exc is None else exc(t)
        i = np.zeros(n) if inh is None else inh(t)
        s, v, _ge, _gi = m.step(f, e, i)
        vs.append(v)
        spikes.extend((t, j) for j in np.flatnonzero(s))
    return spikes, np.array(vs)


# ---------------------------------------------------------------- fixed point
def test_s1615_grid_and_truncation():
    x = np.array([1.0, -65.0, 0.1, 1 / 3])
    raw = to_s1615(x)
    assert raw.dtype == np.int32 and list(raw[:2]) == [32768, -65 * 32768]
    assert np.all(np.abs(from_s1615(raw) - x) <= 2 ** -16)
    # a multiply result is truncated towards -inf onto the grid
    assert q(0.1) == math.floor(0.1 * 32768) / 32768
    assert q(-0.1) == math.floor(-0.1 * 32768) / 32768
    assert q(1e6) == (2 ** 31 - 1) / 32768          # saturates
    assert from_u032(to_u032(0.951229424500714)) == pytest.approx(0.951229424500714, abs=2 ** -32)


# ---------------------------------------------------------------- LIF
@pytest.mark.parametrize("i_offset", [0.8, 1.0, 2.0, 5.0])
def test_if_curr_exp_constant_current_fires_at_the_analytic_time(i_offset):
    m, f = fields("IF_curr_exp", 1, dict(i_offset=i_offset, tau_refrac=2.0))
    spikes, v = run(m, f, 200)
    t_star = analytic_lif_first_spike(i_offset)
    # v recorded in tick t is v(t); the update in tick t gives v(t + 1), so the
    # first spike is reported in the tick whose end crosses threshold
    first = spikes[0][0]
    assert t_star <= first + 1 < t_star + 1
    assert v[0, 0] == -65.0
    # refractory: no integration in the ceil(2.0 / 1.0) = 2 ticks after the spike, so
    # v (recorded at the start of each tick) stays at v_reset for 3 samples
    assert np.all(v[first + 1:first + 4, 0] == -65.0) and v[first + 4, 0] > -65.0
    # regular firing: constant inter-spike interval
    isi = np.diff([t for t, _ in spikes])
    assert len(set(isi.tolist())) == 1 and isi[0] == first + 1 + 2


def test_subthreshold_current_never_fires_and_settles_at_v_inf():
    m, f = fields("IF_curr_exp", 3, dict(i_offset=[0.0, 0.5, 0.7]))
    spikes, v = run(m, f, 400)
    assert spikes == []
    assert np.allclose(v[-1], [-65.0, -55.0, -51.0], atol=1e-3)


def test_exponential_synapse_decays_by_exp_minus_dt_over_tau():
    m, f = fields("IF_curr_exp", 1, dict(tau_syn_E=5.0, v_thresh=100.0))
    w = 2.0
    _s, _v, ge0, _ = m.step(f, np.array([w]), np.zeros(1))
    got = [ge0[0]]
    for _ in range(20):
        _s, _v, ge, _ = m.step(f, np.zeros(1), np.zeros(1))
        got.append(ge[0])
    decay = math.exp(-1 / 5.0)
    init = 5.0 * (1 - decay)                  # tau/dt (1 - decay): the charge of w
    want = [w * init * decay ** k for k in range(21)]
    assert np.allclose(got, want, atol=2e-4 * 21)
    # the whole decay delivers the charge w * tau: init makes the sum over ticks
    # of the current w * init / (1 - decay) = w * tau / dt
    assert w * init / (1 - decay) == pytest.approx(w * 5.0)
    assert sum(got) == pytest.approx(w * 5.0 * (1 - decay ** 21), rel=1e-3)


def test_epsp_from_one_weight_matches_continuous_lif():
    """A 1 nA exponential current (tau_syn 5 ms) into tau_m 20 ms, cm 1 nF: the
    continuous peak depolarisation is about 3.4 mV; the tick-based model agrees
    within its one-tick discretisation."""
    m, f = fields("IF_curr_exp", 1, dict(v_thresh=0.0))
    _spikes, v = run(m, f, 60, exc=lambda t: np.array([1.0 if t == 0 else 0.0]))
    tau_m, tau_s = 20.0, 5.0
    tt = np.linspace(0, 60, 6001)
    cont = tau_m * tau_s / (tau_m - tau_s) * (np.exp(-tt / tau_m) - np.exp(-tt / tau_s))
    peak = v.max() + 65.0
    assert peak == pytest.approx(cont.max(), rel=0.1)


def test_if_cond_exp_reversal_potentials():
    # an excitatory conductance pulls v towards e_rev_E, an inhibitory one towards e_rev_I
    m, f = fields("IF_cond_exp", 2, dict(v_thresh=100.0, tau_syn_E=1e6, tau_syn_I=1e6,
                                         e_rev_E=0.0, e_rev_I=-80.0))
    g = np.array([0.5, 0.0]), np.array([0.0, 0.5])
    # weights into a conductance core are x1024 (global weight scale)
    spikes, v = run(m, f, 300, exc=lambda t: g[0] * 1024 if t == 0 else np.zeros(2),
                    inh=lambda t: g[1] * 1024 if t == 0 else np.zeros(2))
    # steady state: (g_L v_rest + g E) / (g_L + g), g_L = cm/tau_m = 0.05 uS
    gl = 1.0 / 20.0
    init = 1e6 * (1 - math.exp(-1e-6))
    ge = 0.5 * init
    assert v[-1, 0] == pytest.approx((gl * -65 + ge * 0.0) / (gl + ge), abs=0.05)
    assert v[-1, 1] == pytest.approx((gl * -65 + ge * -80.0) / (gl + ge), abs=0.05)


def test_if_cond_exp_records_gsyn_in_microsiemens():
    m, f = fields("IF_cond_exp", 1)
    _s, _v, ge, _gi = m.step(f, np.array([0.04 * 1024]), np.zeros(1))
    decay = math.exp(-1 / 5.0)
    assert ge[0] == pytest.approx(0.04 * 5 * (1 - decay), abs=1e-4)


def test_if_curr_alpha_rises_then_falls():
    m, f = fields("IF_curr_alpha", 1, dict(tau_syn_E=2.0, v_thresh=100.0))
    got = []
    for t in range(30):
        _s, _v, ge, _ = m.step(f, np.array([1.0 if t == 0 else 0.0]), np.zeros(1))
        got.append(ge[0])
    got = np.array(got)
    peak = int(np.argmax(got))
    assert 1 <= peak <= 4 and got[0] == 0.0
    assert np.all(np.diff(got[peak:]) <= 1e-6)
    # sPyNNaker's alpha shape (t/tau^2) e^(-t/tau) integrates to the weight
    assert got.sum() == pytest.approx(1.0, rel=0.1)


def test_izhikevich_regular_spiking_with_current():
    m, f = fields("Izhikevich", 2, dict(i_offset=[0.0, 10.0]))
    spikes, v = run(m, f, 1000)
    n0 = sum(1 for _t, j in spikes if j == 0)
    n1 = sum(1 for _t, j in spikes if j == 1)
    assert n0 == 0
    # regular spiking cell with I = 10: tonic firing in the tens of Hz
    assert 5 < n1 < 60
    # after a spike v is reset to c and u bumped by d
    t_first = min(t for t, j in spikes if j == 1)
    assert v[t_first + 1, 1] == -65.0


# ---------------------------------------------------------------- synapses
def _block(key, rows, post, types, delays, w, n_rows, plastic=False, mask=0xFFFFFF00):
    return R.SynapticBlock(key, mask, n_rows, np.array(rows), np.array(post), np.array(types),
                           np.array(delays), np.array(w, dtype=np.uint16), plastic=plastic)


def _processor(blocks, n=4, shifts=(5, 5), stdp=None, gws=1.0):
    pop, mat = R.pack_synaptic_matrix(blocks)
    return SynapseProcessor(n, list(shifts), gws, np.frombuffer(pop, "<u4"),
                            np.frombuffer(mat, "<u4"), stdp)


def test_ring_buffer_delivers_at_sent_tick_plus_delay():
    w = R.quantise_weights([1.0, 0.5, 2.0], shift=5)
    b = _block(0x100, [0, 0, 1], [2, 3, 2], [0, 1, 0], [3, 1, 16], w, n_rows=2)
    sp = _processor([b])
    sp.receive([5, 5], [0x100, 0x101], next_tick=6)
    for t in range(6, 30):
        inp = sp.take(t)
        if t == 6:
            assert inp[1, 3] == pytest.approx(0.5, abs=1e-3) and inp[0].sum() == 0
        elif t == 8:
            assert inp[0, 2] == pytest.approx(1.0, abs=1e-3) and inp.sum() == inp[0, 2]
        elif t == 21:
            assert inp[0, 2] == pytest.approx(2.0, abs=1e-3)
        else:
            assert inp.sum() == 0, t
    assert sp.counters["synaptic_events"] == 3 and sp.counters["unmatched_keys"] == 0


def test_unmatched_keys_and_many_spikes_sum_and_saturate():
    b = _block(0x200, [0, 1], [0, 0], [0, 0], [1, 1], [40000, 40000], n_rows=2)
    sp = _processor([b], shifts=(0, 0))
    sp.receive([0, 0, 0], [0x200, 0x201, 0x999], next_tick=1)
    inp = sp.take(1)
    assert inp[0, 0] == 0xFFFF / 32768          # saturated at 16 bits
    assert sp.counters["saturations"] == 1 and sp.counters["unmatched_keys"] == 1


def test_two_entries_for_one_source_both_apply():
    b1 = _block(0x300, [0], [0], [0], [1], [1000], n_rows=1)
    b2 = _block(0x300, [0], [1], [1], [2], [2000], n_rows=1)
    sp = _processor([b1, b2], shifts=(15, 15))
    sp.receive([0], [0x300], next_tick=1)
    assert sp.take(1)[0, 0] == 1000 and sp.take(2)[1, 1] == 2000


def test_delayed_rows_from_a_delay_extension_key():
    # delay 40 = stage 2 (32 ticks in the extension) + 8 on the core
    stage, local = R.split_delays([5, 16, 17, 40, 144])
    assert list(stage) == [0, 0, 1, 2, 8] and list(local) == [5, 16, 1, 8, 16]
    n_src, nbits = 10, R.delay_neuron_bits(10)
    # source neuron 3 with delay 40 -> row (stage - 1) * n_src + 3 in the delayed block
    b = R.SynapticBlock(0x4000, 0xFFFFF000, 8 * n_src, np.array([1 * n_src + 3]),
                        np.array([1]), np.array([0]), np.array([8]),
                        np.array([100], dtype=np.uint16), neuron_bits=nbits, n_src=n_src)
    sp = _processor([b], shifts=(15, 15))
    key = 0x4000 | (1 << nbits) | 3        # stage index 1 (= stage 2) of neuron 3
    sp.receive([32], [key], next_tick=33)
    assert sp.take(40)[0, 1] == 100


def test_weight_scaling_matches_spynnaker():
    assert R.max_weight_to_shift(5.0) == 3
    assert R.max_weight_to_shift(4.0) == 3          # exactly a power of two: one more
    assert R.max_weight_to_shift(0.2) == 0
    assert R.max_weight_to_shift(20.0) == 5
    assert R.weight_scale(5) == 1024.0
    # 16-bit weights read back quantised: 4.8388671875 = 4955 / 1024 (seed 001 STDP)
    w16 = R.quantise_weights([4.8388671875, -1.0], 5)
    assert list(w16) == [4955, 1024]
    assert R.dequantise_weights(w16, 5)[0] == 4955 / 1024
    # a conductance weight 0.04 uS on a x1024 core with shift 5
    assert R.quantise_weights([0.04], 5, 1024.0)[0] == round(0.04 * 1024 * 1024)


def test_incoming_stats_shift():
    st = R.IncomingStats()
    # 100 static connections of 0.2 nA, no delay spread: bound is the total
    st.add(0, 100, 0.2, 0.0, 0.2)
    st.add(1, 10, 1.0, 0.0, 1.0)
    assert st.shifts() == [R.max_weight_to_shift(20.0), R.max_weight_to_shift(10.0)]
    # with delay variance the statistical bound applies and is below the total
    st2 = R.IncomingStats()
    st2.add(0, 1000, 0.2, 0.01, 0.5, delay_var=1.0, spikes_per_second=10.0)
    assert st2.max_weight(0) < 1000 * 0.5 and st2.max_weight(0) >= 0.5


# ---------------------------------------------------------------- STDP
def _stdp_processor(rule, w0=2.0, delay=1, shift=5, a_plus=0.5, a_minus=0.5):
    p = R.STDPParams(rule, tau_plus=20.0, tau_minus=20.0, A_plus=a_plus, A_minus=a_minus,
                     w_min=0.0, w_max=5.0)
    w16 = R.quantise_weights([w0], shift)
    b = _block(0x500, [0], [1], [0], [delay], w16, n_rows=1, plastic=True)
    return _processor([b], shifts=(shift, shift), stdp=p), p, int(w16[0])


def _lut(dt, tau=20.0):
    """A trace of 1 decayed over dt ticks: sPyNNaker's fixed-point lookup table
    (11 fractional bits)."""
    return round(math.exp(-dt / tau) * 2048) / 2048


@pytest.mark.parametrize("rule", ["additive", "multiplicative"])
def test_stdp_pair_rule_matches_hand_computation(rule):
    sp, p, w16 = _stdp_processor(rule)
    scale = R.weight_scale(5)
    # pre at 5 (first: no trace yet), post at 10, pre at 20
    sp.receive([5], [0x500], next_tick=6)
    assert sp.blocks[0].w16[0] == w16                 # nothing to learn from yet
    sp.post_spikes(10, np.array([1]))
    sp.receive([20], [0x500], next_tick=21)
    pot = _lut(10 + 1 - 5)   # pre trace at the post spike (+ delay)
    dep = _lut(20 - (10 + 1))  # post trace at the new pre spike
    w = w16 / scale
    if rule == "additive":
        w = min(w + p.A_plus * pot, p.w_max)
        w = max(w - p.A_minus * dep, p.w_min)
    else:
        w = w + (p.w_max - w) * p.A_plus * pot
        w = w - (w - p.w_min) * p.A_minus * dep
    assert sp.blocks[0].w16[0] == math.floor(w * scale + 1e-6)
    # the updated weight is what the ring buffer receives
    assert sp.take(21)[0, 1] == pytest.approx(math.floor(w * scale + 1e-6) / scale, abs=1e-9)


def test_stdp_additive_step_is_in_weight_units_and_clipped():
    sp, p, _w16 = _stdp_processor("additive", w0=4.0, a_minus=0.0)
    for k in range(10):          # pre then post 1 tick after delay: potentiation each pair
        sp.receive([10 * k], [0x500], next_tick=10 * k + 1)
        sp.post_spikes(10 * k + 2, np.array([1]))
    assert sp.blocks[0].w16[0] == int(5.0 * R.weight_scale(5))     # at w_max, not beyond
    sp2, p, _ = _stdp_processor("additive", w0=1.0, a_plus=0.0)
    for k in range(10):          # post then pre: depression
        sp2.post_spikes(10 * k + 1, np.array([1]))
        sp2.receive([10 * k + 5], [0x500], next_tick=10 * k + 6)
    assert sp2.blocks[0].w16[0] == 0


def test_stdp_time_constants_are_in_ms_at_any_timestep():
    """The decay tables are indexed by tick: at dt = 0.1 ms, tau = 20 ms is 200 ticks
    (sPyNNaker's host builds them from the time step)."""
    p = R.STDPParams("additive", tau_plus=20.0, tau_minus=20.0, A_plus=0.5, A_minus=0.0,
                     w_min=0.0, w_max=5.0)
    w16 = R.quantise_weights([1.0], 5)
    b = _block(0x500, [0], [1], [0], [1], w16, n_rows=1, plastic=True)
    pop, mat = R.pack_synaptic_matrix([b])
    sp = SynapseProcessor(4, [5, 5], 1.0, np.frombuffer(pop, "<u4"),
                          np.frombuffer(mat, "<u4"), p, dt=0.1)
    sp.receive([0], [0x500], next_tick=1)
    sp.post_spikes(99, np.array([1]))            # seen at 99 + 1: 10 ms after the pre spike
    sp.receive([300], [0x500], next_tick=301)
    scale = R.weight_scale(5)
    pot = round(math.exp(-100 * 0.1 / 20.0) * 2048) / 2048
    assert sp.blocks[0].w16[0] == math.floor((int(w16[0]) / scale + 0.5 * pot) * scale + 1e-6)


def test_stdp_weight_parameters_packed_in_synaptic_input_units():
    """As sPyNNaker: w_min, w_max and the additive A+/A- x global weight scale in
    S16.15, so small conductance steps keep their precision."""
    add = R.STDPParams("additive", 20.0, 20.0, 2.5e-5, 2.5e-5, 0.0, 0.0025)
    mul = R.STDPParams("multiplicative", 20.0, 20.0, 0.01, 0.012, 0.0, 0.0025)
    got = R.unpack_synapse_dynamics(R.pack_synapse_dynamics([add, mul], 1024.0), 1024.0)
    assert got[0].A_plus == pytest.approx(2.5e-5, rel=1e-3)      # 0.82 LSB unscaled
    assert got[0].w_max == pytest.approx(0.0025, rel=1e-4)
    assert got[1].A_minus == pytest.approx(0.012, rel=1e-3)      # dimensionless
    assert got[1].w_max == pytest.approx(0.0025, rel=1e-4)


def test_stdp_weights_written_back_into_the_matrix_region():
    sp, p, w16 = _stdp_processor("additive")
    sp.receive([5], [0x500], next_tick=6)
    sp.post_spikes(7, np.array([1]))
    sp.receive([30], [0x500], next_tick=31)
    new = sp.blocks[0].w16[0]
    assert new > w16
    pop, mat = R.pack_synaptic_matrix([_block(0x500, [0], [1], [0], [1], [w16], 1, True)])
    mat = bytearray(mat)
    for off, block in sp.plastic_blocks():
        mat[4 * off:4 * off + block.nbytes] = block.tobytes()
    out = R.unpack_synaptic_block(pop, bytes(mat), 0)
    assert list(out["weight_u16"]) == [new] and list(out["post"]) == [1]
    assert out["last_pre_tick"][0] == 30


# ---------------------------------------------------------------- sources
def test_spike_array_emits_each_spike_in_its_tick():
    data = R.pack_spike_times([[0, 5, 5], [], [3]])
    ticks, ids = R.unpack_spike_times(data)
    sa = SpikeArray(ticks, ids)
    assert list(sa.tick(0)) == [0] and list(sa.tick(3)) == [2] and list(sa.tick(5)) == [0, 0]
    assert len(sa.tick(4)) == 0


def test_poisson_rates_over_long_runs_and_reproducibility():
    n, ticks = 100, 20000
    rates = np.linspace(1, 100, n)
    p = R.unpack_poisson_params(R.pack_poisson_params(rates, seed=(7, 8, 9, 10)))
    src = Poisson(p["spikes_per_tick"], p["start_tick"], p["end_tick"], p["seed"])
    counts = sum(src.tick(t) for t in range(ticks))
    measured = counts / (ticks / 1000.0)
    # each neuron within 5 SD of its rate
    sd = np.sqrt(rates * ticks / 1000.0) / (ticks / 1000.0)
    assert np.all(np.abs(measured - rates) < 5 * sd)
    again = Poisson(p["spikes_per_tick"], p["start_tick"], p["end_tick"], p["seed"])
    assert np.array_equal(sum(again.tick(t) for t in range(ticks)), counts)


def test_poisson_start_and_end():
    src = Poisson([0.5, 0.5], [10, 0], [20, R.FOREVER], (1, 2, 3, 4))
    c = np.array([src.tick(t) for t in range(1000)])
    assert c[:10, 0].sum() == 0 and c[20:, 0].sum() == 0 and c[10:20, 0].sum() > 0
    assert c[:, 1].sum() > 300


def test_delay_extension_timing():
    dx = DelayExtension(4, 3, 2, 0x9000, stage_masks=[[1, 1, 1, 1], [1, 0, 1, 1], [1, 1, 1, 1]])
    dx.receive([3, 3, 3], [1, 1, 2])
    sent = {t: sorted(dx.tick(t).tolist()) for t in range(80)}
    assert sent[19] == [0x9001, 0x9001, 0x9002]                    # stage 0: 16 ticks later
    assert sent[35] == [0x9000 | (1 << 2) | 2]                     # neuron 1 not in stage 1
    assert sent[51] == [0x9000 | (2 << 2) | 1] * 2 + [0x9000 | (2 << 2) | 2]
    assert sum(len(v) for v in sent.values()) == 7


# ---------------------------------------------------------------- region formats
@pytest.mark.parametrize("model", sorted(MODELS))
def test_neuron_params_round_trip(model):
    data = R.pack_neuron_params(model, 5, state={"v": np.linspace(-70, -60, 5)})
    assert len(data) == R.neuron_params_size(model, 5)
    st = R.unpack_neuron_state(data)
    assert np.allclose(st["v"], np.linspace(-70, -60, 5), atol=2 ** -15)
    assert np.all(st["isyn_exc"] == 0)
    # set() between runs: new parameters, state kept
    data2 = R.repack_neuron_params(data, params={"i_offset": 1.5}, state={"isyn_exc": 0.25})
    m, f = R.unpack_neuron_fields(data2)
    assert np.allclose(f["i_offset"], 1.5, atol=2 ** -15)
    assert np.allclose(R.unpack_neuron_state(data2)["v"], st["v"])
    assert np.allclose(R.unpack_neuron_state(data2)["isyn_exc"], 0.25, atol=1e-4)


def test_unknown_parameter_is_refused():
    with pytest.raises(ValueError):
        R.pack_neuron_params("IF_curr_exp", 1, {"tau_w": 3.0})


def test_lif_constants_derived_on_the_host():
    m, f = R.unpack_neuron_fields(R.pack_neuron_params(
        "IF_curr_exp", 1, dict(tau_m=10.0, cm=0.5, tau_refrac=2.5), timestep_ms=0.1))
    assert f["exp_tc"][0] == pytest.approx(math.exp(-0.1 / 10.0), abs=2 ** -15)
    assert f["r_membrane"][0] == pytest.approx(20.0, abs=2 ** -15)
    assert f["t_refract"][0] == 25


def test_recording_format_round_trip():
    region = bytearray(R.pack_recording_region(R.REC_KIND_SPIKES, [0, 2, 5, 40], n_ticks=4))
    assert len(region) == R.recording_region_size(R.REC_KIND_SPIKES, 4, 4)
    # records as a core writes them: [tick, bitfield over the recorded neurons]
    recs = np.array([[1, 0b0101], [3, 0b1000]], dtype="<u4")
    off = R.recording_header_size(4)
    region[off:off + recs.nbytes] = recs.tobytes()
    region[R.RECORDING_WRITE_OFFSET_BYTE:R.RECORDING_WRITE_OFFSET_BYTE + 4] = \
        np.uint32(recs.nbytes).tobytes()
    out = R.unpack_recording(bytes(region))
    assert list(out["ticks"]) == [1, 1, 3] and list(out["neurons"]) == [0, 5, 40]
    vreg = bytearray(R.pack_recording_region(R.REC_KIND_VALUES, [1, 3], n_ticks=10,
                                             sampling_interval=5))
    assert R.recording_data_bytes(R.REC_KIND_VALUES, 2, 10, 5) == 2 * 12
    rec = np.concatenate([[0], to_s1615([-65.0, -64.5]).view("<u4")]).astype("<u4")
    off = R.recording_header_size(2)
    vreg[off:off + 12] = rec.tobytes()
    vreg[4:8] = np.uint32(12).tobytes()
    out = R.unpack_recording(bytes(vreg))
    assert out["values"].tolist() == [[-65.0, -64.5]] and out["sampling_interval"] == 5


def test_vertex_descriptions_add_up():
    d = R.describe_neuron_core("IF_curr_exp", 256, 1000, {"spikes": 256, "v": 10},
                               synaptic_blocks=[(256, 30, False)])
    assert d.kernel == "if_curr_exp" and len(d.region_sizes) == R.N_NEURON_REGIONS
    assert d.region_sizes[R.REC_V] == R.recording_region_size(R.REC_KIND_VALUES, 10, 1000)
    assert d.region_sizes[R.SYNAPTIC_MATRIX] == 4 * 256 * 31
    assert d.sdram > sum(d.region_sizes)
    assert R.describe_delay_extension(100, 3).kernel == "delay_extension"


# ---------------------------------------------------------------- current sources
def _cs(sources, n, dt=1.0):
    from spinnaker_emu.apps.neuron import current_sources as CS
    data = CS.pack_current_sources([(k, t, CS.source_words(k, p, dt, (5, 6, 7, 8)))
                                    for k, t, p in sources])
    return CS.CurrentSources(n, data), data


def test_current_sources_switch_on_and_off_at_their_ticks():
    from spinnaker_emu.apps.neuron import current_sources as CS
    cs, _ = _cs([(CS.DC, [0, 2], dict(amplitude=0.5, start=2.0, stop=4.0)),
                 (CS.STEP, [1], dict(times=[1.0, 3.0], amplitudes=[0.25, -1.0])),
                 (CS.DC, [2], dict(amplitude=1.0, start=0.0, stop=1e12))], 3, dt=0.5)
    got = np.array([cs.tick(t) for t in range(10)])
    # DC on in [start, stop) = ticks 4..7; the step from tick 2 and 6 on (for ever)
    assert np.array_equal(got[:, 0], [0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5, 0, 0])
    assert np.array_equal(got[:, 1], [0, 0, 0.25, 0.25, 0.25, 0.25, -1, -1, -1, -1])
    assert np.array_equal(got[:, 2], [1, 1, 1, 1, 1.5, 1.5, 1.5, 1.5, 1, 1])


def test_ac_source_phase_at_start_and_frequency():
    from spinnaker_emu.apps.neuron import current_sources as CS
    cs, _ = _cs([(CS.AC, [0], dict(amplitude=1.0, offset=0.25, frequency=100.0, phase=90.0,
                                  start=1.0, stop=21.0))], 1, dt=0.1)
    i = np.array([cs.tick(t)[0] for t in range(220)])
    assert np.all(i[:10] == 0) and np.all(i[210:] == 0)
    assert i[10] == pytest.approx(1.25, abs=1e-4)            # cos(0) at start, plus offset
    assert i[60] == pytest.approx(-0.75, abs=1e-3)           # half a 10 ms period later
    assert i[110] == pytest.approx(1.25, abs=1e-3)


def test_noisy_source_holds_each_draw_for_its_dt_and_the_host_regenerates_it():
    from spinnaker_emu.apps.neuron import current_sources as CS
    p = dict(mean=0.5, stdev=0.25, start=2.0, stop=50.0, dt=5.0)
    cs, data = _cs([(CS.NOISY, [0], p)], 1)
    i = np.array([cs.tick(t)[0] for t in range(60)])
    assert np.all(i[:2] == 0) and np.all(i[50:] == 0)
    blocks = i[2:47].reshape(9, 5)
    assert np.all(blocks == blocks[:, :1]) and len(set(blocks[:, 0])) == 9
    # re-read between runs (same seed): the stream continues; the host gets the same values
    cs.load(data)
    assert np.array_equal([cs.tick(t)[0] for t in range(60)], i)
    host = CS.Source(CS.NOISY, CS.source_words(CS.NOISY, p, 1.0, (5, 6, 7, 8)))
    assert np.array_equal(host.values(np.arange(60)), i)


def test_dc_source_equals_i_offset_and_starts_the_tick_after_start():
    """A DC source adds to the external bias: the same trace as i_offset from its
    start tick; v recorded at the start tick is still at rest."""
    from spinnaker_emu.apps.neuron import current_sources as CS
    m, f = fields("IF_curr_exp", 2, dict(v_rest=-60.0), dict(v=-60.0), dt=0.1)
    cs, _ = _cs([(CS.DC, [0], dict(amplitude=1.0, start=1.0, stop=1e12))], 2, dt=0.1)
    vs = []
    for t in range(40):
        base = f["i_offset"]
        f["i_offset"] = base + cs.tick(t) + (t >= 10) * np.array([0.0, 1.0])
        _s, v, _e, _i = m.step(f, np.zeros(2), np.zeros(2))
        f["i_offset"] = base
        vs.append(v)
    vs = np.array(vs)
    assert np.all(vs[:11] == -60.0) and vs[11, 0] > -60.0
    assert np.array_equal(vs[:, 0], vs[:, 1])


def test_lif_constant_current_at_small_timestep_matches_the_analytic_time():
    """dt = 0.01 ms: exp(-dt/tau_m) in U0.32 and round-to-nearest products keep the
    firing time within 0.5% (PyNN's test_scenario2)."""
    m, f = fields("IF_curr_exp", 3, dict(v_rest=0.0, v_reset=0.0, v_thresh=10.0,
                                          tau_refrac=100.0, i_offset=[0.52, 0.8, 1.4]),
                  dict(v=0.0), dt=0.01)
    first = np.full(3, np.nan)
    for t in range(8000):
        s, *_ = m.step(f, np.zeros(3), np.zeros(3))
        first[np.isnan(first) & s] = (t + 1) * 0.01
    for i, amp in enumerate((0.52, 0.8, 1.4)):
        want = analytic_lif_first_spike(amp, v_rest=0.0, v_thresh=10.0, v0=0.0)
        assert abs(first[i] - want) / want < 0.005


# ---------------------------------------------------------------- per-block STDP, STP, stochastic
def test_each_plastic_block_follows_its_own_stdp_rule():
    """Two plastic projections onto one core with different rules (additive and
    multiplicative): each block's weights equal those of a core with only that rule."""
    add = R.STDPParams("additive", 20.0, 20.0, 0.5, 0.5, 0.0, 5.0)
    mul = R.STDPParams("multiplicative", 10.0, 30.0, 0.2, 0.3, 0.0, 5.0)
    w16 = R.quantise_weights([2.0], 5)

    def blk(key, rule):
        b = _block(key, [0], [1], [0], [1], w16, n_rows=1, plastic=True)
        b.rule = rule
        return b
    both = _processor([blk(0x500, 0), blk(0x600, 1)], stdp=[add, mul])
    got = R.unpack_synapse_dynamics(R.pack_synapse_dynamics([add, mul]))
    assert [g.rule for g in got] == ["additive", "multiplicative"]
    assert got[1].A_minus == pytest.approx(0.3, abs=1e-4)
    alone = [_processor([blk(0x500, 0)], stdp=add), _processor([blk(0x600, 0)], stdp=mul)]
    for t in (5, 20, 33):
        for sp in [both] + alone:
            sp.receive([t, t], [0x500, 0x600], next_tick=t + 1)
            sp.post_spikes(t + 4, np.array([1]))
    assert both.blocks[0].w16[0] == alone[0].blocks[0].w16[0] != w16[0]
    assert both.blocks[1].w16[0] == alone[1].blocks[0].w16[0] != w16[0]
    assert both.blocks[0].w16[0] != both.blocks[1].w16[0]


def _tsodyks(h_list, U, tau_rec, tau_facil, tau_psc):
    """NEST tsodyks_synapse, scalar: the released fraction u x at each spike."""
    u, x, y, out = 0.0, 1.0, 0.0, []
    for h in h_list:
        puu = math.exp(-h / tau_facil) if tau_facil > 0 else 0.0
        pyy, pzz = math.exp(-h / tau_psc), math.exp(-h / tau_rec)
        pxy = ((pzz - 1) * tau_rec - (pyy - 1) * tau_psc) / (tau_psc - tau_rec)
        z = 1 - x - y
        u = u * puu
        u += U * (1 - u)
        x += pxy * y + (1 - pzz) * z
        y *= pyy
        out.append(u * x)
        x -= u * x
        y += out[-1]
    return out


@pytest.mark.parametrize("U,tau_rec,tau_facil", [(0.5, 100.0, 0.0), (0.1, 20.0, 500.0)])
def test_tsodyks_markram_releases_as_nest(U, tau_rec, tau_facil):
    w16 = R.quantise_weights([2.0], 5)
    b = _block(0x700, [0], [2], [0], [1], w16, n_rows=1)
    b.stp = {"U": [U], "tau_rec": [tau_rec], "tau_facil": [tau_facil], "tau_psc": [5.0]}
    sp = _processor([b])
    sp.dt = 0.5
    ticks = [10, 20, 30, 40, 80, 400]
    got = []
    for t in ticks:
        sp.receive([t], [0x700], next_tick=t + 1)
        got.append(sp.take(t + 1)[0, 2])
    h = np.diff([0] + ticks) * 0.5
    want = [np.rint(int(w16[0]) * r) / R.weight_scale(5) for r in _tsodyks(h, U, tau_rec, tau_facil, 5.0)]
    assert got == pytest.approx(want, abs=1e-12)
    if tau_facil == 0:
        assert got[0] > got[1] > got[2] and got[-1] > got[3]     # depression, recovery
    else:
        assert got[0] < got[1] < got[2]                          # facilitation


def test_stochastic_synapses_transmit_with_their_probability():
    w16 = R.quantise_weights([1.0, 1.0, 1.0], 5)
    b = _block(0x800, [0, 0, 0], [0, 1, 2], [0, 0, 0], [1, 1, 1], w16, n_rows=1)
    b.p_transmit = np.array([0.0, 0.5, 1.0])
    sp = _processor([b])
    counts = np.zeros(4)
    for t in range(400):
        sp.receive([t], [0x800], next_tick=t + 1)
        counts += sp.take(t + 1)[0] > 0
    assert counts[0] == 0 and counts[2] == 400 and 150 < counts[1] < 250
