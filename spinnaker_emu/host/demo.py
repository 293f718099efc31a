"""``spinnaker-emu demo``: boot an embedded board, flood-load the built-in test
application on cores 1-4 of every chip, check what each core wrote to SDRAM and
IOBUF, stop the application and check the cores are idle again."""
import time

from ..apps.image import AppImage
from ..protocol.constants import CPUState, Signal
from ..protocol.structs import sv_address
from .apps import wait_state
from .loader import flood_load
from .scp import SCPConnection, boot_board

APP_ID = 30
CORES = (1, 2, 3, 4)
ROOT = (255, 255)


def run_demo(ip, version=5, out=print):
    t0 = time.monotonic()
    ver = boot_board(ip, version)
    out("booted %s: %s %s in %.2f s" % (ip, ver["name"], ver["version"], time.monotonic() - t0))
    conn = SCPConnection(ip)
    try:
        _w, _h, chips = conn.live_chips()
        out("machine: %d chips" % len(chips))
        t1 = time.monotonic()
        flood_load(conn, AppImage("test", "demo").pack(), CORES, APP_ID, wait=True)
        want = len(chips) * len(CORES)
        _wait_count(conn, APP_ID, CPUState.WAIT, want)
        conn.signal(APP_ID, Signal.START)
        _wait_count(conn, APP_ID, CPUState.RUN, want)
        out("loaded and started on %d cores in %.2f s" % (want, time.monotonic() - t1))
        bad = 0
        for (x, y) in chips:
            base = conn.read_word(x, y, sv_address("sdram_base"))
            for p in CORES:
                if conn.read_word(x, y, base + 4 * p) != (x << 24) | (y << 16) | p:
                    bad += 1
        x, y = chips[-1]
        out("core %d,%d,%d says: %s" % (x, y, CORES[0], conn.iobuf(x, y, CORES[0]).strip()))
        conn.signal(APP_ID, Signal.STOP)
        _wait_count(conn, APP_ID, CPUState.RUN, 0)
        idle = conn.count(0, CPUState.IDLE)
        out("stopped: %d idle cores; %d wrong SDRAM words" % (idle, bad))
        return 0 if bad == 0 else 1
    finally:
        conn.close()


def _wait_count(conn, app_id, state, n):
    wait_state(conn, app_id, state, n, ethernets=(ROOT,), poll=0.02)
