"""Host side of the runtime's small apps (docs/RUNTIME.md, apps/mc_apps.py): put
an app's regions in SDRAM, point user0 at its region table, load the image on
one core with AR, load router entries, read a counter's recording."""
import struct
import time

from ..apps.image import AppImage
from ..apps.regions import pack_region_table, pack_system_region
from ..protocol import constants as C
from ..protocol.constants import SCPCommand as CMD
from ..protocol import words as W
from ..protocol.structs import vcpu_address, RTR_ENTRY
from .scp import SCPError

SYSTEM_REGION_BYTES = 16
PROVENANCE_BYTES = 32


def load_app(conn, x, y, p, kernel, config, app_id, n_ticks, time_scale=None, timer_period_us=1000):
    """Returns (region 1 address, provenance address)."""
    size = SYSTEM_REGION_BYTES + PROVENANCE_BYTES + len(config)
    base = conn.alloc_sdram(x, y, size + 64, app_id)
    table = conn.alloc_sdram(x, y, 64, app_id)
    if not base or not table:
        raise SCPError(C.RC.OK, CMD.ALLOC, x, y, 0)
    region0, prov, region1 = base, base + SYSTEM_REGION_BYTES, base + SYSTEM_REGION_BYTES + PROVENANCE_BYTES
    sysreg = pack_system_region(timer_period_us, n_ticks, time_scale)[:12] + struct.pack("<I", prov)
    conn.write(x, y, region0, sysreg)
    conn.write(x, y, region1, config)
    conn.write(x, y, table, pack_region_table([region0, region1]))
    conn.write_word(x, y, vcpu_address(p, "user0"), table)
    conn.write(x, y, C.SDRAM_SYS, AppImage(kernel, kernel).pack())
    conn.send(x, y, 0, CMD.AR, (W.pack_start(app_id, 0, W.core_mask([p])),))
    return region1, prov


def load_routes(conn, x, y, entries, app_id):
    """entries: [(key, mask, route word)] appended to the chip's table."""
    _rc, payload, _h = conn.send(x, y, 0, CMD.ALLOC, (W.pack_alloc_arg(C.ALLOC_RTR, app_id), len(entries)))
    first = struct.unpack("<I", payload)[0]
    if not first:
        raise SCPError(C.RC.OK, CMD.ALLOC, x, y, 0)
    conn.write(x, y, C.SDRAM_SYS, b"".join(RTR_ENTRY.pack(i, 0, r, k, m) for i, (k, m, r) in enumerate(entries)))
    conn.send(x, y, 0, CMD.RTR, (W.pack_rtr_arg(C.RTR_LOAD, app_id, len(entries)), C.SDRAM_SYS, first))


def source_config(sends):
    """mc_source region: [(tick, key)] sorted by tick."""
    sends = sorted(sends)
    return struct.pack("<I", len(sends)) + b"".join(struct.pack("<II", t, k) for t, k in sends)


def counter_config(capacity):
    return struct.pack("<II", capacity, 0)


def read_counter(conn, x, y, addr):
    """(total received, [(tick, key)] stored)."""
    cap, count = struct.unpack("<II", conn.read(x, y, addr, 8))
    n = min(cap, count)
    raw = conn.read(x, y, addr + 8, 8 * n) if n else b""
    return count, [struct.unpack_from("<II", raw, 8 * i) for i in range(n)]


def count_state(conn, app_id, state, ethernets=((0, 0),)):
    """CMD_COUNT counts one board: sum over every Ethernet chip, as SpiNNMan does."""
    total = 0
    for (x, y) in ethernets:
        total += conn.count_board(x, y, app_id, state)[0]
    return total


def wait_state(conn, app_id, state, n, timeout=10.0, ethernets=((0, 0),), poll=0.01):
    """Poll CMD_COUNT (summed over ``ethernets``) until ``n`` cores of ``app_id`` are in
    ``state``; TimeoutError after ``timeout`` s. (Transceiver.wait_for_cores is the full
    form: per-core states, RTE cores named with their IOBUF.)"""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        try:
            got = count_state(conn, app_id, state, ethernets)
        except SCPError:
            got = None
        if got == n:
            return
        time.sleep(poll)
    raise TimeoutError("app %d: %s cores %s, wanted %d" % (app_id, state.name, got, n))
