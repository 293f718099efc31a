"""EIEIO packets (live I/O and buffered data), carried directly in UDP with no padding.

Data packet: byte 0 = element count, byte 1 = P F D T type(2) tag(2), then an optional
u16 key prefix, an optional payload prefix, then the elements. Command packet: a u16
whose top two bits are 01, low 14 bits the command id, then command fields.
"""
import struct
from dataclasses import dataclass, field

from .sdp import ProtocolError

KEY_16, KEY_PAYLOAD_16, KEY_32, KEY_PAYLOAD_32 = range(4)
_ELEMENT = {KEY_16: "H", KEY_PAYLOAD_16: "HH", KEY_32: "I", KEY_PAYLOAD_32: "II"}


@dataclass
class EIEIOData:
    type: int = KEY_32
    keys: list = field(default_factory=list)
    payloads: list = None
    key_prefix: int = None
    prefix_upper: bool = False
    payload_prefix: int = None
    timestamps: bool = False
    tag: int = 0

    def pack(self):
        b1 = ((self.key_prefix is not None) << 7) | (self.prefix_upper << 6) \
            | ((self.payload_prefix is not None) << 5) | (self.timestamps << 4) \
            | (self.type << 2) | (self.tag & 3)
        out = struct.pack("<BB", len(self.keys), b1)
        if self.key_prefix is not None:
            out += struct.pack("<H", self.key_prefix)
        if self.payload_prefix is not None:
            out += struct.pack("<H" if self.type in (KEY_16, KEY_PAYLOAD_16) else "<I", self.payload_prefix)
        fmt = _ELEMENT[self.type]
        for i, k in enumerate(self.keys):
            if len(fmt) == 2:
                out += struct.pack("<" + fmt, k, self.payloads[i])
            else:
                out += struct.pack("<" + fmt, k)
        return out


def is_command(packet):
    return len(packet) >= 2 and (struct.unpack_from("<H", packet)[0] >> 14) == 1


def unpack_command(packet):
    """Return (command id, remaining bytes)."""
    if len(packet) < 2:
        raise ProtocolError("EIEIO command truncated")
    word = struct.unpack_from("<H", packet)[0]
    if word >> 14 != 1:
        raise ProtocolError("not an EIEIO command")
    return word & 0x3FFF, bytes(packet[2:])


def pack_command(command_id, body=b""):
    return struct.pack("<H", (1 << 14) | (command_id & 0x3FFF)) + bytes(body)


def unpack_data(packet):
    if len(packet) < 2:
        raise ProtocolError("EIEIO header truncated")
    count, b1 = packet[0], packet[1]
    p = EIEIOData(type=(b1 >> 2) & 3, tag=b1 & 3, prefix_upper=bool(b1 & 0x40),
                  timestamps=bool(b1 & 0x10))
    off = 2
    small = p.type in (KEY_16, KEY_PAYLOAD_16)
    try:
        if b1 & 0x80:
            p.key_prefix = struct.unpack_from("<H", packet, off)[0]
            off += 2
        if b1 & 0x20:
            p.payload_prefix = struct.unpack_from("<H" if small else "<I", packet, off)[0]
            off += 2 if small else 4
        fmt = "<" + _ELEMENT[p.type]
        size = struct.calcsize(fmt)
        if len(packet) < off + size * count:
            raise ProtocolError("EIEIO data truncated")
        for i in range(count):
            v = struct.unpack_from(fmt, packet, off + i * size)
            p.keys.append(v[0])
            if len(v) == 2:
                if p.payloads is None:
                    p.payloads = []
                p.payloads.append(v[1])
    except struct.error as e:
        raise ProtocolError(str(e))
    return p
