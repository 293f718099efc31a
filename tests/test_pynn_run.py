"""The PyNN backend on a real emulated board (started by setup(), stopped by end())."""
import numpy as np

import spinnaker_emu.pynn as sim


def test_simple_network_runs_on_the_board(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sim.setup(timestep=1.0)
    cell = sim.Population(1, sim.IF_curr_exp(), label="cell")
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[0]), label="src")
    sim.Projection(src, cell, sim.OneToOneConnector(), sim.StaticSynapse(weight=5.0, delay=1))
    cell.record(["spikes", "v"])
    src.record("spikes")
    sim.run(10)
    seg = cell.get_data().segments[0]
    v = seg.filter(name="v")[0]
    assert v.shape == (11, 1)
    assert float(v[0, 0]) == -65.0
    assert len(seg.spiketrains[0]) == 1           # sPyNNaker delivers the spike at t=0
    assert list(src.get_data().segments[0].spiketrains[0].magnitude) == [0.0]
    # continue without reset: one segment, v continues
    cell.set(i_offset=5.0)
    sim.run(20)
    seg = cell.get_data().segments[0]
    assert seg.filter(name="v")[0].shape == (31, 1)
    assert len(seg.spiketrains[0]) > 1
    sim.reset()
    sim.run(10)
    data = cell.get_data()
    assert len(data.segments) == 2
    assert data.segments[1].filter(name="v")[0].shape == (11, 1)
    assert (tmp_path / "reports" / "latest" / "provenance.json").exists()
    sim.end()
