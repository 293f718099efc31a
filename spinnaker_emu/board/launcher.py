"""Start and stop emulated boards from another process (CLI, tests, the BMP).

``start_board`` runs the supervisor as a subprocess in its own session and
returns once every chip listens (UDP ports bound, board unbooted). With
``detach=False`` the supervisor also watches the caller and stops when it exits,
so an embedded board never outlives the script that started it.
"""
import os
import select
import signal
import subprocess
import sys
import time

from . import fabric
from .pidfile import read_pid_file, pid_alive, pid_file

START_TIMEOUT = 60.0


class BoardError(RuntimeError):
    pass


class BoardHandle:
    def __init__(self, ip, version, pid, proc=None, log_path=None):
        self.ip, self.version, self.pid, self.proc, self.log_path = ip, version, pid, proc, log_path

    def alive(self):
        if self.proc is not None:
            return self.proc.poll() is None
        return pid_alive(self.pid)

    def stop(self, timeout=5.0):
        """Stop the supervisor and all its chips; ports are free on return."""
        _terminate(self.pid, timeout, self.proc)

    def __repr__(self):
        return "<board %s SpiNN-%d pid %d>" % (self.ip, self.version, self.pid)


def _terminate(pid, timeout, proc=None):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                break
        elif not pid_alive(pid):
            break
        time.sleep(0.02)
    else:
        # The supervisor leads its own process group: take the whole board down.
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if proc is not None:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    # Chips die with their supervisor (PDEATHSIG); wait until they are gone.
    _wait_group_gone(pid, deadline=time.monotonic() + timeout)


def _wait_group_gone(pgid, deadline):
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        time.sleep(0.02)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def start_board(ip="127.0.1.1", version=5, machine_file=None, log_path=None, detach=False,
                timeout=START_TIMEOUT, boards=1, faults=None):
    """Start a board (or the machine in ``machine_file``); return a BoardHandle when ready."""
    if log_path is None:
        fabric.make_board_dir(ip)
        log_path = os.path.join(fabric.board_dir(ip), "board.log")
    cmd = [sys.executable, "-m", "spinnaker_emu.board.supervisor", "--ip", ip,
           "--version", str(version), "--log", log_path]
    if machine_file:
        cmd += ["--machine", str(machine_file)]
    if boards > 1:
        cmd += ["--boards", str(boards)]
    if not detach:
        cmd += ["--watch-pid", str(os.getpid())]
    for key, value in sorted((faults or {}).items()):     # injected packet loss (faults.py)
        cmd += ["--" + key.replace("_", "-"), str(value)]
    err = open(log_path, "ab")
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True)
    finally:
        err.close()
    line = read_line(proc, timeout)
    proc.stdout.close()
    if not line.startswith("READY"):
        if proc.poll() is None:
            _terminate(proc.pid, 2.0, proc)
        detail = line[6:] if line.startswith("ERROR") else _tail(log_path)
        raise BoardError("board %s did not start: %s" % (ip, detail.strip() or "no reason given"))
    return BoardHandle(ip, version, proc.pid, None if detach else proc, log_path)


def read_line(proc, timeout):
    """The first line a child process writes on its stdout pipe (within ``timeout`` s;
    whatever came if it exits or the time runs out first)."""
    deadline = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    while b"\n" not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
        elif proc.poll() is not None:
            break
    return buf.split(b"\n")[0].decode(errors="replace")


def _tail(path, n=2000):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - n))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def running_boards():
    """[(ip, info)] for every board this user has running."""
    root = os.path.join(fabric.run_root(), "boards")
    out = []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return out
    for ip in names:
        info = read_pid_file(ip)
        if info and pid_alive(info["pid"]) and info.get("ip") == ip:
            out.append((ip, info))
        elif info and not pid_alive(info["pid"]):
            try:
                os.unlink(pid_file(ip))
            except OSError:
                pass
    return out


def stop_board(ip, timeout=5.0):
    """Stop the board on ``ip``; True if one was running."""
    info = read_pid_file(ip)
    if not info or not pid_alive(info["pid"]):
        return False
    if not _is_supervisor(info["pid"]):
        return False
    _terminate(info["pid"], timeout)
    return True


def _is_supervisor(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"spinnaker_emu.board.supervisor" in f.read()
    except OSError:
        return False
