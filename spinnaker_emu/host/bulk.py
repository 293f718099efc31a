"""Host side of the emulator bulk channel (docs/BULK.md): windowed 60 KiB
datagrams to UDP 17894 with selective retransmission.

Writes: every WRITE datagram names its chip, address and sequence number; the
board acks each one once the bytes are in the target chip's memory. We keep a
window of unacked datagrams, resend those whose ack is late (same sequence
number) and halve the window on loss, growing it again by one per window of
acks (loopback UDP drops silently when a receive buffer overflows, so the
window is what keeps loss rare).

Reads: READ requests ask for a few chunks each; DATA datagrams come back in any
order and are placed by (transfer id, sequence number). Chunks that do not
arrive in time are asked for again, individually.
"""
import itertools
import random
import socket
import time
from collections import OrderedDict

from ..protocol import bulk as B

SOCKET_BUFFER = 4 << 20
DEFAULT_WINDOW = 16
MAX_WINDOW = 48
READ_BATCH = 4                 # chunks asked for per READ request
MAX_RTO = 2.0                  # seconds: cap of the doubling resend timeout


class BulkError(IOError):
    pass


class BulkTimeout(BulkError):
    pass


_ERRORS = {B.ERR_ROUTE: "no route to chip", B.ERR_NOT_BOOTED: "chip not booted", B.ERR_ARG: "bad argument"}


class BulkClient:
    def __init__(self, host, port=B.BULK_PORT, timeout=0.25, retries=12, window=DEFAULT_WINDOW,
                 chunk=B.MAX_CHUNK):
        self.host, self.port = host, port
        self.timeout, self.retries = timeout, retries
        self.window = window
        self.chunk = chunk
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
            except OSError:
                pass
        self.sock.connect((host, port))
        # Transfer ids start at a random point so a late datagram of an earlier
        # client on the same port is never taken for ours.
        self._tids = itertools.count(random.getrandbits(31))
        self.buf = bytearray(65536)
        self.stats = {"sent": 0, "resent": 0}

    def close(self):
        self.sock.close()

    def _tid(self, n=1):
        first = next(self._tids)
        for _ in range(n - 1):
            next(self._tids)
        return first & 0xFFFFFFFF

    def _rto(self, tries):
        """Resend timeout of a datagram's n-th try: doubling, so a board that is only
        slow (a loaded host) is not given up on after a few short waits."""
        return min(MAX_RTO, self.timeout * (1 << min(tries - 1, 8)))

    def _recv(self, wait):
        self.sock.settimeout(max(wait, 0.0005))
        try:
            n = self.sock.recv_into(self.buf)
        except socket.timeout:
            return None
        except ConnectionRefusedError:
            raise BulkError("%s: bulk port %d refused" % (self.host, self.port))
        return n

    def probe(self, timeout=0.3, tries=2):
        """The board's HELLO reply (dict) or None when nothing answers the bulk port."""
        tid = self._tid()
        for _ in range(tries):
            try:
                self.sock.send(B.hello(tid))
            except OSError:
                return None
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    n = self._recv(left)
                except BulkError:
                    return None
                if n is None:
                    break
                try:
                    op, rtid = B.parse_header(self.buf[:n])
                    if op == B.OP_HELLO_REPLY and rtid == tid:
                        info = B.parse_hello_reply(bytes(self.buf[:n]))
                        self.chunk = min(self.chunk, info["max_chunk"])
                        return info
                except B.BulkFormatError:
                    continue
        return None

    def _raise_error(self, n):
        x, y, code, op, seq = B.parse_error(bytes(self.buf[:n]))
        raise BulkError("bulk %s to chip %d,%d (chunk %d) failed: %s" % (
            "write" if op == B.OP_WRITE else "read", x, y, seq, _ERRORS.get(code, "error %d" % code)))

    # ---------------------------------------------------------------- write
    def write(self, segments, progress=None):
        """Write [(x, y, p, address, data)...]; chunks of all segments are interleaved
        so every target chip works at once. ``progress(n_bytes_done)`` as acks arrive."""
        per_seg = []
        for (x, y, p, address, data) in segments:
            view = memoryview(data).cast("B") if not isinstance(data, memoryview) else data.cast("B")
            per_seg.append([(x, y, p, address + off, view[off:off + self.chunk])
                            for off in range(0, len(view), self.chunk)])
        chunks = [c for group in itertools.zip_longest(*per_seg) for c in group if c is not None]
        if not chunks:
            return
        tid = self._tid()
        sock = self.sock
        heads = [B.write_head(tid, x, y, p, seq, addr) for seq, (x, y, p, addr, _v) in enumerate(chunks)]
        inflight = OrderedDict()       # seq -> [time the ack is due, tries]
        window, credit, nxt, done = max(2, self.window), 0, 0, 0
        n_chunks = len(chunks)
        acked = 0
        while acked < n_chunks:
            while nxt < n_chunks and len(inflight) < window:
                sock.sendmsg([heads[nxt], chunks[nxt][4]])
                inflight[nxt] = [time.monotonic() + self.timeout, 1]
                nxt += 1
                self.stats["sent"] += 1
            n = self._recv(min(v[0] for v in inflight.values()) - time.monotonic())
            if n is None:
                now = time.monotonic()
                lost = [s for s, v in inflight.items() if v[0] <= now]
                for s in lost:
                    v = inflight.pop(s)
                    if v[1] > self.retries:
                        x, y, _p, addr, _v = chunks[s]
                        raise BulkTimeout("no ack from %s for bulk write to chip %d,%d at 0x%08x after %d tries"
                                          % (self.host, x, y, addr, v[1]))
                    sock.sendmsg([heads[s], chunks[s][4]])
                    inflight[s] = [now + self._rto(v[1] + 1), v[1] + 1]
                    self.stats["resent"] += 1
                window = max(2, window // 2)
                credit = 0
                continue
            try:
                op, rtid = B.parse_header(self.buf[:n])
            except B.BulkFormatError:
                continue
            if rtid != tid:
                continue
            if op == B.OP_ACK:
                _x, _y, seqs = B.parse_ack(self.buf[:n])
                for s in seqs:
                    if inflight.pop(s, None) is not None:
                        acked += 1
                        done += len(chunks[s][4])
                        credit += 1
                if credit >= window:
                    window, credit = min(MAX_WINDOW, window + 1), 0
                if progress:
                    progress(done)
            elif op == B.OP_ERROR:
                self._raise_error(n)

    # ---------------------------------------------------------------- read
    def read(self, segments, progress=None):
        """Read [(x, y, p, address, length)...]; returns a list of bytearrays."""
        segments = list(segments)
        chunk = self.chunk
        outs = [bytearray(length) for (_x, _y, _p, _a, length) in segments]
        base_tid = self._tid(max(1, len(segments)))
        # requests of up to READ_BATCH chunks, interleaved across segments
        per_seg = []
        for i, (x, y, p, address, length) in enumerate(segments):
            n = (length + chunk - 1) // chunk
            per_seg.append([(i, s, min(READ_BATCH, n - s)) for s in range(0, n, READ_BATCH)])
        requests = [r for group in itertools.zip_longest(*per_seg) for r in group if r is not None]
        total_chunks = sum((seg[4] + chunk - 1) // chunk for seg in segments)
        sock = self.sock
        inflight = OrderedDict()      # (seg, seq) -> [time the data is due, tries]
        window = max(READ_BATCH, self.window)
        credit, nxt, got, done = 0, 0, 0, 0
        buf = self.buf

        def request(i, first, count):
            x, y, p, address, length = segments[i]
            sock.send(B.read((base_tid + i) & 0xFFFFFFFF, x, y, p, address, length, chunk, first, count))
            self.stats["sent"] += 1

        while got < total_chunks:
            while nxt < len(requests) and len(inflight) + requests[nxt][2] <= window:
                i, first, count = requests[nxt]
                request(i, first, count)
                now = time.monotonic()
                for s in range(first, first + count):
                    inflight[(i, s)] = [now + self.timeout, 1]
                nxt += 1
            if not inflight:
                continue
            n = self._recv(min(v[0] for v in inflight.values()) - time.monotonic())
            if n is None:
                now = time.monotonic()
                lost = sorted(k for k, v in inflight.items() if v[0] <= now)
                for k in lost:
                    v = inflight.pop(k)
                    if v[1] > self.retries:
                        x, y, _p, addr, _l = segments[k[0]]
                        raise BulkTimeout("no data from %s for bulk read of chip %d,%d at 0x%08x after %d tries"
                                          % (self.host, x, y, addr + k[1] * chunk, v[1]))
                    inflight[k] = [now + self._rto(v[1] + 1), v[1] + 1]
                # ask again for runs of consecutive lost chunks
                run = None
                for k in lost + [None]:
                    if run and k and k[0] == run[0] and k[1] == run[1] + run[2] and run[2] < B.MAX_READ_COUNT:
                        run[2] += 1
                        continue
                    if run:
                        request(*run)
                        self.stats["resent"] += 1
                    run = [k[0], k[1], 1] if k else None
                window = max(READ_BATCH, window // 2)
                credit = 0
                continue
            if n < B.DATA_OVERHEAD:
                continue
            try:
                op, rtid = B.parse_header(buf[:8])
            except B.BulkFormatError:
                continue
            i = (rtid - base_tid) & 0xFFFFFFFF
            if i >= len(segments):
                continue
            if op == B.OP_DATA:
                _x, _y, _p, seq, off = B.parse_data(buf[:B.DATA_OVERHEAD])
                start = seq * chunk
                size = n - off
                if size != min(chunk, segments[i][4] - start) or (i, seq) not in inflight:
                    continue                      # a duplicate of a resent chunk, or malformed
                del inflight[(i, seq)]
                outs[i][start:start + size] = buf[off:n]
                got += 1
                done += size
                credit += 1
                if credit >= window:
                    window, credit = min(MAX_WINDOW, window + READ_BATCH), 0
                if progress:
                    progress(done)
            elif op == B.OP_ERROR:
                self._raise_error(n)
        return outs


def available(host, port=B.BULK_PORT):
    """True when ``host`` answers the bulk port (an emulated board)."""
    c = BulkClient(host, port)
    try:
        return c.probe() is not None
    finally:
        c.close()


