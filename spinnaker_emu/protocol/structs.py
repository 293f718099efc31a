"""Layouts of SC&MP's in-memory structures: sv_t, vcpu_t, iptag_t, router records,
the CMD_INFO chip summary and heap blocks. Offsets follow sark.h."""
import struct
from collections import namedtuple

from .constants import VCPU_BASE, VCPU_SIZE, SV_BASE, SV_BASE_ALIAS, SYSRAM_BASE

Field = namedtuple("Field", "offset fmt")

# sv_t: name -> (offset, struct format)
SV = {
    "p2p_addr": Field(0x00, "<H"),
    "p2p_dims": Field(0x02, "<H"),
    "dbg_addr": Field(0x04, "<H"),
    "p2p_up": Field(0x06, "<B"),
    "last_id": Field(0x07, "<B"),
    "eth_addr": Field(0x08, "<H"),
    "hw_ver": Field(0x0A, "<B"),
    "eth_up": Field(0x0B, "<B"),
    "p2pb_repeats": Field(0x0C, "<B"),
    "p2p_sql": Field(0x0D, "<B"),
    "clk_div": Field(0x0E, "<B"),
    "tp_scale": Field(0x0F, "<B"),
    "clock_ms": Field(0x10, "<Q"),
    "time_ms": Field(0x18, "<H"),
    "ltpc_period": Field(0x1A, "<H"),
    "unix_time": Field(0x1C, "<I"),
    "tp_timer": Field(0x20, "<I"),
    "cpu_clk": Field(0x24, "<H"),
    "mem_clk": Field(0x26, "<H"),
    "forward": Field(0x28, "<B"),
    "retry": Field(0x29, "<B"),
    "peek_time": Field(0x2A, "<B"),
    "led_period": Field(0x2B, "<B"),
    "netinit_bc_wait": Field(0x2C, "<B"),
    "netinit_phase": Field(0x2D, "<B"),
    "p2p_root": Field(0x2E, "<H"),
    "led0": Field(0x30, "<I"),
    "led1": Field(0x34, "<I"),
    "clock_drift": Field(0x38, "<i"),
    "random": Field(0x3C, "<I"),
    "root_chip": Field(0x40, "<B"),
    "num_buf": Field(0x41, "<B"),
    "boot_delay": Field(0x42, "<B"),
    "soft_wdog": Field(0x43, "<B"),
    "sync_alignment": Field(0x44, "<I"),
    "sysram_heap": Field(0x48, "<I"),
    "sdram_heap": Field(0x4C, "<I"),
    "iobuf_size": Field(0x50, "<I"),
    "sdram_bufs": Field(0x54, "<I"),
    "sysbuf_size": Field(0x58, "<I"),
    "boot_sig": Field(0x5C, "<I"),
    "mem_ptr": Field(0x60, "<I"),
    "lock": Field(0x64, "<B"),
    "link_en": Field(0x65, "<B"),
    "last_biff_id": Field(0x66, "<B"),
    "bt_flags": Field(0x67, "<B"),
    "shm_root": Field(0x68, "<IHH"),       # mem_block_t {free, count, max} of the SHM buffers
    "status_map": Field(0x80, "<20s"),
    "p2v_map": Field(0x94, "<20s"),
    "v2p_map": Field(0xA8, "<20s"),
    "num_cpus": Field(0xBC, "<B"),
    "rom_cpus": Field(0xBD, "<B"),
    "board_addr": Field(0xBE, "<H"),
    "sdram_base": Field(0xC0, "<I"),
    "sysram_base": Field(0xC4, "<I"),
    "sdram_sys": Field(0xC8, "<I"),
    "vcpu_base": Field(0xCC, "<I"),
    "sys_heap": Field(0xD0, "<I"),
    "rtr_copy": Field(0xD4, "<I"),
    "hop_table": Field(0xD8, "<I"),
    "alloc_tag": Field(0xDC, "<I"),
    "rtr_free": Field(0xE0, "<H"),
    "p2p_active": Field(0xE2, "<H"),
    "app_data": Field(0xE4, "<I"),
    "shm_buf": Field(0xE8, "<I"),
    "mbox_flags": Field(0xEC, "<I"),
    "ip_addr": Field(0xF0, "<4s"),
    "fr_copy": Field(0xF4, "<I"),
    "board_info": Field(0xF8, "<I"),
    "sw_ver": Field(0xFC, "<I"),
}

# vcpu_t: 128 bytes per core
VCPU = {
    "r": Field(0, "<8I"),
    "psr": Field(32, "<I"),
    "sp": Field(36, "<I"),
    "lr": Field(40, "<I"),
    "rt_code": Field(44, "<B"),
    "phys_cpu": Field(45, "<B"),
    "cpu_state": Field(46, "<B"),
    "app_id": Field(47, "<B"),
    "mbox_ap_msg": Field(48, "<I"),
    "mbox_mp_msg": Field(52, "<I"),
    "mbox_ap_cmd": Field(56, "<B"),
    "mbox_mp_cmd": Field(57, "<B"),
    "sw_count": Field(58, "<H"),
    "sw_file": Field(60, "<I"),
    "sw_line": Field(64, "<I"),
    "time": Field(68, "<I"),
    "app_name": Field(72, "<16s"),
    "iobuf": Field(88, "<I"),
    "sw_ver": Field(92, "<I"),
    "user0": Field(112, "<I"),
    "user1": Field(116, "<I"),
    "user2": Field(120, "<I"),
    "user3": Field(124, "<I"),
}
VCPU_CLEARED_BYTES = 112     # SARK zeroes these when an app starts; user0..3 survive


SV_SYSRAM_OFFSET = SV_BASE - SYSRAM_BASE          # sv_t inside a chip's System RAM buffer


def vcpu_address(core, field=None):
    base = VCPU_BASE + VCPU_SIZE * core
    return base if field is None else base + VCPU[field].offset


def vcpu_sysram_offset(core, field=None):
    """Where core ``core``'s vcpu_t (or one of its fields) is in a System RAM buffer."""
    return vcpu_address(core, field) - SYSRAM_BASE


def sv_address(name, alias=False):
    """The chip address of sv_t field ``name`` (the 0xF5 alias with ``alias``)."""
    return (SV_BASE_ALIAS if alias else SV_BASE) + SV[name].offset


def field_size(layout, name):
    return struct.calcsize(layout[name].fmt)


def unpack_all(layout, buf, base=0):
    """{name: value} of every field of ``layout`` in ``buf`` (a whole vcpu_t, say)."""
    return {name: get_field(layout, buf, name, base) for name in layout}


def get_field(layout, buf, name, base=0):
    f = layout[name]
    v = struct.unpack_from(f.fmt, buf, base + f.offset)
    return v[0] if len(v) == 1 else v


def field_value(layout, name, raw):
    """Field ``name`` from ``raw``, the bytes read at the field's own address."""
    v = struct.unpack_from(layout[name].fmt, raw, 0)
    return v[0] if len(v) == 1 else v


def set_field(layout, buf, name, value, base=0):
    f = layout[name]
    if isinstance(value, (tuple, list)):
        struct.pack_into(f.fmt, buf, base + f.offset, *value)
    else:
        struct.pack_into(f.fmt, buf, base + f.offset, value)


# iptag_t (32 bytes) as returned by CMD_IPTAG GET
IPTAG_T = struct.Struct("<4s6sHHHIHHB7x")


def pack_iptag(ip=b"\0\0\0\0", mac=b"\0" * 6, tx_port=0, timeout=0, flags=0, count=0,
               rx_port=0, dest_addr=0, dest_port_cpu=0):
    return IPTAG_T.pack(ip, mac, tx_port, timeout, flags, count, rx_port, dest_addr, dest_port_cpu)


# Router load record {u16 index; u16 unused; u32 route; u32 key; u32 mask} and the
# copy-table record {u16 next; u16 free; u32 route; u32 key; u32 mask}
RTR_ENTRY = struct.Struct("<HHIII")

# CMD_INFO reply: a1 a2 a3, 18 core states, nearest-Ethernet (y,x), IP, parent link
CHIP_INFO = struct.Struct("<III18sBB4sH")
CHIP_INFO_V3 = struct.Struct("<III18sBB4s")


def pack_chip_info(n_cores, links, largest_rtr, eth_up, largest_sdram, largest_sysram,
                   states, eth_x, eth_y, ip, parent_link, with_parent=True):
    a1 = (n_cores & 0x1F) | ((links & 0x3F) << 8) | ((largest_rtr & 0x7FF) << 14) | (int(eth_up) << 25)
    states = bytes(states)[:18] + bytes(max(0, 18 - len(states)))
    largest_sdram = min(max(largest_sdram, 0), 0xFFFFFFFF)
    largest_sysram = min(max(largest_sysram, 0), 0xFFFFFFFF)
    if with_parent:
        return CHIP_INFO.pack(a1, largest_sdram, largest_sysram, states, eth_y, eth_x, ip, parent_link)
    return CHIP_INFO_V3.pack(a1, largest_sdram, largest_sysram, states, eth_y, eth_x, ip)


def unpack_chip_info(payload):
    a1, a2, a3 = struct.unpack_from("<III", payload, 0)
    states = bytes(payload[12:30])
    eth_y, eth_x = payload[30], payload[31]
    ip = bytes(payload[32:36])
    parent = struct.unpack_from("<H", payload, 36)[0] if len(payload) >= 38 else None
    return {
        "n_cores": a1 & 0x1F, "links": (a1 >> 8) & 0x3F, "largest_rtr": (a1 >> 14) & 0x7FF,
        "eth_up": bool((a1 >> 25) & 1), "largest_sdram": a2, "largest_sysram": a3,
        "states": states, "eth_x": eth_x, "eth_y": eth_y, "ip": ip, "parent_link": parent,
    }


# VER reply payload
VER_HEAD = struct.Struct("<BBHHHI")


def pack_version(virt_cpu, phys_cpu, p2p_addr, name, hardware, version, build_date=0, buf_size=256):
    return (VER_HEAD.pack(virt_cpu, phys_cpu, p2p_addr, buf_size, 0xFFFF, build_date)
            + ("%s/%s" % (name, hardware)).encode() + b"\0" + version.encode() + b"\0")


def unpack_version(payload):
    virt, phys, p2p, buf, _ver, date = VER_HEAD.unpack_from(payload, 0)
    text = bytes(payload[VER_HEAD.size:]).split(b"\0")
    name_hw = text[0].decode(errors="replace")
    version = text[1].decode(errors="replace") if len(text) > 1 else ""
    return {"virt_cpu": virt, "phys_cpu": phys, "x": p2p >> 8, "y": p2p & 0xFF, "p2p": p2p,
            "buffer_size": buf, "build_date": date, "name": name_hw, "version": version}


# sdp_msg_t (sark.h, 292 bytes): {next, length, checksum} then the SDP header, the
# command header and 256 data bytes; ``length`` counts the bytes from the SDP header on.
SDP_MSG_T = struct.Struct("<IHH")
SDP_MSG_SIZE = 292
SDP_MSG_BODY = 8                # offset of the SDP header in sdp_msg_t
SDP_MSG_MAX_BODY = 8 + 16 + 256

# IOBUF block (sark.h iobuf_t): {next block, unix time, ms, bytes used}, then the text
IOBUF_HEAD = struct.Struct("<IIII")
IobufHead = namedtuple("IobufHead", "next time ms used")
IOBUF_USED = 12                 # offset of ``used`` in the header


def pack_iobuf_head(next_block=0, time_s=0, ms=0, used=0):
    return IOBUF_HEAD.pack(next_block, time_s, ms, used)


def unpack_iobuf_head(raw, offset=0):
    return IobufHead(*IOBUF_HEAD.unpack_from(raw, offset))


# Heap: heap_t {free, first, last, free_bytes}; block_t {next, free}
HEAP_T = struct.Struct("<IIII")
BLOCK_T = struct.Struct("<II")


def p2p_live_chips(table, width, height, col_bytes=128):
    """Chips present in a P2P table read from 0xE1010000 (128 bytes per column x; or
    the first ``col_bytes`` of each column, read column by column): every entry other
    than 6 (no route) within width x height."""
    from .constants import P2P_NONE
    out = []
    for x in range(width):
        for y in range(height):
            word = struct.unpack_from("<I", table, col_bytes * x + 4 * (y >> 3))[0]
            if (word >> (3 * (y & 7))) & 7 != P2P_NONE:
                out.append((x, y))
    return out
