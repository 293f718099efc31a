"""The emulated executable image format, and recognition of real ARM APLX images.

An emulated image is what a host loads where an ARM binary would go (SDRAM at
sv->sdram_sys, through WRITE / flood fill / APP_COPY_RUN). Layout, little-endian:

    0   8   magic b"SEMUAPP\\0"
    8   4   format version (1)
    12  4   total length in bytes (a multiple of 4)
    16  16  kernel name, NUL padded (which built-in kernel runs it)
    32  16  application name, NUL padded (what vcpu->app_name shows)
    48  4   kernel version
    52  4   length of the parameter block that follows
    56  n   parameter block (kernel specific), then zero padding to a word

A real SpiNNaker APLX starts with its APLX table: 16-byte records whose first
word is an op code (1 ACOPY, 2 RCOPY, 3 FILL, 4 EXEC; 0xFFFFFFFF END).
"""
import struct
from dataclasses import dataclass

MAGIC = b"SEMUAPP\0"
FORMAT_VERSION = 1
_HEAD = struct.Struct("<8sII16s16sII")
HEADER_LEN = _HEAD.size   # 56
APLX_OPS = (1, 2, 3, 4)
APLX_END = 0xFFFFFFFF


@dataclass
class AppImage:
    kernel: str
    app_name: str
    kernel_version: int = 1
    params: bytes = b""

    def pack(self):
        body = bytes(self.params)
        total = HEADER_LEN + len(body)
        total += (-total) % 4
        head = _HEAD.pack(MAGIC, FORMAT_VERSION, total, self.kernel.encode()[:16],
                          self.app_name.encode()[:16], self.kernel_version, len(body))
        return (head + body).ljust(total, b"\0")


class ImageError(ValueError):
    pass


def peek_length(head):
    """Total image length from its first 16 bytes, or None if not an emulated image."""
    if len(head) >= 16 and head[:8] == MAGIC:
        return struct.unpack_from("<I", head, 12)[0]
    return None


def parse_image(data):
    """Decode an emulated image; raises ImageError with a reason otherwise."""
    if len(data) < HEADER_LEN or data[:8] != MAGIC:
        raise ImageError("not an emulated application image")
    magic, fmt, total, kernel, name, kver, plen = _HEAD.unpack_from(data, 0)
    if fmt != FORMAT_VERSION:
        raise ImageError("unsupported image format version %d" % fmt)
    if HEADER_LEN + plen > len(data):
        raise ImageError("image truncated")
    return AppImage(kernel.rstrip(b"\0").decode("ascii", "replace"),
                    name.rstrip(b"\0").decode("ascii", "replace"), kver,
                    bytes(data[HEADER_LEN:HEADER_LEN + plen]))


def looks_like_aplx(data):
    """True when ``data`` starts with a plausible APLX table (a real ARM binary)."""
    if len(data) < 16:
        return False
    for i in range(0, min(len(data) - 15, 16 * 8), 16):
        op = struct.unpack_from("<I", data, i)[0]
        if op == APLX_END:
            return i > 0
        if op not in APLX_OPS:
            return False
        if op == 4:          # EXEC: the table may end here
            return True
    return False
