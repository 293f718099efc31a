"""The argument words of SCP commands and nearest-neighbour packets, packed and
unpacked in one place for the host (which builds them) and the monitor (which
takes them apart). Layouts follow SC&MP's scamp-cmd.c / scamp-nn.c (scp.md).

Each ``pack_*`` has its ``unpack_*``; tests/test_protocol.py round-trips them.
"""
import struct
from collections import namedtuple

from . import constants as C

# ----------------------------------------------------------------- start word
# AR arg1, AS arg2, APP_COPY_RUN arg3, FFE data: [31:24] app id, [23:18] flags,
# [17:0] core mask (bit 0, the monitor, must be clear).
CORE_MASK_BITS = 0x3FFFF
Start = namedtuple("Start", "app_id flags mask")


def pack_start(app_id, flags=0, mask=0):
    return ((app_id & 0xFF) << 24) | ((flags & 0x3F) << 18) | (mask & CORE_MASK_BITS)


def unpack_start(word):
    return Start((word >> 24) & 0xFF, (word >> 18) & 0x3F, word & CORE_MASK_BITS)


def core_mask(cores):
    """The core-mask bits of application cores ``cores`` (1..17)."""
    m = 0
    for p in cores:
        if not 1 <= p < C.N_CORES:
            raise ValueError("core %d is not an application core" % p)
        m |= 1 << p
    return m


# ----------------------------------------------------------------- NN packets
# key [27:24] is the NN command; forward/retry words go in NNP arg3 and FFD arg1.
NN_FORWARD = 0x3F                   # forward on all six links
NN_RETRY = 0x18                     # sv->retry as SpiNNMan and rig send it
NN_FWD_RTY = (NN_FORWARD << 8) | NN_RETRY
NN_FFS_ID_FLAG = 1 << 31            # FFS arg3: "the flood id is in the key"
FFE_FWD = NN_FORWARD << 8           # FFE arg3: forward, no retry
FFD_BLOCK = 256                     # bytes per FFD block
MAX_FLOOD_BLOCKS = 255
REGION_ALL = 0xFFFF | (3 << 16)     # FFCS region: every chip (level 3, all 16 sub-blocks)


def nn_command(key):
    return (key >> 24) & 0xF


def pack_ffs(flood_id, n_blocks):
    """(key, data, arg3) of NNP flood-fill start."""
    return ((C.NN_FFS << 24) | ((flood_id & 0xFF) << 16) | ((n_blocks & 0xFF) << 8), 0,
            NN_FFS_ID_FLAG | NN_FWD_RTY)


def unpack_ffs(key):
    """(flood id, number of blocks) of an FFS key."""
    return (key >> 16) & 0xFF, (key >> 8) & 0xFF


def pack_ffcs(mask, region=REGION_ALL):
    """(key, data, arg3) of NNP flood-fill core select."""
    return (C.NN_FFCS << 24) | (mask & CORE_MASK_BITS), region, NN_FWD_RTY


def unpack_ffcs(key):
    return key & CORE_MASK_BITS


def pack_ffe(flood_id, app_id, flags=0):
    """(key, data, arg3) of NNP flood-fill end: the data is a start word (no cores:
    the FFCS selected them)."""
    return (C.NN_FFE << 24) | (flood_id & 0xFF), pack_start(app_id, flags), FFE_FWD


def pack_region(bx, by, bits, level=3):
    """An FFCS region word (SC&MP 3): the 4x4 block at (bx, by) (multiples of 4), its
    chips ``bits`` (bit (x & 3) + 4 * (y & 3)), at ``level``."""
    return ((bx & 0xFF) << 24) | ((by & 0xFF) << 16) | ((level & 3) << 16) | (bits & 0xFFFF)


def in_region(region, x, y):
    """SC&MP 3.x flood-fill region membership (level in bits 16-17, 4x4 sub-block mask)."""
    level = (region >> 16) & 3
    shift = 6 - 2 * level
    mask = 0xFF ^ ((4 << shift) - 1)
    if (x & mask) != ((region >> 24) & mask) or (y & mask) != ((region >> 16) & mask):
        return False
    bit = ((x >> shift) & 3) + 4 * ((y >> shift) & 3)
    return bool(region & (1 << bit))


def pack_ffd(flood_id, block, n_bytes, address):
    """(arg1, arg2, arg3) of CMD_FFD: block ``block`` of ``n_bytes`` (4..256) to ``address``."""
    return ((NN_FORWARD << 24) | (NN_RETRY << 16) | (flood_id & 0xFFFF),
            ((block & 0xFF) << 16) | (((n_bytes // 4) - 1) << 8), address)


def unpack_ffd(arg1, arg2):
    """(flood id, block, number of bytes) of CMD_FFD's first two arguments."""
    return arg1 & 0xFFFF, (arg2 >> 16) & 0xFF, 4 * (((arg2 >> 8) & 0xFF) + 1)


# ----------------------------------------------------------------- signals
# CMD_SIG arg2 (and the NN SIG0 data's low 20 bits): [19:16] signal, [15:8] app mask,
# [7:0] app id. SC&MP 3's P2P state count adds [22] "count", [21:20] mode.
SIGNAL_WORD_BITS = 0x000FFFFF
Sig = namedtuple("Sig", "signal app_mask app_id")
SIG_COUNT_FLAG = 1 << 22
SIG_COUNT_MODE_ALL = 2


def pack_signal(signal, app_id, app_mask=0xFF):
    return ((int(signal) & 0xF) << 16) | ((app_mask & 0xFF) << 8) | (app_id & 0xFF)


def unpack_signal(word):
    return Sig((word >> 16) & 0xF, (word >> 8) & 0xFF, word & 0xFF)


def pack_state_count(state, app_id, app_mask=0xFF):
    """CMD_SIG type P2P arg2 of SC&MP 3's state count."""
    return (SIG_COUNT_MODE_ALL << 20) | SIG_COUNT_FLAG | pack_signal(state, app_id, app_mask)


def is_state_count(word):
    return bool(word & SIG_COUNT_FLAG)


# ----------------------------------------------------------------- IPTAG
# arg1: [31:28] flags (STRIP, REVERSE, USE_SENDER), [27:24] timeout, [23:16] op,
# [15:8] reverse tag's dest port/cpu (sdp port << 5 | cpu), [7:0] tag.
IPTAG_STRIP, IPTAG_REVERSE, IPTAG_USE_SENDER = 1, 2, 4
IptagArg = namedtuple("IptagArg", "op tag flags timeout dest_port_cpu")


def pack_iptag_arg(op, tag=0, flags=0, timeout=0, dest_port_cpu=0):
    return (((flags & 0xF) << 28) | ((timeout & 0xF) << 24) | ((op & 0xFF) << 16)
            | ((dest_port_cpu & 0xFF) << 8) | (tag & 0xFF))


def unpack_iptag_arg(a1):
    return IptagArg((a1 >> 16) & 0xFF, a1 & 0xFF, (a1 >> 28) & 0xF, (a1 >> 24) & 0xF, (a1 >> 8) & 0xFF)


def pack_reverse_dest(x, y, port):
    """IPTAG SET arg2 of a reverse tag: the core's chip and the UDP port it listens on."""
    return ((x & 0xFF) << 24) | ((y & 0xFF) << 16) | (port & 0xFFFF)


def unpack_reverse_dest(a2):
    """(x, y, port) of a reverse tag's arg2 (port alone for a forward tag)."""
    return (a2 >> 24) & 0xFF, (a2 >> 16) & 0xFF, a2 & 0xFFFF


def pack_tto_reply(old_timeout):
    """IPTAG TTO's answer: fixed and pool tag counts, iptag_t size, the old timeout."""
    return (C.N_FIXED_TAGS << 24) | (C.N_POOL_TAGS << 16) | (C.IPTAG_T_SIZE << 8) | (old_timeout & 0xFF)


# ----------------------------------------------------------------- ALLOC / RTR
# ALLOC arg1: [23:16] extra flags, [15:8] app id, [7:0] op.
# RTR arg1: [31:16] count, [15:8] app id, [7:0] op.
OpArg = namedtuple("OpArg", "op app_id extra")


def pack_alloc_arg(op, app_id=0, extra=0):
    return ((extra & 0xFF) << 16) | ((app_id & 0xFF) << 8) | (op & 0xFF)


def unpack_alloc_arg(a1):
    return OpArg(a1 & 0xFF, (a1 >> 8) & 0xFF, (a1 >> 16) & 0xFF)


def pack_rtr_arg(op, app_id=0, count=0):
    return ((count & 0xFFFF) << 16) | ((app_id & 0xFF) << 8) | (op & 0xFF)


def unpack_rtr_arg(a1):
    return OpArg(a1 & 0xFF, (a1 >> 8) & 0xFF, (a1 >> 16) & 0xFFFF)


RTR_FIXED_READ = 0x80000000         # RTR FIXED arg2: read the fixed route instead of setting it
FIXED_ROUTE_BITS = 0xFFFFFF

# ----------------------------------------------------------------- runtime command
# SDP to an application core's RUNNING_COMMAND_SDP_PORT (sPyNNaker's simulation.c as
# our kernels understand it, docs/RUNTIME.md): cmd_rc, seq, then run length and
# "run forever"; STOP has no arguments.
RUNNING_COMMAND_PORT = 1
CMD_RUNTIME, CMD_STOP = 1, 2
RUN_FOREVER = 0xFFFFFFFF
SIM_COMMAND = struct.Struct("<HHIII")
SimCommand = namedtuple("SimCommand", "cmd n_ticks infinite")


def pack_runtime(n_ticks, infinite=False):
    """The data of a runtime SDP command (what follows the SDP header)."""
    return SIM_COMMAND.pack(CMD_RUNTIME, 0, n_ticks & 0xFFFFFFFF, int(bool(infinite)), 0)


def unpack_sim_command(data):
    """(cmd, n_ticks, infinite) of an SDP command's data; absent words are 0; None if
    shorter than its command word."""
    if len(data) < 4:
        return None
    cmd = int.from_bytes(data[0:2], "little")
    n = int.from_bytes(data[4:8], "little") if len(data) >= 8 else 0
    infinite = int.from_bytes(data[8:12], "little") if len(data) >= 12 else 0
    return SimCommand(cmd, n, bool(infinite))
