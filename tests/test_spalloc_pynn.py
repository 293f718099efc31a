"""A PyNN script with ``spalloc_server`` in its cfg runs on a board the allocator
powers on (through the BMP), and leaves no job behind."""
import os
import subprocess
import sys
import textwrap

from test_spalloc import Cluster, Client, machine_dict, net, DESTROYED

SCRIPT = textwrap.dedent("""
    import json
    import spinnaker_emu.pynn as sim
    sim.setup(timestep=1.0)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[5.0, 15.0]))
    cell = sim.Population(1, sim.IF_curr_exp())
    sim.Projection(src, cell, sim.OneToOneConnector(), sim.StaticSynapse(weight=5.0, delay=1.0))
    cell.record("spikes")
    sim.run(40)
    spikes = cell.get_data("spikes").segments[0].spiketrains[0]
    host = sim.state.runner.host if hasattr(sim.state, "runner") else None
    print(json.dumps({"spikes": [float(t) for t in spikes.magnitude], "host": host}))
    sim.end()
""")


def test_pynn_script_runs_on_an_allocated_board_and_frees_it(tmp_path):
    c = Cluster([machine_dict("m", net(9), 1, 1)], real=True)
    try:
        cfg = tmp_path / "emu.cfg"
        cfg.write_text("[Machine]\nspalloc_server = 127.0.0.1\nspalloc_port = %d\nspalloc_user = pytest\n"
                       "[Reports]\nreports_enabled = False\n" % c.port)
        script = tmp_path / "script.py"
        script.write_text(SCRIPT)
        env = dict(os.environ, SPINNAKER_EMU_CFG=str(cfg))
        out = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True,
                             text=True, timeout=240)
        assert out.returncode == 0, out.stderr[-3000:]
        import json
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["spikes"], "the cell fired on the allocated board"
        if result["host"] is not None:
            assert result["host"] in c.board_ips
        cl = Client(c.port)
        jobs = cl.call("list_jobs")
        assert [j for j in jobs if j["owner"] == "pytest"] == [] or all(
            cl.call("get_job_state", j["job_id"])["state"] == DESTROYED for j in jobs)
        cl.close()
    finally:
        c.close()
