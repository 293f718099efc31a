"""Constants of the SpiNNaker wire protocols and chip memory map.

One source of truth: every other module imports its numbers from here.
Values are those of SC&MP / SARK (spinnaker_tools ``sark.h``, ``spinnaker.h``)
as documented in shared/protocol/scp.md.
"""
from enum import IntEnum

# --------------------------------------------------------------------- ports
SCP_PORT = 17893          # SCP/SDP to a board's Ethernet chip (and to a BMP)
BOOT_PORT = 54321         # ROM boot loader
UDP_PAD = 2               # padding bytes before an SDP header in UDP
SDP_HEADER_LEN = 8
SCP_HEADER_LEN = 4        # cmd_rc + seq
SCP_ARGS_LEN = 12
SDP_BUF_SIZE = 256        # data bytes per SCP packet
MAX_SCP_UDP = UDP_PAD + SDP_HEADER_LEN + SCP_ARGS_LEN + SCP_HEADER_LEN + SDP_BUF_SIZE  # 282


class SCPCommand(IntEnum):
    VER = 0
    RUN = 1
    READ = 2
    WRITE = 3
    APLX = 4
    FILL = 5
    COUNT = 15
    REMAP = 16
    LINK_READ = 17
    LINK_WRITE = 18
    AR = 19
    NNP = 20
    APP_COPY_RUN = 21
    SIG = 22
    FFD = 23
    AS = 24
    LED = 25
    IPTAG = 26
    SROM = 27
    ALLOC = 28
    RTR = 29
    INFO = 31
    SYNC = 32
    # BMP commands
    BMP_INFO = 48
    FLASH_COPY = 49
    FLASH_ERASE = 50
    FLASH_WRITE = 51
    RESET = 55
    XILINX = 56
    BMP_POWER = 57
    TUBE = 64


class RC(IntEnum):
    OK = 0x80
    LEN = 0x81
    SUM = 0x82
    CMD = 0x83
    ARG = 0x84
    PORT = 0x85
    TIMEOUT = 0x86
    ROUTE = 0x87
    CPU = 0x88
    DEAD = 0x89
    BUF = 0x8A
    P2P_NOREPLY = 0x8B
    P2P_REJECT = 0x8C
    P2P_BUSY = 0x8D
    P2P_TIMEOUT = 0x8E
    PKT_TX = 0x8F


class CPUState(IntEnum):
    DEAD = 0
    PWRDN = 1
    RTE = 2
    WDOG = 3
    INIT = 4
    WAIT = 5        # SpiNNMan calls this READY
    SARK = 6        # SpiNNMan: C_MAIN
    RUN = 7
    SYNC0 = 8
    SYNC1 = 9
    PAUSE = 10
    EXIT = 11       # SpiNNMan: FINISHED
    IDLE = 15


def state_name(value):
    """A cpu_state byte as SARK names it (the number if it is not a state)."""
    try:
        return CPUState(value).name
    except ValueError:
        return str(value)


class Signal(IntEnum):
    INIT = 0
    PWRDN = 1
    STOP = 2
    START = 3
    SYNC0 = 4
    SYNC1 = 5
    PAUSE = 6
    CONT = 7
    EXIT = 8
    TIMER = 9
    USR0 = 10
    USR1 = 11
    USR2 = 12
    USR3 = 13


class RTECode(IntEnum):
    """vcpu_t rt_code: spinnaker_tools sark.h enum rte_code_e without its RTE_ prefix
    (RTE_VER is VERSION here; SpiNNMan's RunTimeError has the same numbers)."""
    NONE = 0
    RESET = 1
    UNDEF = 2
    SVC = 3
    PABT = 4
    DABT = 5
    IRQ = 6
    FIQ = 7
    VIC = 8
    ABORT = 9
    MALLOC = 10
    DIV0 = 11
    EVENT = 12
    SWERR = 13
    IOBUF = 14
    ENABLE = 15
    NULL = 16
    PKT = 17
    TIMER = 18
    API = 19
    VERSION = 20


def rte_name(value):
    """An rt_code as RTECode names it (the number if it is not one)."""
    try:
        return RTECode(value).name
    except ValueError:
        return str(value)


# SIG transport types (arg1 of CMD_SIG)
SIG_TYPE_MC = 0
SIG_TYPE_P2P = 1
SIG_TYPE_NN = 2

# Nearest-neighbour packet commands ((key >> 24) & 15)
NN_SIG0 = 0
NN_RTRC = 1
NN_SIG1 = 4
NN_FFS = 6
NN_FFCS = 7
NN_FFE = 15
NN_SIG0_OP_SIGNAL = 5

# IPTAG operations and flags
IPTAG_NEW, IPTAG_SET, IPTAG_GET, IPTAG_CLR, IPTAG_TTO = range(5)
IPTAG_FLAG_STRIP = 1 << 28
IPTAG_FLAG_REVERSE = 1 << 29
IPTAG_FLAG_USE_SENDER = 1 << 30
TAG_FLAG_VALID = 0x8000
TAG_FLAG_TRANSIENT = 0x4000
TAG_FLAG_ARP = 0x2000
TAG_FLAG_USE_SENDER = 0x0400
TAG_FLAG_REVERSE = 0x0200
TAG_FLAG_STRIP = 0x0100
N_FIXED_TAGS = 8
N_POOL_TAGS = 8
N_TAGS = N_FIXED_TAGS + N_POOL_TAGS
TAG_NONE = 0xFF
IPTAG_T_SIZE = 32

# ALLOC operations
(ALLOC_SDRAM, FREE_SDRAM, FREE_SDRAM_ID, ALLOC_RTR, FREE_RTR, FREE_RTR_ID,
 SDRAM_SPACE, HEAP_TAG_PTR) = range(8)
ALLOC_FLAG_TAG_RETRY = 4

# RTR operations
RTR_INIT, RTR_CLEAR, RTR_LOAD, RTR_FIXED = range(4)

# SDP flags and special addresses
SDPF_REPLY = 0x80
SDPF_SUM = 0x40
SDPF_NR = 0x20
SDP_FLAGS_NO_REPLY = 0x07
SDP_FLAGS_REPLY = 0x87
PORT_ETH = 0xFF           # dest_port_cpu meaning "leave via Ethernet with tag"
ROOT_ADDR = 0xFFFF        # (255, 255): "the root chip"

# ------------------------------------------------------------------ hardware
N_CORES = 18
N_LINKS = 6
N_ROUTER_ENTRIES = 1024
SDRAM_SIZE = 128 * 1024 * 1024
SYSRAM_SIZE = 32 * 1024
ROUTE_UNUSED = 0xFF000000

# Address map
ITCM_BASE = 0x00000000
DTCM_BASE = 0x00400000
SDRAM_BASE = 0x60000000
SDRAM_BASE_UNBUF = 0x70000000
ROUTER_BASE = 0xE1000000
ROUTER_BASE_ALIAS = 0xF1000000
SYSCTL_BASE = 0xE2000000
SYSCTL_BASE_ALIAS = 0xF2000000
SYSRAM_BASE = 0xE5000000
SYSRAM_BASE_ALIAS = 0xF5000000
ROM_BASE = 0xF6000000

# Router register offsets
RTR_CONTROL = 0x00
RTR_STATUS = 0x04
RTR_ERROR_HEADER = 0x08
RTR_ERROR_STATUS = 0x14
RTR_DIAG_CLEAR = 0x2C
RTR_FIXED_ROUTE = 0x84
RTR_DIAG_FILTERS = 0x200
RTR_DIAG_COUNTERS = 0x300
# Emulator only, read-only: multicast packets sent on links 0..5 (6 words right after the
# 16 diagnostic counters, so one 88-byte READ gets both). A real router has no per-link
# counter here; hosts read it only from a board that answered the bulk HELLO (docs/BULK.md).
RTR_EMU_LINK_COUNTERS = 0x340
RTR_EMU_LINK_WORDS = 6
RTR_MC_ROUTES = 0x4000
RTR_MC_KEYS = 0x8000
RTR_MC_MASKS = 0xC000
RTR_P2P_TABLE = 0x10000
P2P_TABLE_WORDS = 8192
P2P_NONE = 6              # no route
P2P_SELF = 7              # this chip

# System RAM layout
VCPU_BASE = 0xE5007000
VCPU_SIZE = 128
SV_BASE = 0xE5007F00
SV_SIZE = 256
SV_BASE_ALIAS = 0xF5007F00
SYSRAM_HEAP_BASE = 0xE5000100

# SDRAM layout
SDRAM_SYS = 0x67800000          # APLX load area (sv->sdram_sys)
SDRAM_SYS_SIZE = 256 * 1024
SDRAM_TOP = SDRAM_BASE + SDRAM_SIZE

# SARK's shared structures (sark.h): mailbox commands, spin locks, app flags
class ShmCmd(IntEnum):
    IDLE = 0
    MSG = 1
    NOP = 2
    SIGNAL = 3
    CMD = 4


class Lock(IntEnum):
    MSG = 0
    MBOX = 1
    ETHER = 2
    GPIO = 3
    API_ROOT = 4
    SEMA = 5
    HEAP = 6
    RTR = 7


APP_FLAG_WAIT = 1 << 0          # app_flags bit: wait in WAIT for the START signal
CPU_CLOCK_HZ = 200_000_000      # sv->cpu_clk 200 MHz: the ARM cores' virtual clock
MONITOR_CPU = 0                 # the monitor's physical (and virtual) core

# Software versions the images carry
SCAMP_NAME = "SC&MP"
SARK_NAME = "SARK"
HARDWARE_NAME = "SpiNNaker"
BMP_NAME = "BC&MP"
BMP_HARDWARE = "Spin5-BMP"
BMP_VERSION = "2.1.2"
DEFAULT_SCAMP_VERSION = "4.0.0"

# Boot protocol
BOOT_PROTOCOL_VERSION = 1
BOOT_OP_FLOOD_FILL_START = 0x01
BOOT_OP_FLOOD_FILL_BLOCK = 0x03
BOOT_OP_FLOOD_FILL_CONTROL = 0x05
BOOT_OP_HELLO = 0x41
BOOT_HEADER_LEN = 18
BOOT_BLOCK_BYTES = 1024
BOOT_MAX_IMAGE = 32 * 1024
BOOT_SV_OFFSET = 384            # image bytes 384..511 = first 128 bytes of sv_t
BOOT_SV_LEN = 128
