"""Float64 neuron models (apps/neuron/models_extra.py) and renewal sources
(sources_extra.py): behaviour, agreement with NEST's published numbers, region
formats; one short PyNN run on a board."""
import numpy as np
import pytest

from spinnaker_emu.apps.neuron import regions as R
from spinnaker_emu.apps.neuron import regions_extra as RX
from spinnaker_emu.apps.neuron.models import MODELS
from spinnaker_emu.apps.neuron.models_extra import KIND_ALPHA, KIND_COND, n_substeps
from spinnaker_emu.apps.neuron.sources_extra import RenewalSource

HH_PARAMS = {'gbar_Na': 20.0, 'gbar_K': 6.0, 'g_leak': 0.01, 'cm': 0.2, 'v_offset': -63.0,
             'e_rev_Na': 50.0, 'e_rev_K': -90.0, 'e_rev_leak': -65.0, 'e_rev_E': 0.0,
             'e_rev_I': -80.0, 'tau_syn_E': 0.2, 'tau_syn_I': 2.0}


def _fields(model, n, params, state, dt):
    """What a core holds after reading NEURON_PARAMS (through the region bytes)."""
    data = R.pack_neuron_params(model, n, params, state, dt)
    assert len(data) == R.neuron_params_size(model, n)
    return R.unpack_neuron_fields(data, kernel_units=True)


def _run(model, f, n_ticks, inputs=None):
    """-> spike ticks per neuron, recorded channels (n_ticks x channels x n)."""
    n = len(f["v"])
    nt = getattr(model, "n_synapse_types", 2)
    spikes, rec = [[] for _ in range(n)], []
    for t in range(n_ticks):
        inp = np.zeros((nt, n)) if inputs is None else inputs(t)
        sp, values = model.step_channels(f, inp)
        for i in np.flatnonzero(sp):
            spikes[i].append(t)
        rec.append(values)
    return spikes, np.array(rec)


def test_float64_fields_round_trip_exactly():
    v = np.array([-65.123456789012345, -70.000000000001, 1e-300])
    data = R.pack_neuron_params("EIF_cond_exp_isfa_ista", 3, state={"v": v, "w": [0.1, 0.2, 0.3]})
    st = R.unpack_neuron_state(data)
    assert np.array_equal(st["v"], v)
    assert np.array_equal(st["w"], [0.1, 0.2, 0.3])
    data2 = R.repack_neuron_params(data, params={"i_offset": 0.5}, state={"gsyn_exc": 0.01})
    m, f = R.unpack_neuron_fields(data2)
    assert np.array_equal(f["v"], v) and np.all(f["i_offset"] == 0.5)
    assert np.all(R.unpack_neuron_state(data2)["gsyn_exc"] == 0.01)


def test_hh_spikes_with_enough_current_as_nest():
    m, f = _fields("HH_cond_exp", 2, dict(HH_PARAMS, i_offset=[0.0, 1.0]), {"v": -64.0}, 0.01)
    spikes, rec = _run(MODELS["HH_cond_exp"], f, 2000)
    assert spikes[0] == []                           # no current: rests
    # NEST 3.10 hh_cond_exp_traub (pyNN.nest, dt 0.001): V > 0 first at 2.518 ms,
    # spikes at 2.627, 10.431, 18.225 ms (ours: the tick in which the peak passed)
    v = rec[:, 0, 1]
    assert np.flatnonzero(v > 0)[0] * 0.01 == pytest.approx(2.518, abs=0.011)
    assert np.array(spikes[1]) * 0.01 == pytest.approx([2.627, 10.431, 18.225], abs=0.011)


def test_eif_adaptation_current_grows_with_spikes_and_matches_nest():
    dt = 0.01
    m, f = _fields("EIF_cond_alpha_isfa_ista", 1,
                   dict(i_offset=1.0, tau_refrac=2.0, v_spike=-40.0), {"v": -65.0, "w": 0.0}, dt)
    model = MODELS["EIF_cond_alpha_isfa_ista"]
    spikes, rec = _run(model, f, 20000)
    t = np.array(spikes[0]) * dt
    # PyNN's test_EIF_cond_alpha_isfa_ista reference (NEST aeif_cond_alpha)
    ref = [10.015, 25.515, 43.168, 63.41, 86.649, 113.112, 142.663, 174.76]
    assert len(t) == len(ref)
    assert np.abs((t - ref) / ref).max() < 0.002
    isi = np.diff(t)
    assert np.all(np.diff(isi) > 0)                   # spike-frequency adaptation
    w = rec[:, model.channels.index("w"), 0]
    after = [w[s + 1] for s in spikes[0]]
    assert np.all(np.diff(after) > 0)                 # w steps up by b at every spike
    assert w[spikes[0][0] + 1] - w[spikes[0][0]] == pytest.approx(0.0805, abs=2e-3)
    # refractory: v clamped at v_reset for round(2.0 / dt) ticks after the spike tick
    v = rec[:, 0, 0]
    s0 = spikes[0][0]
    assert np.all(v[s0 + 1:s0 + 201] == -70.6) and v[s0 + 202] != -70.6


def test_alpha_conductance_peaks_at_weight_and_tau():
    dt, tau, w = 0.1, 2.0, 0.05
    m, f = _fields("IF_cond_alpha", 1, dict(tau_syn_E=tau, v_thresh=100.0), {"v": -65.0}, dt)
    model = MODELS["IF_cond_alpha"]
    gws = model.global_weight_scale
    spikes, rec = _run(model, f, 100, lambda t: np.array([[w * gws if t == 0 else 0.0], [0.0]]))
    g = rec[:, 1, 0]
    assert g.max() == pytest.approx(w, rel=1e-6)      # NEST: peak = weight ...
    assert np.argmax(g) * dt == pytest.approx(tau, abs=1e-9)   # ... tau after arrival
    assert rec[1:, 0, 0].max() > -65.0                # depolarising


def test_point_neuron_current_receptor_sign():
    dt = 0.1
    params = dict(cm=1.0, tau_m=10.0, v_rest=-60.0, v_reset=-65.0, v_thresh=-50.0,
                  tau_refrac=0.1, i_offset=0.0, delta_T=0.0, a=0.0, b=0.0, tau_w=1.0,
                  v_spike=-50.0, s0_tau=1.0, s0_kind=0, s0_sign=1.0, s1_tau=1.5, s1_kind=0,
                  s1_sign=-1.0, s2_tau=5.0, s2_kind=KIND_COND | KIND_ALPHA, s2_e_rev=-70.0)
    m, f = _fields("PointNeuron", 3, params, {"v": -60.0}, dt)
    model = MODELS["PointNeuron"]
    gws = model.global_weight_scale

    def inputs(t):
        x = np.zeros((4, 3))
        if t == 0:
            x[0, 0] = x[1, 1] = x[2, 2] = 0.5 * gws
        return x
    spikes, rec = _run(model, f, 200, inputs)
    v = rec[:, 0, :]
    assert v[:, 0].max() > -59.8                      # positive current: up
    assert v[:, 1].min() < -60.2                      # sign -1: down
    assert v[:, 2].min() < -60.2 and v[:, 2].min() > -70.0   # towards e_rev
    assert rec[1, 2, 1] == pytest.approx(-0.5 * np.exp(-0.1 / 1.5), rel=1e-6)


def test_substeps_follow_the_fastest_time_constant():
    assert n_substeps(0.1, 0.025, [np.array([20.0])]) == 4
    assert n_substeps(1.0, 0.025, [np.array([0.3])]) == 40
    assert n_substeps(0.001, 0.01, []) == 1


# ------------------------------------------------------------------ renewal sources
def _source(shape, scale, dead, n_ticks, seed=(1, 2, 3, 4), start=0, end=None):
    n = len(shape)
    data = RX.pack_renewal_params(shape, scale, dead, start, end, seed)
    assert len(data) == RX.renewal_params_size(n)
    p = RX.unpack_renewal_params(data)
    src = RenewalSource(p, 0)
    counts = np.array([src.tick(t) for t in range(n_ticks)])
    return src, counts


def _isis(counts, i):
    ticks = np.repeat(np.arange(len(counts)), counts[:, i])
    return np.diff(ticks)


def test_gamma_isi_mean_and_variance():
    # dt = 0.1 ms: alpha 4, beta 200 Hz -> scale 5 ms = 50 ticks, mean ISI 20 ms
    alpha = np.array([4.0, 2.0])
    scale = np.array([50.0, 5.0])
    src, counts = _source(alpha, scale, np.zeros(2), 400000)
    for i in range(2):
        isi = _isis(counts, i)
        mean, var = alpha[i] * scale[i], alpha[i] * scale[i] ** 2
        assert isi.mean() == pytest.approx(mean, rel=0.03)
        # the tick grid adds ~1/6 tick^2 of variance
        assert isi.var() == pytest.approx(var + 1 / 6, rel=0.08)
    # CV^2 = 1/alpha: more regular than Poisson
    isi = _isis(counts, 0)
    assert isi.var() / isi.mean() ** 2 == pytest.approx(0.25, rel=0.1)


def test_poisson_refractory_dead_time_and_rate():
    # rate 100 Hz, tau_refrac 5 ms at dt 0.1: ISI = 50 ticks + Exp(50 ticks)
    src, counts = _source([1.0], [50.0], [50.0], 300000)
    isi = _isis(counts, 0)
    assert isi.min() >= 49                            # floor() of the spike times
    assert isi.mean() == pytest.approx(100.0, rel=0.03)
    assert (isi - 50).std() == pytest.approx(50.0, rel=0.06)


def test_renewal_is_reproducible_resumable_and_windowed():
    _, a = _source([2.0, 1.0], [10.0, 20.0], [0.0, 3.0], 3000)
    _, b = _source([2.0, 1.0], [10.0, 20.0], [0.0, 3.0], 3000)
    assert np.array_equal(a, b)
    _, c = _source([2.0, 1.0], [10.0, 20.0], [0.0, 3.0], 3000, seed=(5, 6, 7, 8))
    assert not np.array_equal(a, c)
    # pause at tick 1000: the state written back continues the processes
    src, first = _source([1.0], [1e9], [0.0], 10)                 # practically silent
    src, head = _source([3.0], [10.0], [0.0], 1000)
    seed, pending = src.state_at(1000)
    data = RX.pack_renewal_params([3.0], [10.0], [0.0], 0, None, seed, pending)
    for off, chunk in RX.renewal_state_writes(1, seed, pending):
        assert data[off:off + len(chunk)] == chunk
    src2 = RenewalSource(RX.unpack_renewal_params(data), 1000)
    tail = np.array([src2.tick(t) for t in range(1000, 2000)])
    gap = (np.flatnonzero(tail[:, 0])[0] + 1000) - np.flatnonzero(head[:, 0])[-1]
    assert 0 < gap < 200
    # start/end window
    _, w = _source([1.0], [2.0], [0.0], 1000, start=300, end=600)
    on = np.flatnonzero(w[:, 0])
    assert on.min() >= 300 and on.max() < 600 and len(on) > 50
    # rate 0 (scale inf): silent
    _, z = _source([1.0], [np.inf], [0.0], 1000)
    assert z.sum() == 0


def test_renewal_repack_keeps_pending_spikes_unless_changed():
    old = RX.pack_renewal_params([2.0, 2.0], [10.0, 10.0], [0.0, 0.0], 0, None, (1, 2, 3, 4),
                                 [123.5, 456.5])
    new = RX.pack_renewal_params([2.0, 3.0], [10.0, 10.0], [0.0, 0.0], 0, None, (9, 9, 9, 9))
    p = RX.unpack_renewal_params(RX.repack_renewal_params(old, new))
    assert p["seed"] == [1, 2, 3, 4]
    assert p["next_time"][0] == 123.5 and np.isnan(p["next_time"][1])
    assert list(p["shape"]) == [2.0, 3.0]


# ------------------------------------------------------------------ PyNN side
def test_point_neuron_pynn_parameters_and_receptors():
    import spinnaker_emu.pynn as sim
    c = sim.PointNeuron(sim.AdExp(tau_m=10.0, v_rest=-60.0),
                        AMPA=sim.AlphaPSR(tau_syn=1.0, e_syn=0.0),
                        GABAA=sim.AlphaPSR(tau_syn=1.5, e_syn=-70.0))
    assert c.receptor_types == ["AMPA", "GABAA"]
    assert c.receptor_index("GABAA") == 1
    assert c.recording_aliases() == {"AMPA.gsyn": "syn0", "GABAA.gsyn": "syn1"}
    ps = c.native_parameters
    ps.shape = (2,)
    ps.evaluate(simplify=True)
    d = ps.as_dict()
    p, st = c.kernel_parameters(d, {"v": np.array([-60.0, -61.0]), "w": np.zeros(2)}, 0, 2)
    assert p["s1_e_rev"] == -70.0 and p["s1_tau"] == 1.5
    assert p["s0_kind"] == KIND_COND | KIND_ALPHA
    assert list(st["v"]) == [-60.0, -61.0]
    R.pack_neuron_params("PointNeuron", 2, p, st, 0.1)          # accepted by the model
    with pytest.raises(Exception):
        sim.PointNeuron(sim.LIF(), A=sim.AlphaPSR(), B=sim.CurrExpPostSynapticResponse())


def test_extra_cells_run_on_the_board(tmp_path, monkeypatch):
    """A short run through the whole stack: an AdEx fed by a gamma source, an HH cell
    with current, spikes and the extra channels (w) come back."""
    import spinnaker_emu.pynn as sim
    monkeypatch.chdir(tmp_path)
    sim.setup(timestep=0.1)
    src = sim.Population(5, sim.SpikeSourceGamma(alpha=2.0, beta=400.0), label="gamma",
                         seed=3)
    eif = sim.Population(2, sim.EIF_cond_exp_isfa_ista(i_offset=0.5), label="eif")
    hh = sim.Population(1, sim.HH_cond_exp(i_offset=1.0), label="hh")
    sim.Projection(src, eif, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.01, delay=1.0))
    src.record("spikes")
    eif.record(["spikes", "v", "w", "gsyn_exc"])
    hh.record(["spikes", "v"])
    sim.run(50.0)
    s = src.get_data().segments[0]
    assert 30 < sum(len(st) for st in s.spiketrains) < 80     # 5 x 200 Hz x 50 ms
    e = eif.get_data().segments[0]
    w = e.filter(name="w")[0]
    assert w.shape == (501, 2)
    assert len(e.spiketrains[0]) > 0
    assert float(w[-1, 0]) > 0.0                           # adapted
    assert float(e.filter(name="gsyn_exc")[0].max()) > 0.0
    h = hh.get_data().segments[0]
    assert len(h.spiketrains[0]) >= 4
    sim.end()
