"""The ``spinnaker-emu`` command: ``status -v`` on a real board with a core in RTE
(rig's test.aplx, a SARK 3 binary, refuses SC&MP 4.0.0 with RTE_VER; see
tests/test_arm.py), and user mistakes as one line on stderr, not a traceback."""
import os
import time

import pytest

import arm_binaries as AB
from conftest import fresh_ip
from spinnaker_emu import cli
from spinnaker_emu.board.launcher import stop_board
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
    assert cli.main(["up", "--ip", up_ip]) == 0
    up_pid = read_pid_file(up_ip)["pid"]
    try:
        capsys.readouterr()
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
