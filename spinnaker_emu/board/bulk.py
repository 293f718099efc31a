"""The emulator bulk channel, board side (protocol in docs/BULK.md and
protocol/bulk.py).

An Ethernet chip listens on UDP 17894 of its board IP. WRITE datagrams carry up
to 60 KiB for one chip; READ requests ask for a range of chunks of one chip's
memory. The Ethernet chip forwards both over the fabric to the target chip,
which does the memory access and answers the Ethernet chip (``bulk_ack`` after
the data is in memory, ``bulk_data`` per chunk read); the Ethernet chip turns
those into ACK / DATA datagrams to the requester. The board keeps no per-
transfer state: every datagram says where its bytes go, so a retransmitted
datagram is simply executed again (writes are idempotent) and a lost one costs
nothing but the host's retry.

Fabric messages (``origin`` = the Ethernet chip, ``reply`` = the host address):
  bulk_write(origin, reply, tid, seq, p, address, data) -> bulk_ack(reply, tid, x, y, seq)
  bulk_read(origin, reply, tid, p, base, total, chunk, first, count)
      -> bulk_data(reply, tid, x, y, p, seq, data) per chunk
  any of them on an unbooted chip -> bulk_error(reply, tid, x, y, code, op, seq)
"""
import asyncio
import socket
import sys
import time

from ..protocol import bulk as B
from ..protocol import constants as C
from .faults import LossyTransport

SOCKET_BUFFER = 4 << 20          # a full host window must fit in the receive buffer
SUGGESTED_WINDOW = 16            # datagrams in flight the host should start with
MAX_ACKS_PER_DATAGRAM = 256
_LOG_LIMIT = 20                  # bad datagrams logged per chip (then only counted)


def _log(*a):
    print("[%s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, endpoint):
        self.endpoint = endpoint

    def datagram_received(self, data, addr):
        try:
            self.endpoint.on_datagram(data, addr)
        except Exception as e:          # no datagram may kill the chip
            self.endpoint.note_bad(addr, "internal error %r" % (e,))

    def error_received(self, exc):
        pass


class BulkEndpoint:
    """The bulk port of one Ethernet chip."""

    def __init__(self, proc):
        self.proc = proc
        self.transport = None
        self.acks = {}                  # (reply, tid, x, y) -> [seq...] waiting to be sent
        self.flush_scheduled = False
        self.bad = 0                    # datagrams dropped as malformed

    async def start(self):
        proc = self.proc
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            s.bind((proc.chip.ip, B.BULK_PORT))
        except OSError as e:
            # Without the bulk port the board still works: hosts fall back to SCP.
            _log("board %s: bulk port %d unavailable: %s" % (proc.chip.ip, B.BULK_PORT, e))
            s.close()
            return None
        s.setblocking(False)
        self.transport, _ = await proc.loop.create_datagram_endpoint(lambda: _Protocol(self), sock=s)
        proc.transports["bulk"] = self.transport      # closed with the other endpoints
        if proc.faults.udp_loss:
            self.transport = LossyTransport(self.transport, proc.faults)
        return self

    def note_bad(self, addr, why):
        self.bad += 1
        if self.bad <= _LOG_LIMIT:
            _log("board %s: bulk datagram from %s dropped: %s" % (self.proc.chip.ip, addr, why))

    # ------------------------------------------------------------ host -> board
    def on_datagram(self, data, addr):
        if self.proc.faults.udp_loss and self.proc.faults.drop_udp():
            return
        proc = self.proc
        if not (proc.chip.booted and proc.boot_complete):
            return                        # like SCP: an unbooted board is silent
        try:
            op, tid = B.parse_header(data)
        except B.BulkFormatError as e:
            self.note_bad(addr, str(e))
            return
        if op == B.OP_HELLO:
            ip = socket.inet_aton(proc.chip.ip)
            self.transport.sendto(B.hello_reply(tid, B.MAX_CHUNK, SUGGESTED_WINDOW, ip), addr)
        elif op == B.OP_WRITE:
            self._write(tid, data, addr)
        elif op == B.OP_READ:
            self._read(tid, data, addr)
        else:
            self.note_bad(addr, "unknown op 0x%02x" % op)

    def _target(self, x, y, p):
        """The chip for (x, y, p), or None if it cannot be reached from here."""
        xy = (x, y)
        proc = self.proc
        if p >= C.N_CORES or xy not in proc.machine.links or xy not in proc.chip.reachable:
            return None
        return xy

    def _write(self, tid, data, addr):
        try:
            x, y, p, seq, address, payload = B.parse_write(data)
        except B.BulkFormatError as e:
            self.note_bad(addr, str(e))
            return
        if len(payload) > B.MAX_CHUNK or address + len(payload) > B.MAX_READ_TOTAL:
            self.send_error(addr, tid, x, y, B.ERR_ARG, B.OP_WRITE, seq)
            return
        target = self._target(x, y, p)
        if target is None:
            self.send_error(addr, tid, x, y, B.ERR_ROUTE, B.OP_WRITE, seq)
        elif target == self.proc.xy:
            _apply_write(self.proc, p, address, payload)
            self.queue_ack(addr, tid, x, y, seq)
        else:
            self.proc.send(target, "bulk_write", self.proc.xy, addr, tid, seq, p, address, bytes(payload))

    def _read(self, tid, data, addr):
        try:
            x, y, p, base, total, chunk, first, count = B.parse_read(data)
        except B.BulkFormatError as e:
            self.note_bad(addr, str(e))
            return
        if B.check_read(base, total, chunk, first, count) is not None:
            self.send_error(addr, tid, x, y, B.ERR_ARG, B.OP_READ, first)
            return
        target = self._target(x, y, p)
        if target is None:
            self.send_error(addr, tid, x, y, B.ERR_ROUTE, B.OP_READ, first)
        elif target == self.proc.xy:
            for seq, chunk_data in _read_chunks(self.proc, p, base, total, chunk, first, count):
                self.send_data(addr, tid, x, y, p, seq, chunk_data)
        else:
            self.proc.send(target, "bulk_read", self.proc.xy, addr, tid, p, base, total, chunk, first, count)

    # ------------------------------------------------------------ board -> host
    def queue_ack(self, reply, tid, x, y, seq):
        """Acks that arrive in one loop iteration leave in one datagram."""
        self.acks.setdefault((reply, tid, x, y), []).append(seq)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.proc.loop.call_soon(self.flush_acks)

    def flush_acks(self):
        self.flush_scheduled = False
        acks, self.acks = self.acks, {}
        for (reply, tid, x, y), seqs in acks.items():
            for i in range(0, len(seqs), MAX_ACKS_PER_DATAGRAM):
                self.transport.sendto(B.ack(tid, x, y, seqs[i:i + MAX_ACKS_PER_DATAGRAM]), reply)

    def send_data(self, reply, tid, x, y, p, seq, data):
        self.transport.sendto(B.data_head(tid, x, y, p, seq) + data, reply)

    def send_error(self, reply, tid, x, y, code, op, seq):
        self.transport.sendto(B.error(tid, x, y, code, op, seq), reply)


def _apply_write(proc, p, address, data):
    proc.chip.memory.write(address, data, p)


def _read_chunks(proc, p, base, total, chunk, first, count):
    mem = proc.chip.memory
    for seq in range(first, first + count):
        where = B.read_chunk(base, total, chunk, seq)
        if where is None:
            break
        yield seq, mem.read(where[0], where[1], p)


async def start_endpoint(proc):
    """Open the bulk port on an Ethernet chip (called from ChipProcess.main)."""
    if not proc.chip.is_ethernet:
        return None
    ep = BulkEndpoint(proc)
    proc.bulk = await ep.start()
    return proc.bulk


def on_fabric(proc, msg):
    """Fabric messages whose kind starts with "bulk" (any chip)."""
    kind = msg[0]
    x, y = proc.xy
    if kind == "bulk_write":
        _k, origin, reply, tid, seq, p, address, data = msg
        if not proc.chip.booted:
            proc.send(origin, "bulk_error", reply, tid, x, y, B.ERR_NOT_BOOTED, B.OP_WRITE, seq)
            return
        _apply_write(proc, p, address, data)
        proc.send(origin, "bulk_ack", reply, tid, x, y, seq)
    elif kind == "bulk_read":
        _k, origin, reply, tid, p, base, total, chunk, first, count = msg
        if not proc.chip.booted:
            proc.send(origin, "bulk_error", reply, tid, x, y, B.ERR_NOT_BOOTED, B.OP_READ, first)
            return
        for seq, data in _read_chunks(proc, p, base, total, chunk, first, count):
            proc.send(origin, "bulk_data", reply, tid, x, y, p, seq, data)
    else:
        ep = getattr(proc, "bulk", None)
        if ep is None:
            return
        if kind == "bulk_ack":
            ep.queue_ack(*msg[1:])
        elif kind == "bulk_data":
            ep.send_data(*msg[1:])
        elif kind == "bulk_error":
            ep.send_error(*msg[1:])
