"""PyNN backend plumbing that needs no board: building projections, connection lists,
proj.get, parameters, the recording store -> neo, cfg, limits."""
import re

import numpy as np
import pytest

import spinnaker_emu.pynn as sim
from pyNN import errors


@pytest.fixture(autouse=True)
def fresh():
    sim.setup(timestep=1.0)
    yield


def test_one_to_one_with_one_presynaptic_neuron():
    a = sim.Population(1, sim.SpikeSourceArray(spike_times=[0]))
    b = sim.Population(3, sim.IF_curr_exp())
    p = sim.Projection(a, b, sim.OneToOneConnector(), sim.StaticSynapse(weight=5.0, delay=1))
    assert p.get(["weight", "delay"], "list") == [(0, 0, 5.0, 1.0)]
    q = sim.Projection(b, a.__class__(2, sim.IF_curr_exp()), sim.OneToOneConnector())
    assert sorted((i, j) for i, j, *_ in q.get("weight", "list")) == [(0, 0), (1, 1)]


def test_connection_counts_and_array_view():
    pre = sim.Population(10, sim.IF_curr_exp())
    post = sim.Population(10, sim.IF_curr_exp())
    all2all = sim.Projection(pre, post, sim.AllToAllConnector(), sim.StaticSynapse(weight=1.0))
    total = sim.Projection(pre, post, sim.FixedTotalNumberConnector(5))
    lst = sim.Projection(pre, post, sim.FromListConnector([(1, 1), (2, 1), (3, 2), (4, 2)]))
    assert len(all2all) == 100 and len(total) == 5
    arr = lst.get("weight", "array")
    assert arr.shape == (10, 10) and np.isnan(arr).sum() == 96
    assert sorted((int(i), int(j)) for i, j, _ in lst.get("weight", "list")) == \
        [(1, 1), (2, 1), (3, 2), (4, 2)]


def test_delays_on_the_timestep_grid_and_limit():
    sim.setup(timestep=0.1)
    a = sim.Population(5, sim.IF_curr_exp())
    p = sim.Projection(a, a, sim.AllToAllConnector(),
                       sim.StaticSynapse(weight=0.1,
                                         delay=sim.RandomDistribution("uniform", [1.0, 1.6])))
    d = np.array(p.get("delay", "list", with_address=False))
    assert np.allclose(d * 10, np.rint(d * 10)) and d.min() >= 1.0 and d.max() <= 1.6
    with pytest.raises(errors.ConnectionError, match="144"):
        sim.Projection(a, a, sim.OneToOneConnector(), sim.StaticSynapse(weight=1, delay=14.6))


def test_stdp_parameters_readable_per_connection():
    a = sim.Population(4, sim.IF_curr_exp())
    stdp = sim.STDPMechanism(
        timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.5,
                                            A_minus=0.25),
        weight_dependence=sim.AdditiveWeightDependence(w_max=5.0, w_min=0.0),
        weight=0.0, delay=2.0)
    p = sim.Projection(a, a, sim.AllToAllConnector(), stdp)
    a_plus, a_minus = p.get(["A_plus", "A_minus"], format="array")
    assert np.nanmax(a_plus) == 0.5 and np.nanmax(a_minus) == 0.25
    assert set(p.get("weight", "list", with_address=False)) == {0.0}


def test_mixed_weight_signs_in_one_projection_refused():
    a = sim.Population(2, sim.IF_curr_exp())
    with pytest.raises(errors.ConnectionError, match="receptor"):
        sim.Projection(a, a, sim.FromListConnector([(0, 1, 1.0, 1.0), (1, 0, -1.0, 1.0)],
                                                   column_names=["weight", "delay"]))


def test_parameters_set_get_initialize():
    p = sim.Population(4, sim.IF_curr_exp(), label="Fred")
    p[1:3].set(i_offset=2.0)
    assert list(p.get("i_offset")) == [0.0, 2.0, 2.0, 0.0]
    p.initialize(v=sim.RandomDistribution("uniform", low=-65.0, high=-55.0))
    v = p._initial_state["v"]
    assert v.shape == (4,) and (v >= -65).all() and (v <= -55).all()
    with pytest.raises(errors.InvalidParameterValueError):
        sim.Population(2, sim.SpikeSourceArray(spike_times=[[3.0, 1.0], [1.0]]))


def test_izhikevich_has_spynnaker_synapses_and_poisson_duration_none():
    iz = sim.Izhikevich(tau_syn_E=2.0)
    assert iz.native_parameters["tau_syn_E"].base_value == 2.0
    src = sim.Population(3, sim.SpikeSourcePoisson(rate=5.0, duration=None))
    assert src.get("duration") > 1e9


def test_neurons_per_core_and_errors():
    with pytest.raises(TypeError):
        sim.set_number_of_neurons_per_core("IF_curr_exp", 10)
    sim.set_number_of_neurons_per_core(sim.IF_curr_exp, 100)
    assert sim.Population(5, sim.IF_curr_exp())._max_atoms_per_core == 100
    assert sim.Population(5, sim.IF_cond_exp())._max_atoms_per_core == 256


def test_recording_store_becomes_pynn_neo():
    p = sim.Population(3, sim.IF_curr_exp(), label="P")
    p.record(["spikes", "v"])
    rec = p.recorder
    rec.store_spikes([0, 2, 2], [1.0, 3.0, 5.0])
    rec.store_rows("v", np.tile([-65.0, -64.0, -63.0], (11, 1)))
    sim.state.t, sim.state.running = 10.0, True
    block = p.get_data()
    seg = block.segments[0]
    assert [len(st) for st in seg.spiketrains] == [1, 0, 2]
    assert seg.spiketrains[2].annotations["source_index"] == 2
    v = seg.filter(name="v")[0]
    assert v.shape == (11, 3) and list(v.array_annotations["channel_index"]) == [0, 1, 2]
    assert block.annotations["simulator"] == "spinnaker_emu"
    assert p.get_spike_counts()[p[2]] == 2


def test_cfg_file(tmp_path, monkeypatch):
    from spinnaker_emu.pynn import config
    cfg = tmp_path / "emu.cfg"
    cfg.write_text("[Machine]\nmachine_name = 127.0.1.9\nversion = 3\n")
    monkeypatch.setenv("SPINNAKER_EMU_CFG", str(cfg))
    c = config.load()
    assert c.get("Machine", "machine_name") == "127.0.1.9"
    assert c.get_int("Machine", "version") == 3
    assert config.load(version=5).get_int("Machine", "version") == 5
    assert c.get("Machine", "spalloc_server") is None


def test_cfg_errors_name_the_file_and_the_key(tmp_path, monkeypatch):
    from spinnaker_emu.pynn import config
    cfg = tmp_path / "emu.cfg"
    monkeypatch.setenv("SPINNAKER_EMU_CFG", str(cfg))
    cfg.write_text("[Machine]\nversion = five\n[Reports]\nreports_enabled = maybe\n")
    c = config.load()
    with pytest.raises(config.ConfigError, match=r"^%s: \[Machine\] version = five is not a "
                       r"whole number$" % re.escape(str(cfg))):
        c.get_int("Machine", "version")
    with pytest.raises(config.ConfigError, match=r"\[Reports\] reports_enabled = maybe is not "
                       r"True or False$"):
        c.get_bool("Reports", "reports_enabled")
    with pytest.raises(config.ConfigError, match=r"^setup\(version=\.\.\.\): \[Machine\] "
                       r"version = x is not"):
        config.load(version="x").get_int("Machine", "version")
    cfg.write_text("[Machine]\nversion\n")
    with pytest.raises(config.ConfigError, match=r"^%s line 2: 'version' is not key = value$"
                       % re.escape(str(cfg))):
        config.load()


def test_min_delay_auto_is_the_networks_shortest_delay():
    sim.setup(timestep=0.1, min_delay="auto")
    assert sim.get_min_delay() == 0.1
    a, b = sim.Population(3, sim.IF_cond_exp()), sim.Population(4, sim.IF_cond_exp())
    sim.Projection(a, b, sim.AllToAllConnector(), sim.StaticSynapse(delay=0.5))
    assert sim.get_min_delay() == 0.5
    sim.setup(timestep=0.1, min_delay=0.3)
    assert sim.get_min_delay() == 0.3


def test_spike_source_array_records_the_requested_times():
    sim.setup(timestep=0.05)
    src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[0.075, 10.025], [0.1, 0.1]]))
    src.record("spikes")
    # what the runner stores: ticks rint(t / dt) back in ms, a repeat for a doubled spike
    src.recorder.store_spikes([0, 0, 1, 1], [0.05, 10.0, 0.1, 0.1])
    sim.state.t, sim.state.running = 20.0, True
    trains = src.get_data("spikes").segments[0].spiketrains
    assert list(trains[0].magnitude) == [0.075, 10.025]
    assert list(trains[1].magnitude) == [0.1, 0.1]


def test_additive_stdp_steps_spynnaker_or_pynn():
    from spinnaker_emu.pynn import runner
    stdp = sim.STDPMechanism(sim.SpikePairRule(A_plus=0.01, A_minus=0.02),
                             sim.AdditiveWeightDependence(w_min=0.0, w_max=0.5))
    assert runner._stdp_description(stdp)["A_plus"] == pytest.approx(0.01)   # sPyNNaker: A in weight units
    d = runner._stdp_description(stdp, steps_scaled_by_w_max=True)               # stdp_additive_steps = pynn
    assert d["A_plus"] == pytest.approx(0.005) and d["A_minus"] == pytest.approx(0.01)
