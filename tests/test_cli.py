"""The ``spinnaker-emu`` command: ``status -v`` on a real board with a core in RTE
(rig's test.aplx, a SARK 3 binary, refuses SC&MP 4.0.0 with RTE_VER; see
tests/test_arm.py), and user mistakes as one line on stderr, not a traceback."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import arm_binaries as AB
from conftest import fresh_ip
from spinnaker_emu import cli
from spinnaker_emu.board.launcher import running_boards, start_board, stop_board
from spinnaker_emu.board.pidfile import pid_alive, read_pid_file
from spinnaker_emu.host.scp import nothing_listens
from spinnaker_emu.host.transceiver import Transceiver
from spinnaker_emu.protocol.constants import CPUState, RTECode


def test_status_verbose_names_the_rt_code_of_a_core_in_rte(make_board, capsys):
    with open(AB.require_aplx("test.aplx"), "rb") as f:
        aplx = f.read()
    b = make_board(version=3, boot=False)
    tx = Transceiver(b.ip, version=3)            # boots SC&MP 4.0.0
    try:
        tx.execute_flood({(0, 1): [4]}, aplx, 30, wait=True)
        tx.wait_for_cores({(0, 1): [4]}, CPUState.RTE, timeout=5)
        assert tx.get_cpu_info(0, 1, 4)["rt_code"] == RTECode.VERSION
    finally:
        tx.close()
    capsys.readouterr()

    assert cli.main(["status", "-v", "--ip", b.ip]) == 0
    out = capsys.readouterr().out
    assert "4:RTE(30,test)" in out                      # the chip's summary line
    lines = [line.split() for line in out.splitlines() if line.split()[:2] == ["core", "4"]]
    assert len(lines) == 1, out
    assert lines[0][2:7] == ["RTE", "app", "30", "test", "rt_code"]
    assert lines[0][7:9] == ["VERSION", "(20)"]          # SARK's RTE_VER
    assert lines[0][9] == "psr" and lines[0][13] == "lr"

    assert cli.main(["status", "--ip", b.ip]) == 0      # without -v: the summary only
    out = capsys.readouterr().out
    assert "4:RTE(30,test)" in out and "rt_code" not in out


@pytest.mark.parametrize("argv", [
    ["status", "--ip", "not-an-address"],
    ["boot", "--ip", "127.0.1.300"],
    ["status", "-v", "surplus"],
    ["no-such-command"],
])
def test_a_usage_mistake_is_one_line(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spinnaker-emu") and "Traceback" not in err


@pytest.mark.parametrize("command", ["status", "boot"])
def test_no_board_at_an_address_is_said_at_once(command, capsys):
    ip = fresh_ip()                                     # nothing runs there
    t0 = time.monotonic()
    assert cli.main([command, "--ip", ip]) == 1
    assert time.monotonic() - t0 < 2.0                  # boot used to wait 20 s
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "spinnaker-emu: no board at %s (`spinnaker-emu up --ip %s` starts one)\n" % (
        ip, ip)


# status: each board's host and its processes' figures (psutil), e.g.
# "  host vm: 49 processes, CPU 0.0 % now, 1.7 s in all, RSS 4239 MiB (summed)"
PROCESS_LINE = re.compile(r"  host \S+: \d+ processes, CPU [\d.]+ % now, [\d.]+ s in all, "
                          r"RSS \d+ MiB \(summed\)$")


def test_status_of_the_second_board_of_a_machine_shows_that_machine(tmp_path, capsys):
    """The second board of an unbooted triad answers no SCP; it is still a board (it
    used to be "no board at" it)."""
    ips = [fresh_ip() for _ in range(3)]
    path = tmp_path / "triad.toml"
    path.write_text('version = 5\ntriads = [1, 1]\n[boards]\n"0,0,0" = "%s"\n"0,0,1" = "%s"\n'
                    '"0,0,2" = "%s"\n' % tuple(ips))
    h = start_board(ips[0], 5, machine_file=str(path))
    try:
        assert cli.main(["status", "--ip", ips[1]]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == "board %s: SpiNN-5, 144 chips, supervisor pid %d" % (ips[0], h.pid)
        assert PROCESS_LINE.match(lines[1]), lines[1]          # psutil figures
        assert lines[2:] == ["  not booted (SCP is ignored until boot)"]
    finally:
        h.stop()


def test_failures_are_one_line(tmp_path, capsys):
    ip = fresh_ip()                                     # nothing runs there

    missing = str(tmp_path / "none.toml")
    assert cli.main(["up", "--ip", ip, "--machine", missing]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and missing in err

    bad = tmp_path / "bad.toml"
    bad.write_text("version = [\n")
    assert cli.main(["up", "--ip", ip, "--machine", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err
    assert cli.main(["down", "--ip", ip]) == 1          # nothing was started


def test_bare_down_stops_only_the_boards_up_started(make_board, tmp_path, monkeypatch, capsys):
    """A script's board (here: a test's, which watches this process as the runner's
    does) stays up; `down --ip` still stops it. Its own run directory: the machine's
    other boards are no business of this test."""
    monkeypatch.setenv("SPINNAKER_EMU_RUN_DIR", str(tmp_path))
    assert cli.main(["down"]) == 0
    assert capsys.readouterr().out == "no boards running\n"

    script_board = make_board(boot=False)
    up_ip = fresh_ip()
    up = subprocess.run([sys.executable, "-m", "spinnaker_emu.cli", "up", "--ip", up_ip],
                        capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    up_pid = read_pid_file(up_ip)["pid"]
    try:
        assert cli.main(["down"]) == 0
        out = capsys.readouterr().out.splitlines()
        left = "board %s left running: pid %d (" % (script_board.ip, os.getpid())
        assert sorted(line[:len(left)] if line.startswith(left) else line for line in out) == \
            sorted([left, "board %s stopped" % up_ip]), out
        assert not pid_alive(up_pid)
        assert script_board.handle.alive() and not nothing_listens(script_board.ip)

        assert cli.main(["down", "--ip", script_board.ip]) == 0
        assert capsys.readouterr().out == "board %s stopped\n" % script_board.ip
        assert not script_board.handle.alive()
        assert cli.main(["down"]) == 0
        assert capsys.readouterr().out == "no boards running\n"
    finally:
        stop_board(up_ip)


# ---------------------------------------------------------------- spinnaker-emu run
TINY = """\
import sys
import spinnaker_emu.pynn as sim
sim.setup(timestep=1.0)
cell = sim.Population(1, sim.IF_curr_exp(), label="cell")
src = sim.Population(1, sim.SpikeSourceArray(spike_times=[0]), label="input")
sim.Projection(src, cell, sim.OneToOneConnector(), sim.StaticSynapse(weight=5.0, delay=DELAY))
sim.run(10)
sim.end()
"""


def _run(tmp_path, script_text, cfg_text="", name="script.py", *extra):
    """`spinnaker-emu run` as a user starts it, in its own process, with a cfg file and
    run directory of its own: (exit status, stdout, stderr, wall seconds)."""
    script = tmp_path / name
    script.write_text(script_text)
    cfg = tmp_path / "test.cfg"
    cfg.write_text(cfg_text)
    env = dict(os.environ, SPINNAKER_EMU_CFG=str(cfg), SPINNAKER_EMU_RUN_DIR=str(tmp_path / "run"))
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "spinnaker_emu.cli", "run", *extra, str(script)],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def _footer(out):
    """The run's last lines: '<name> failed in N s (exit 1; ...)'."""
    lines = [line for line in out.splitlines() if line.startswith("spinnaker-emu run: ")]
    assert lines, out
    return lines[-1]


@pytest.mark.parametrize("case, script, cfg, first_line", [
    ("syntax", "import spinnaker_emu.pynn as sim\nsim.setup(\n", "",
     "spinnaker-emu run: script.py line 2: SyntaxError: '(' was never closed"),
    ("pyNN ConnectionError", TINY.replace("DELAY", "200"), "",
     "spinnaker-emu run: script.py line 6: ConnectionError: Projection 'input→cell' has a "
     "delay of 200 ms (200 timesteps); SpiNNaker supports at most 144 timesteps (144 ms at "
     "timestep 1 ms) with delay extensions. Use shorter delays or a larger timestep."),
    ("cfg value", TINY.replace("DELAY", "1"), "[Machine]\nversion = five\n",
     "spinnaker-emu run: script.py line 7: ConfigError: {cfg}: [Machine] version = five "
     "is not a whole number"),
    ("cfg syntax", TINY.replace("DELAY", "1"), "Machine]\nversion = 5\n",
     "spinnaker-emu run: script.py line 7: ConfigError: {cfg} line 1: 'Machine]' comes "
     "before any [section] header"),
])
def test_a_script_error_is_one_line_and_the_footer(tmp_path, case, script, cfg, first_line):
    rc, out, err, _s = _run(tmp_path, script, cfg)
    assert rc == 1
    assert err.splitlines() == [first_line.format(cfg=tmp_path / "test.cfg")], err
    assert _footer(out).startswith("spinnaker-emu run: script.py failed in ")
    assert _footer(out).endswith(" s (exit 1; --debug shows the traceback)")


def test_debug_shows_the_traceback_too(tmp_path):
    rc, out, err, _s = _run(tmp_path, TINY.replace("DELAY", "200"), "", "script.py", "--debug")
    assert rc == 1
    assert err.startswith("Traceback (most recent call last):\n")
    assert err.splitlines()[-1].startswith("spinnaker-emu run: script.py line 6: ConnectionError")
    assert _footer(out).endswith(" s (exit 1)")


def test_a_bug_in_the_script_keeps_its_traceback_from_the_script_on(tmp_path):
    rc, out, err, _s = _run(tmp_path, "import spinnaker_emu.pynn as sim\nsim.setup()\nnope\n")
    assert rc == 1
    script = tmp_path / "script.py"
    assert err.splitlines() == ["Traceback (most recent call last):",
                                '  File "%s", line 3, in <module>' % script, "    nope",
                                "NameError: name 'nope' is not defined"]
    assert _footer(out).endswith(" s (exit 1)")


def test_a_machine_name_with_no_board_fails_at_once(tmp_path):
    ip = fresh_ip()
    rc, out, err, seconds = _run(tmp_path, TINY.replace("DELAY", "1"),
                                 "[Machine]\nmachine_name = %s\n" % ip)
    assert rc == 1 and seconds < 15                      # was an SCPTimeout after 20 s
    assert err.splitlines() == [
        "spinnaker-emu run: script.py line 7: ConfigError: %s: [Machine] machine_name = %s "
        "names no board (start one with `spinnaker-emu up --ip %s`, or leave machine_name "
        "out and the script gets a board of its own)" % (tmp_path / "test.cfg", ip, ip)]
    assert _footer(out).startswith("spinnaker-emu run: script.py failed in ")


def test_a_spalloc_server_that_is_not_there(tmp_path):
    ip = fresh_ip()
    rc, out, err, _s = _run(tmp_path, TINY.replace("DELAY", "1"),
                            "[Machine]\nspalloc_server = %s\nspalloc_port = 22244\n" % ip)
    assert rc == 1
    assert err.splitlines() == [
        "spinnaker-emu run: script.py line 7: ConfigError: %s: [Machine] spalloc_server = %s "
        "(port 22244): no allocator answers (Connection refused)" % (tmp_path / "test.cfg", ip)]


def test_a_mapping_error_on_a_real_board(tmp_path):
    """The script's own board starts, boots and is discovered; the mapper refuses."""
    script = ("import spinnaker_emu.pynn as sim\nsim.setup(timestep=1.0)\n"
              "sim.set_number_of_neurons_per_core(sim.IF_curr_exp, 1 << 20)\n"
              "cells = sim.Population(10, sim.IF_curr_exp(), label='cells')\n"
              "sim.run(10)\nsim.end()\n")
    rc, out, err, _s = _run(tmp_path, script)
    assert rc == 1
    assert err.splitlines() == [
        "spinnaker-emu run: script.py line 5: MappingError: 1048576 neurons per core for "
        "'cells': at most 8192 fit a core's key space"]
    assert _footer(out).endswith(" s (exit 1; --debug shows the traceback)")


def test_ctrl_c_stops_the_scripts_board_and_prints_the_footer(tmp_path, monkeypatch):
    script = tmp_path / "long.py"
    script.write_text("import spinnaker_emu.pynn as sim\nsim.setup(timestep=1.0)\n"
                      "cell = sim.Population(1, sim.IF_curr_exp(), label='cell')\n"
                      "sim.run(1)\n"
                      # one line: Ctrl-C lands on it whether the print or a run has it
                      "for _ in range(10**6): print('running', flush=True); sim.run(1000)\n")
    monkeypatch.setenv("SPINNAKER_EMU_RUN_DIR", str(tmp_path / "run"))   # ours and its
    env = dict(os.environ, SPINNAKER_EMU_CFG=str(tmp_path / "none.cfg"))
    p = subprocess.Popen([sys.executable, "-m", "spinnaker_emu.cli", "run", str(script)],
                         cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline() == "running\n"        # the board runs the ticks now
        boards = [info for _ip, info in running_boards()]
        assert len(boards) == 1 and boards[0]["watch_pid"] == p.pid
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130
    assert err.splitlines() == ["spinnaker-emu run: long.py line 5: interrupted (Ctrl-C)"]
    assert _footer(out).startswith("spinnaker-emu run: long.py failed in ")
    assert _footer(out).endswith(" s (exit 130; --debug shows the traceback)")
    assert not pid_alive(boards[0]["pid"])               # the board stopped with the script


def test_run_without_a_script_names_what_is_missing(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["run"])
    assert e.value.code == 2
    assert capsys.readouterr().err == ("spinnaker-emu run: error: the following arguments "
                                       "are required: script (see spinnaker-emu run -h)\n")


def test_status_into_a_pipe_closed_early_says_nothing(make_board):
    """`spinnaker-emu status | head`: the reader is gone before status writes (stdout to a
    pipe is block-buffered, so before this fix the write at exit raised BrokenPipeError)."""
    b = make_board()
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)
    p = subprocess.Popen([sys.executable, "-m", "spinnaker_emu.cli", "status", "--ip", b.ip],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    assert p.wait(timeout=60) == 1
    assert p.stderr.read() == b""
    p.stderr.close()

    p = subprocess.run([sys.executable, "-m", "spinnaker_emu.cli", "status", "--ip", b.ip],
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == ""
    lines = p.stdout.splitlines()
    assert lines[0] == "board %s: SpiNN-5, 48 chips, supervisor pid %d" % (b.ip, b.handle.pid)
    assert PROCESS_LINE.match(lines[1]), lines[1]
    assert lines[2] == "  SC&MP/SpiNNaker 4.0.0, root chip (0,0)"
