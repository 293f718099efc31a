"""Multicast routes, IP tags, tag listeners and SDP to cores (the routing part of
host/transceiver.Transceiver)."""
import socket
import struct

from ..protocol import constants as C
from ..protocol import eieio
from ..protocol import words as W
from ..protocol.constants import SCPCommand as CMD
from ..protocol.sdp import SDPHeader, ProtocolError
from ..protocol.structs import IPTAG_T, RTR_ENTRY
from .scp import Closing
from .tx_model import RoutingEntry, TransceiverError


def _ip_word(ip):
    return struct.unpack("<I", socket.inet_aton(ip))[0]


class TagListener(Closing):
    """A host UDP socket that receives what leaves the machine through an IP tag:
    SDP (2 padding bytes + SDP header + data) or, with a STRIP tag, the bare data
    (EIEIO packets, or SDP data without its header)."""

    def __init__(self, local_ip, tag, strip):
        self.tag, self.strip = tag, strip
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind((local_ip, 0))
        self.ip, self.port = self.sock.getsockname()

    def receive(self, timeout=1.0):
        """The next datagram's bytes, or None after ``timeout`` seconds."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(65536)
        except socket.timeout:
            return None

    def receive_sdp(self, timeout=1.0):
        """(SDPHeader, data) of the next non-stripped SDP datagram, or None."""
        raw = self.receive(timeout)
        if raw is None:
            return None
        if len(raw) < C.UDP_PAD + C.SDP_HEADER_LEN:
            raise ProtocolError("datagram of %d bytes is not SDP" % len(raw))
        return SDPHeader.unpack(raw, C.UDP_PAD), raw[C.UDP_PAD + C.SDP_HEADER_LEN:]

    def receive_eieio(self, timeout=1.0):
        """The next datagram decoded as EIEIO (STRIP tags): ("command", id, body)
        or ("data", EIEIOData); None after ``timeout``."""
        raw = self.receive(timeout)
        if raw is None:
            return None
        if eieio.is_command(raw):
            return ("command",) + tuple(eieio.unpack_command(raw))
        return ("data", eieio.unpack_data(raw))

    def close(self):
        self.sock.close()



class RoutesTagsMixin:
    def load_routes(self, x, y, routes, app_id):
        """Load multicast routes (RoutingEntry or (key, mask, route)) on chip (x, y)
        the way SpiNNMan does: table to sdram_sys, ALLOC_RTR, RTR load. Returns the
        first router entry used."""
        entries = [r if isinstance(r, RoutingEntry) else RoutingEntry(*r) for r in routes]
        if not entries:
            return 0
        n = len(entries)
        table = b"".join(RTR_ENTRY.pack(i, 0, e.route, e.key, e.mask) for i, e in enumerate(entries))
        table += struct.pack("<4I", *([0xFFFFFFFF] * 4))
        buf = self.sv_value(x, y, "sdram_sys")
        self.write_memory(x, y, buf, table)
        _rc, p, _h = self.conn.send(x, y, 0, CMD.ALLOC, (W.pack_alloc_arg(C.ALLOC_RTR, app_id), n))
        base = struct.unpack_from("<I", p)[0] if len(p) >= 4 else 0
        if not base:
            raise TransceiverError("chip %d,%d: not enough free router entries for %d routes of app %d"
                                   % (x, y, n, app_id))
        self.conn.send(x, y, 0, CMD.RTR, (W.pack_rtr_arg(C.RTR_LOAD, app_id, n), buf, base))
        return base

    def read_routes(self, x, y, app_id=None):
        """The chip's routing table from SC&MP's copy table (entry 0 is SC&MP's own)."""
        raw = self.read_memory(x, y, self.sv_value(x, y, "rtr_copy"), C.N_ROUTER_ENTRIES * 16)
        out = []
        for i in range(C.N_ROUTER_ENTRIES):
            _next, free, route, key, mask = RTR_ENTRY.unpack_from(raw, 16 * i)
            if route >= 0xFF000000:
                continue
            app = free & 0xFF
            if app_id is None or app == app_id:
                out.append(RoutingEntry(key, mask, route, i, app))
        return out

    def clear_routes(self, x, y):
        self.conn.send(x, y, 0, CMD.RTR, (W.pack_rtr_arg(C.RTR_INIT),))

    def free_routes(self, x, y, app_id):
        self.conn.send(x, y, 0, CMD.ALLOC, (W.pack_alloc_arg(C.FREE_RTR_ID, app_id), 1))

    def set_fixed_route(self, x, y, route):
        self.conn.send(x, y, 0, CMD.RTR, (W.pack_rtr_arg(C.RTR_FIXED), route & W.FIXED_ROUTE_BITS))

    def read_fixed_route(self, x, y):
        _rc, p, _h = self.conn.send(x, y, 0, CMD.RTR, (W.pack_rtr_arg(C.RTR_FIXED), W.RTR_FIXED_READ))
        return struct.unpack_from("<I", p)[0]

    def _board_chip(self, board):
        if board is None:
            return self.machine.boot_chip if self.machine else (0, 0)
        if isinstance(board, str):
            for xy, ip in (self.machine.ethernets if self.machine else {}).items():
                if ip == board:
                    return xy
            raise TransceiverError("no board with IP %s in the machine" % board)
        return tuple(board)

    def local_ip(self):
        """Our address as the board sees it (where tags should point)."""
        return self.conn.sock.getsockname()[0]

    def set_ip_tag(self, tag, host, port, strip=True, use_sender=False, board=None):
        """IP tag ``tag`` on the board: SDP sent to it leaves as UDP to host:port."""
        if host in (None, "", "localhost", "0.0.0.0"):
            host = self.local_ip()
        x, y = self._board_chip(board)
        a1 = W.pack_iptag_arg(C.IPTAG_SET, tag, (W.IPTAG_STRIP if strip else 0)
                              | (W.IPTAG_USE_SENDER if use_sender else 0))
        self.conn.send(x, y, 0, CMD.IPTAG, (a1, port, _ip_word(socket.gethostbyname(host))))

    def set_reverse_ip_tag(self, tag, port, x, y, p, sdp_port=1, board=None):
        """Reverse IP tag: UDP to the board's ``port`` becomes SDP to core x,y,p."""
        bx, by = self._board_chip(board)
        a1 = W.pack_iptag_arg(C.IPTAG_SET, tag, W.IPTAG_REVERSE | W.IPTAG_STRIP, dest_port_cpu=(sdp_port << 5) | p)
        self.conn.send(bx, by, 0, CMD.IPTAG, (a1, W.pack_reverse_dest(x, y, port), 0))

    def clear_ip_tag(self, tag, board=None):
        x, y = self._board_chip(board)
        self.conn.send(x, y, 0, CMD.IPTAG, (W.pack_iptag_arg(C.IPTAG_CLR, tag),))

    def get_tags(self, board=None):
        """{tag: dict} of the board's valid tags."""
        x, y = self._board_chip(board)
        out = {}
        for first in (0, 8):
            _rc, p, _h = self.conn.send(x, y, 0, CMD.IPTAG, (W.pack_iptag_arg(C.IPTAG_GET, first), 8))
            for k in range(min(8, len(p) // C.IPTAG_T_SIZE)):
                ip, _mac, tx_port, _to, flags, count, rx_port, dest, dpc = IPTAG_T.unpack_from(p, 32 * k)
                if not flags & C.TAG_FLAG_VALID:
                    continue
                t = {"tag": first + k, "ip": socket.inet_ntoa(ip), "port": tx_port, "count": count,
                     "strip": bool(flags & C.TAG_FLAG_STRIP), "reverse": bool(flags & C.TAG_FLAG_REVERSE),
                     "use_sender": bool(flags & C.TAG_FLAG_USE_SENDER)}
                if t["reverse"]:
                    t.update(rx_port=rx_port, x=dest >> 8, y=dest & 0xFF, p=dpc & 31, sdp_port=dpc >> 5)
                out[first + k] = t
        return out

    def listen(self, tag, strip=True, board=None):
        """A TagListener on a fresh host port with IP tag ``tag`` pointing at it."""
        listener = TagListener(self.local_ip(), tag, strip)
        try:
            self.set_ip_tag(tag, listener.ip, listener.port, strip, board=board)
        except Exception:
            listener.close()
            raise
        return listener

    def send_sdp(self, x, y, p, port, data, tag=C.TAG_NONE):
        """An SDP message (no reply expected) to port ``port`` of core x,y,p."""
        if not 1 <= port <= 7:
            raise ValueError("SDP port %d: ports 1..7 reach application cores (0 is SCP)" % port)
        if len(data) > C.SDP_BUF_SIZE + C.SCP_ARGS_LEN + C.SCP_HEADER_LEN:
            raise ValueError("SDP data of %d bytes is longer than 272" % len(data))
        hdr = SDPHeader(flags=C.SDP_FLAGS_NO_REPLY, tag=tag, dest_port=port, dest_cpu=p,
                        srce_port=7, srce_cpu=31, dest_x=x, dest_y=y)
        self.conn.sock.send(b"\0\0" + hdr.pack() + bytes(data))
