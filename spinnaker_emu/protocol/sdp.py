"""SDP (SpiNNaker Datagram Protocol) and SCP (SpiNNaker Command Protocol) framing.

Pure encoders/decoders. An SDP message travels in UDP behind 2 padding bytes;
SCP is carried in the SDP data part: cmd_rc(2) seq(2) [arg1 arg2 arg3] data.
Note the y-before-x order of chip coordinates in the SDP header.
"""
import struct
from dataclasses import dataclass

from .constants import (SDP_HEADER_LEN, UDP_PAD, SDPF_REPLY, SCP_HEADER_LEN)

_HDR = struct.Struct("<BBBBBBBB")
_SCP = struct.Struct("<HH")
_ARGS = struct.Struct("<III")


class ProtocolError(ValueError):
    """A packet too short or otherwise impossible to decode."""


@dataclass
class SDPHeader:
    flags: int = 0x07
    tag: int = 0xFF
    dest_port: int = 0
    dest_cpu: int = 0
    srce_port: int = 7
    srce_cpu: int = 31
    dest_x: int = 0
    dest_y: int = 0
    srce_x: int = 0
    srce_y: int = 0

    @property
    def reply_expected(self):
        return bool(self.flags & SDPF_REPLY)

    @property
    def dest_port_cpu(self):
        return ((self.dest_port & 7) << 5) | (self.dest_cpu & 31)

    @property
    def srce_port_cpu(self):
        return ((self.srce_port & 7) << 5) | (self.srce_cpu & 31)

    @property
    def dest_addr(self):
        return (self.dest_x << 8) | self.dest_y

    @property
    def srce_addr(self):
        return (self.srce_x << 8) | self.srce_y

    def pack(self):
        return _HDR.pack(self.flags, self.tag, self.dest_port_cpu, self.srce_port_cpu,
                         self.dest_y, self.dest_x, self.srce_y, self.srce_x)

    @classmethod
    def unpack(cls, data, offset=0):
        if len(data) < offset + SDP_HEADER_LEN:
            raise ProtocolError("SDP header truncated")
        flags, tag, dpc, spc, dy, dx, sy, sx = _HDR.unpack_from(data, offset)
        return cls(flags, tag, dpc >> 5, dpc & 31, spc >> 5, spc & 31, dx, dy, sx, sy)


@dataclass
class SDPMessage:
    header: SDPHeader
    data: bytes = b""       # everything after the 8-byte header (SCP starts here)

    def to_udp(self):
        return b"\0\0" + self.header.pack() + bytes(self.data)

    def to_bytes(self):
        return self.header.pack() + bytes(self.data)

    @classmethod
    def from_udp(cls, datagram):
        return cls.from_bytes(datagram[UDP_PAD:])

    @classmethod
    def from_bytes(cls, raw):
        hdr = SDPHeader.unpack(raw)
        return cls(hdr, bytes(raw[SDP_HEADER_LEN:]))


@dataclass
class SCPRequest:
    """An SCP request as carried in SDP data. ``args`` holds as many of the three
    argument words as the packet actually contained (for length checks)."""
    cmd: int
    seq: int
    args: tuple = ()
    data: bytes = b""

    @property
    def arg1(self):
        return self.args[0] if len(self.args) > 0 else 0

    @property
    def arg2(self):
        return self.args[1] if len(self.args) > 1 else 0

    @property
    def arg3(self):
        return self.args[2] if len(self.args) > 2 else 0

    def pack(self, n_args=3):
        a = list(self.args) + [0] * (3 - len(self.args))
        return _SCP.pack(self.cmd, self.seq) + struct.pack("<%dI" % n_args, *a[:n_args]) + bytes(self.data)

    @classmethod
    def unpack(cls, sdp_data):
        """Decode SCP from SDP data. Raises ProtocolError only when not even cmd/seq fit.
        ``data`` is what follows the three args (empty if the args are incomplete)."""
        if len(sdp_data) < SCP_HEADER_LEN:
            raise ProtocolError("SCP header truncated")
        cmd, seq = _SCP.unpack_from(sdp_data, 0)
        rest = sdp_data[SCP_HEADER_LEN:]
        n = min(len(rest) // 4, 3)
        args = struct.unpack_from("<%dI" % n, rest, 0) if n else ()
        data = bytes(rest[12:]) if n == 3 else b""
        return cls(cmd, seq, tuple(args), data)


def scp_reply_data(rc, seq, payload=b""):
    """The SDP data part of an SCP reply: rc, seq, payload."""
    return _SCP.pack(rc, seq) + bytes(payload)


def parse_scp_reply(sdp_data):
    """Return (rc, seq, payload) of an SCP reply."""
    if len(sdp_data) < SCP_HEADER_LEN:
        raise ProtocolError("SCP reply truncated")
    rc, seq = _SCP.unpack_from(sdp_data, 0)
    return rc, seq, bytes(sdp_data[SCP_HEADER_LEN:])


def reply_header(req_hdr, executing_x, executing_y):
    """Header of the reply to ``req_hdr`` as SC&MP builds it: flags with the reply
    bit cleared, ports swapped, source = the chip that executed the command."""
    return SDPHeader(flags=req_hdr.flags & ~SDPF_REPLY & 0xFF, tag=req_hdr.tag,
                     dest_port=req_hdr.srce_port, dest_cpu=req_hdr.srce_cpu,
                     srce_port=req_hdr.dest_port, srce_cpu=req_hdr.dest_cpu,
                     dest_x=req_hdr.srce_x, dest_y=req_hdr.srce_y,
                     srce_x=executing_x, srce_y=executing_y)


def pack_args(*words):
    return struct.pack("<%dI" % len(words), *[w & 0xFFFFFFFF for w in words])


def unpack_words(data, n=None):
    n = len(data) // 4 if n is None else n
    return struct.unpack_from("<%dI" % n, data, 0)
