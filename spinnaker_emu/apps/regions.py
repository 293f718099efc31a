"""sPyNNaker-style region tables: user0 of a core points at
[magic, version, region 0 address, region 1 address, ...]; region 0 of a
timer-driven app is the system region (see docs/RUNTIME.md)."""
import struct

REGION_TABLE_MAGIC = 0xAD130AD6
REGION_TABLE_VERSION = 0x00010000
SYSTEM_REGION = 0
# system region words
SYS_TIMER_PERIOD, SYS_N_TICKS, SYS_TIME_SCALE_X1000 = range(3)
SYSTEM_REGION_WORDS = 4
FOREVER = 0xFFFFFFFF


def pack_region_table(addresses):
    return struct.pack("<II%dI" % len(addresses), REGION_TABLE_MAGIC, REGION_TABLE_VERSION, *addresses)


def read_region_table(core, n_regions):
    """Region addresses from the table user0 points at; ValueError if it is not one."""
    base = core.user(0)
    if not base:
        raise ValueError("user0 is 0: the host wrote no region table for core %d" % core.p)
    head = core.read(base, 8 + 4 * n_regions)
    magic, version = struct.unpack_from("<II", head, 0)
    if magic != REGION_TABLE_MAGIC:
        raise ValueError("no region table at 0x%08x (magic 0x%08x)" % (base, magic))
    return list(struct.unpack_from("<%dI" % n_regions, head, 8))


def pack_system_region(timer_period_us, n_ticks, time_scale=None):
    """time_scale None (or 0) = lockstep; else the real-time slow-down factor."""
    n = FOREVER if n_ticks is None else int(n_ticks)
    ts = 0 if not time_scale else int(round(time_scale * 1000))
    return struct.pack("<4I", int(timer_period_us), n, ts, 0)


def read_system_region(core, address):
    period, n, ts, _ = struct.unpack("<4I", core.read(address, 16))
    return period, (None if n == FOREVER else n), (ts / 1000.0 if ts else None)
