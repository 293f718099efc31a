"""The ROM boot protocol (UDP 54321): big-endian packets carrying an SC&MP image.

Also recovers what the host patched into the image (the first 128 bytes of
sv_t at image offset 384) and the SC&MP version string the image carries.
"""
import struct

from .constants import (BOOT_PROTOCOL_VERSION, BOOT_OP_FLOOD_FILL_START, BOOT_OP_FLOOD_FILL_BLOCK,
                        BOOT_OP_FLOOD_FILL_CONTROL, BOOT_HEADER_LEN, BOOT_BLOCK_BYTES,
                        BOOT_MAX_IMAGE, BOOT_SV_OFFSET, BOOT_SV_LEN, DEFAULT_SCAMP_VERSION)
from .sdp import ProtocolError

_HDR = struct.Struct(">HIIII")

# The sv_t values SpiNNMan patches into the boot image (scp.md 2.3); hw_ver, times and
# LEDs depend on the board and the moment, so the host adds those.
BOOT_SV_DEFAULTS = {
    "p2pb_repeats": 4, "p2p_sql": 4, "clk_div": 0x33, "cpu_clk": 200, "mem_clk": 130,
    "forward": 0x3F, "retry": 0x18, "peek_time": 200, "led_period": 1, "netinit_bc_wait": 50,
    "root_chip": 1, "num_buf": 7, "boot_delay": 20, "soft_wdog": 0, "sysram_heap": 1024,
    "sdram_heap": 0, "iobuf_size": 16384, "sdram_bufs": 8 * 1024 * 1024, "sysbuf_size": 32768,
    "link_en": 0x3F,
}


def pack_boot_packet(opcode, op1=0, op2=0, op3=0, data=b""):
    """Boot packet; ``data`` is little-endian image bytes, sent word-swapped."""
    if len(data) % 4:
        data = bytes(data) + b"\0" * (4 - len(data) % 4)
    n = len(data) // 4
    swapped = struct.pack(">%dI" % n, *struct.unpack("<%dI" % n, data)) if n else b""
    return _HDR.pack(BOOT_PROTOCOL_VERSION, opcode, op1, op2, op3) + swapped


def unpack_boot_packet(datagram):
    """Return (opcode, op1, op2, op3, little-endian data)."""
    if len(datagram) < BOOT_HEADER_LEN:
        raise ProtocolError("boot packet truncated")
    version, opcode, op1, op2, op3 = _HDR.unpack_from(datagram, 0)
    if version != BOOT_PROTOCOL_VERSION:
        raise ProtocolError("boot protocol version %d" % version)
    body = datagram[BOOT_HEADER_LEN:]
    n = len(body) // 4
    data = struct.pack("<%dI" % n, *struct.unpack_from(">%dI" % n, body, 0)) if n else b""
    return opcode, op1, op2, op3, data


def boot_packets(image):
    """The packet sequence a host sends to boot ``image``: START, BLOCKs, CONTROL."""
    image = bytes(image)
    if len(image) % 4:
        image += b"\0" * (4 - len(image) % 4)
    if len(image) > BOOT_MAX_IMAGE:
        raise ValueError("boot image larger than 32 KiB")
    n_blocks = (len(image) + BOOT_BLOCK_BYTES - 1) // BOOT_BLOCK_BYTES
    yield pack_boot_packet(BOOT_OP_FLOOD_FILL_START, 0, 0, n_blocks - 1)
    for b in range(n_blocks):
        chunk = image[b * BOOT_BLOCK_BYTES:(b + 1) * BOOT_BLOCK_BYTES]
        yield pack_boot_packet(BOOT_OP_FLOOD_FILL_BLOCK, (255 << 8) | b, 0, 0, chunk)
    yield pack_boot_packet(BOOT_OP_FLOOD_FILL_CONTROL, 1)


class BootAssembler:
    """Collects boot blocks like the ROM loader does. ``feed`` returns the image
    (bytes) when a CONTROL packet completes a full set of blocks, else None.
    Malformed or out-of-range packets are ignored, as the ROM ignores them."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.n_blocks = None
        self.blocks = {}

    def feed(self, datagram):
        try:
            opcode, op1, _op2, op3, data = unpack_boot_packet(datagram)
        except ProtocolError:
            return None
        if opcode == BOOT_OP_FLOOD_FILL_START:
            if op3 + 1 > BOOT_MAX_IMAGE // BOOT_BLOCK_BYTES:
                return None
            self.n_blocks = op3 + 1
            self.blocks = {}
        elif opcode == BOOT_OP_FLOOD_FILL_BLOCK and self.n_blocks is not None:
            block = op1 & 0xFF
            # The word count in op1 is always 255 from real hosts: trust the length.
            if block < self.n_blocks and len(data) <= BOOT_BLOCK_BYTES:
                self.blocks[block] = data
        elif opcode == BOOT_OP_FLOOD_FILL_CONTROL and self.n_blocks is not None:
            if len(self.blocks) == self.n_blocks:
                image = b"".join(self.blocks[i] for i in range(self.n_blocks))
                self.reset()
                return image
            self.reset()
        return None


def image_sv_bytes(image):
    """The 128 sv_t bytes the host patched into the image (little-endian)."""
    sv = bytes(image[BOOT_SV_OFFSET:BOOT_SV_OFFSET + BOOT_SV_LEN])
    return sv + b"\0" * (BOOT_SV_LEN - len(sv))


def image_version(image, name=b"SC&MP/SpiNNaker\0"):
    """The semantic version string following ``name`` in the image ("4.0.0", "3.1.0")."""
    i = bytes(image).find(name)
    if i < 0:
        return DEFAULT_SCAMP_VERSION
    start = i + len(name)
    end = bytes(image).find(b"\0", start)
    text = bytes(image[start:end if end > 0 else start + 16]).decode("ascii", "replace")
    parts = text.split(".")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        return text
    return DEFAULT_SCAMP_VERSION


def version_tuple(text):
    return tuple(int(p) for p in text.split("."))
