"""A running board's record, ``<run dir>/boards/<ip>/board.json`` (written by the
supervisor), and whether a process lives.  Kept apart from supervisor.py so that
``spinnaker-emu status`` and ``down`` read it without importing the chip code (numba:
seconds of start-up)."""
import json
import os

from . import fabric


def pid_file(ip):
    return os.path.join(fabric.board_dir(ip), "board.json")


def read_pid_file(ip):
    try:
        with open(pid_file(ip)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
