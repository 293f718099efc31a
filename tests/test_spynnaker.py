"""Unmodified sPyNNaker 1!7.4.1 (installed by the test extra) runs PyNN scripts on an
emulated board: it boots the board, maps the network, loads its own ARM binaries
(expanders, IF_curr_exp, spike sources), runs them on the ARM engine and reads the
recordings back. The scripts run in a subprocess with their own HOME, whose
~/.spynnaker.cfg names the board, exactly as a user sets it up (README)."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import Board

pytest.importorskip("spynnaker", reason="sPyNNaker 1!7.4.1 comes with the test extra")

CFG = """[Machine]
{machine}
version = 5
{monitors}
{extra}
"""
NO_MONITORS = "enable_advanced_monitor_support = False\nenable_reinjection = False"

TWO_CELLS = textwrap.dedent("""
    import json
    import BACKEND as p

    p.setup(timestep=1.0)
    source = p.Population(1, p.SpikeSourceArray(spike_times=[10, 30, 50]), label="input")
    cells = p.Population(5, p.IF_curr_exp(), label="cells")
    p.Projection(source, cells, p.AllToAllConnector(), p.StaticSynapse(weight=5.0, delay=1.0))
    cells.record(["spikes", "v"])
    p.run(100)
    block = cells.get_data(["spikes", "v"])
    seg = block.segments[0]
    v = seg.filter(name="v")[0]
    print(json.dumps({"spikes": [st.magnitude.tolist() for st in seg.spiketrains],
                      "v_shape": list(v.shape), "v_first": float(v.magnitude[0][0]),
                      "v0": v.magnitude[:, 0].tolist()}))
    p.end()
""")
SPYNNAKER = "pyNN.spiNNaker"
OURS = "spinnaker_emu.pynn"


def run_spynnaker(tmp_path, board_ip, script, extra_cfg="", timeout=300, monitors=False):
    """``monitors``: sPyNNaker's defaults (extra monitor cores, fast data, reinjection)
    instead of the two lines that switch them off."""
    home = tmp_path / "home"
    home.mkdir(parents=True)
    machine = "machine_name = %s" % board_ip if board_ip else ""
    (home / ".spynnaker.cfg").write_text(CFG.format(machine=machine, extra=extra_cfg,
                                                    monitors="" if monitors else NO_MONITORS))
    (tmp_path / "script.py").write_text(script)
    env = dict(os.environ, HOME=str(home))
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and lines, (proc.stdout[-3000:], proc.stderr[-5000:])
    return json.loads(lines[-1])


def test_spynnaker_boots_the_board_and_runs_a_script_on_arm_cores(tmp_path):
    """The README's example: three input spikes, five cells, each firing 7 ms after each
    input (sPyNNaker's own numerics on its own binary), and 100 ms of membrane voltage."""
    board = Board(5, boot=False)          # unbooted, as after `spinnaker-emu up`: sPyNNaker boots it
    try:
        out = run_spynnaker(tmp_path, board.ip, TWO_CELLS.replace("BACKEND", SPYNNAKER))
    finally:
        board.stop()
    assert out["spikes"] == [[17.0, 34.0, 53.0]] * 5
    assert out["v_shape"] == [100, 5]
    assert out["v_first"] == pytest.approx(-65.0)


def test_spynnaker_with_its_default_extra_monitors_fast_data_and_reinjection(tmp_path):
    """sPyNNaker's defaults: an extra monitor core on every chip (reinjection, fast data
    in) and the packet gatherer on the Ethernet chip (fast data out), all ARM binaries.
    The same cells fire at the same times; the monitors' 10 us timer ticks, idle, are
    folded (fold.py) rather than run 100,000 times a second on 48 chips."""
    import re
    board = Board(5, boot=False)
    try:
        mark = os.path.getsize(board.handle.log_path)     # earlier boards at this address wrote before
        out = run_spynnaker(tmp_path, board.ip, TWO_CELLS.replace("BACKEND", SPYNNAKER), monitors=True)
        with open(board.handle.log_path, "rb") as f:
            f.seek(mark)
            log = f.read().decode(errors="replace")
    finally:
        board.stop()
    assert out["spikes"] == [[17.0, 34.0, 53.0]] * 5
    assert out["v_shape"] == [100, 5]
    monitors = {m.group(1) for m in re.finditer(r"chip (\d+,\d+) core 1: stopped:", log)}
    assert len(monitors) == 48, sorted(monitors)       # an extra monitor on every chip
    folded = [int(n) for n in re.findall(r"(\d+) idle timer ticks folded", log)]
    assert max(folded) > 1000, folded
    assert "RTE" not in log


RECORDED_SOURCES = textwrap.dedent("""
    import json
    import numpy as np
    import pyNN.spiNNaker as p
    p.setup(timestep=1.0)
    rng = np.random.default_rng(1)
    times = [sorted(set(rng.integers(1, 1000, 60).tolist())) for _ in range(1000)]
    src = p.Population(1000, p.SpikeSourceArray(spike_times=times))
    src.record("spikes")
    p.run(1000)
    got = [sorted(float(t) for t in st.magnitude) for st in src.get_data("spikes").segments[0].spiketrains]
    print(json.dumps({"bad": [i for i, (g, w) in enumerate(zip(got, times)) if g != [float(t) for t in w]],
                      "spikes": sum(map(len, got)), "want": sum(map(len, times))}))
    p.end()
""")


def test_fast_data_out_brings_back_a_large_recording_exactly(tmp_path):
    """sPyNNaker's defaults read recordings through fast data out: the extra monitor
    streams the SDRAM region to the gatherer as fixed-route packets, 68 words to each
    SDP message to the host. 1,000 spike sources (~58,000 spikes, ~250 KB) come back
    exactly as they were given. Before the router held fixed-route packets for a full
    receive FIFO, the gatherer lost words of that stream: the host asked for hundreds of
    "lost sequences" and then failed on corrupt data (KeyError in sPyNNaker's neo
    buffer database)."""
    board = Board(5, boot=False)
    try:
        mark = os.path.getsize(board.handle.log_path)
        out = run_spynnaker(tmp_path, board.ip, RECORDED_SOURCES, monitors=True, timeout=600)
        with open(board.handle.log_path, "rb") as f:
            f.seek(mark)
            log = f.read().decode(errors="replace")
    finally:
        board.stop()
    assert out["bad"] == [] and out["spikes"] == out["want"] > 50000, out
    assert "dropped (receive FIFO full)" not in log


def test_spynnaker_gets_its_board_from_our_spalloc_server(tmp_path):
    """[Machine] spalloc_server instead of machine_name: sPyNNaker's old-spalloc path
    creates a job on our allocator, which powers a real board through its BMP; sPyNNaker
    boots that board, runs the script and destroys the job at end()."""
    from test_spalloc import Cluster, Client, machine_dict, net, DESTROYED
    c = Cluster([machine_dict("m", net(11), 1, 1)], real=True)
    try:
        out = run_spynnaker(tmp_path, "", TWO_CELLS.replace("BACKEND", SPYNNAKER).replace(
            "p.end()", "print(json.dumps({'ip': p.get_machine().ethernet_connected_chips[0].ip_address}))\n"
                       "p.end()"),
            extra_cfg="spalloc_server = 127.0.0.1\nspalloc_port = %d\nspalloc_user = pytest" % c.port)
        cl = Client(c.port)
        jobs = [j for j in cl.call("list_jobs") if j["owner"] == "pytest"]
        states = [cl.call("get_job_state", j["job_id"])["state"] for j in jobs]
        cl.close()
    finally:
        c.close()
    assert out["ip"] in c.board_ips
    assert all(s == DESTROYED for s in states), states


def test_spynnaker_binaries_and_our_kernels_give_the_same_cells(tmp_path):
    """The same deterministic network through unmodified sPyNNaker (its IF_curr_exp.aplx
    on the ARM engine) and through our backend (built-in kernels with sPyNNaker's
    fixed-point numerics): identical spike times, and the membrane voltage within 0.005 mV
    at every recorded step (our backend also records t = 100 ms, sPyNNaker stops at 99)."""
    board = Board(5, boot=False)
    try:
        arm = run_spynnaker(tmp_path / "arm", board.ip, TWO_CELLS.replace("BACKEND", SPYNNAKER))
    finally:
        board.stop()
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / "script.py").write_text(TWO_CELLS.replace("BACKEND", OURS))
    proc = subprocess.run([sys.executable, "script.py"], cwd=tmp_path / "ours", env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ours = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    assert ours["spikes"] == arm["spikes"] == [[17.0, 34.0, 53.0]] * 5
    n = len(arm["v0"])
    assert n == 100 and len(ours["v0"]) == 101
    # Not bit-identical yet: after the first input our kernel's v is up to ~0.0015 mV
    # (~50 LSB of s16.15) off sPyNNaker's; equal before it.
    assert ours["v0"][:12] == arm["v0"][:12]
    assert ours["v0"][:n] == pytest.approx(arm["v0"], abs=0.005)


LIVE = textwrap.dedent("""
    import json, socket, threading, time
    import pyNN.spiNNaker as p
    from spynnaker.pyNN.connections import SpynnakerLiveSpikesConnection

    def free_port():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    in_port, out_port = free_port(), free_port()
    p.setup(timestep=1.0)
    inj = p.Population(2, p.external_devices.SpikeInjector(database_notify_port_num=in_port), label="inj")
    cells = p.Population(2, p.IF_curr_exp(tau_syn_E=5.0), label="cells")
    p.Projection(inj, cells, p.OneToOneConnector(), p.StaticSynapse(weight=10.0, delay=1.0))
    cells.record("spikes")
    p.external_devices.activate_live_output_for(cells, database_notify_port_num=out_port)

    sent, got = [], []

    def start_sending(label, conn):
        def go():
            for i in range(6):
                time.sleep(0.25)
                conn.send_spike(label, i % 2, send_full_keys=False)
                sent.append(i % 2)
        threading.Thread(target=go, daemon=True).start()

    def receive(label, t, neuron_ids):
        got.extend([t, n] for n in neuron_ids)

    c_in = SpynnakerLiveSpikesConnection(send_labels=["inj"], local_port=in_port)
    c_in.add_start_resume_callback("inj", start_sending)
    c_out = SpynnakerLiveSpikesConnection(receive_labels=["cells"], local_port=out_port)
    c_out.add_receive_callback("cells", receive)
    p.run(3000)
    rec = [st.magnitude.tolist() for st in cells.get_data("spikes").segments[0].spiketrains]
    print(json.dumps({"sent": sent, "live": got, "recorded": rec}))
    p.end()
""")


def test_live_injection_and_live_output_with_spynnakers_own_connections(tmp_path):
    """SpikeInjector + SpynnakerLiveSpikesConnection send spikes from the host during the
    run (EIEIO through a reverse IP tag into RIPTMCS on a core); each makes its cell fire,
    and activate_live_output_for brings those spikes back to the host during the run
    (LPG on a core, EIEIO through an IP tag that SpiNNMan points at its listening socket
    with "use sender"). What arrives live is exactly what was recorded."""
    board = Board(5, boot=False)
    try:
        out = run_spynnaker(tmp_path, board.ip, LIVE)
    finally:
        board.stop()
    assert out["sent"] == [0, 1, 0, 1, 0, 1]
    recorded = {(int(t), n) for n, times in enumerate(out["recorded"]) for t in times}
    assert all(len(times) >= 3 for times in out["recorded"]), out      # every injection seen
    assert {(int(t), n) for t, n in out["live"]} == recorded


CHAIN = textwrap.dedent("""
    import json
    import pyNN.spiNNaker as p

    p.setup(timestep=1.0)
    src = p.Population(1, p.SpikeSourceArray(spike_times=[5, 15, 25, 40, 60, 80]), label="src")
    stages = [p.Population(4, p.IF_curr_exp(), label="s%d" % i) for i in range(5)]
    prev = src
    for s in stages:
        p.Projection(prev, s, p.AllToAllConnector(), p.StaticSynapse(weight=5.0, delay=1.0))
        prev = s
    for s in stages:
        s.record("spikes")
    p.run(150)
    print(json.dumps({"spikes": [[st.magnitude.tolist() for st in s.get_data("spikes").segments[0].spiketrains]
                                 for s in stages]}))
    p.end()
""")


def test_lockstep_run_over_two_chips_gives_the_same_spikes_as_on_one(tmp_path, monkeypatch):
    """In lockstep (SPINNAKER_EMU_ARM_PACE=free) chips start each quantum together and
    packets between them arrive at the next quantum's start (arm/clocks.py): a chain of
    five IF_curr_exp stages fires at the same times whether sPyNNaker puts it on one
    chip or (max_machine_core = 5) on two, however the host schedules the chips."""
    import re
    monkeypatch.setenv("SPINNAKER_EMU_ARM_PACE", "free")
    board = Board(5, boot=False)
    monkeypatch.delenv("SPINNAKER_EMU_ARM_PACE")
    try:
        one = run_spynnaker(tmp_path / "one", board.ip, CHAIN)
        mark = len(open(board.handle.log_path).read())
        two = run_spynnaker(tmp_path / "two", board.ip, CHAIN, extra_cfg="max_machine_core = 5")
        log = open(board.handle.log_path).read()[mark:]
    finally:
        board.stop()
    chips = set(re.findall(r"chip (\d+,\d+) core \d+: stopped:", log))
    assert len(chips) >= 2, chips
    assert one["spikes"][4][0], one                  # the last stage fires
    assert two == one
