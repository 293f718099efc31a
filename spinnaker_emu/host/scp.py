"""A small SCP client over real UDP: boot a board, send SCP commands with
retries (same sequence number on resend, as SpiNNMan does) and pipelined
memory reads and writes. The base of the host transceiver."""
import socket
import struct
import time

from ..protocol import constants as C
from ..protocol.boot import boot_packets, BOOT_SV_DEFAULTS
from ..protocol.constants import SCPCommand as CMD, RC
from ..protocol.sdp import SDPHeader, SCPRequest, parse_scp_reply
from ..protocol import words as W
from ..protocol.structs import (SV, unpack_version, unpack_chip_info, vcpu_address, VCPU, p2p_live_chips,
                                sv_address, unpack_all, unpack_iobuf_head, IOBUF_HEAD)


# Codes that mean "busy or lost on the way, try again" (SpiNNMan retries these too)
RETRY_CODES = frozenset({RC.TIMEOUT, RC.P2P_TIMEOUT, RC.LEN, RC.P2P_NOREPLY, RC.P2P_BUSY})
BUSY_PAUSE = 0.1                 # before resending a request answered with one of them


def _cmd_name(cmd):
    return CMD(cmd).name if cmd in CMD._value2member_map_ else str(cmd)


class SCPError(IOError):
    def __init__(self, rc, cmd, x, y, p):
        try:
            name = RC(rc).name
        except ValueError:
            name = "0x%02x" % rc
        super().__init__("SCP command %s to %d,%d,%d failed: RC_%s" % (_cmd_name(cmd), x, y, p, name))
        self.rc, self.cmd, self.x, self.y, self.p = rc, cmd, x, y, p


class SCPTimeout(IOError):
    pass


class SCPBusy(SCPError, SCPTimeout):
    """Every try was answered with a busy code (RETRY_CODES): an SCPError naming the
    code, and a timeout for callers that only ask whether an answer came."""


class NoBoard(SCPTimeout):
    """Nothing listens for SCP at the address, not even an unbooted board (which holds
    the port but answers nothing): the port is free here, or the host refused the
    datagram (ICMP port unreachable)."""

    def __init__(self, host):
        super().__init__("no board at %s" % host)
        self.host = host


def nothing_listens(host, port=C.SCP_PORT):
    """True when this machine can tell at once that no board is at ``host``: the address
    is one of its own and nobody holds the SCP port (an emulated board holds it from
    start to stop, booted or not). False when the port is held or the address is another
    machine's: a real board answers nothing before it is booted, so only waiting tells."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((host, port))
    except OSError:              # held, not an address of ours, or not an address at all
        return False
    finally:
        s.close()
    return True


def make_boot_image(version=5, scamp_version=C.DEFAULT_SCAMP_VERSION, **sv):
    """Our own boot image: the boot-time sv_t values at byte 384 and the SC&MP
    version string. An emulated board takes exactly these from a real image."""
    image = bytearray(1024)
    values = dict(BOOT_SV_DEFAULTS, hw_ver=version, unix_time=int(time.time()),
                  boot_sig=int(time.time()), led0=1 if version == 5 else 0x502)
    values.update(sv)
    for name, value in values.items():
        f = SV[name]
        struct.pack_into(f.fmt, image, C.BOOT_SV_OFFSET + f.offset, value)
    tag = b"SC&MP/SpiNNaker\0" + scamp_version.encode() + b"\0"
    image[512:512 + len(tag)] = tag
    return bytes(image)


class Closing:
    """``close()`` on leaving a ``with`` block (the host's sockets and connections)."""

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class SCPConnection(Closing):
    def __init__(self, host, port=C.SCP_PORT, timeout=0.5, retries=5):
        self.host, self.port = host, port
        self.timeout, self.retries = timeout, retries
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect((host, port))
        self.seq = 0

    def close(self):
        self.sock.close()

    def _next_seq(self):
        self.seq = (self.seq + 1) & 0xFFFF
        return self.seq

    @staticmethod
    def packet(x, y, p, cmd, args=(), data=b"", seq=0, port=0, reply=True):
        hdr = SDPHeader(flags=C.SDP_FLAGS_REPLY if reply else C.SDP_FLAGS_NO_REPLY, tag=C.TAG_NONE,
                        dest_port=port, dest_cpu=p, srce_port=7, srce_cpu=31, dest_x=x, dest_y=y)
        a = list(args) + [0] * (3 - len(args))
        return b"\0\0" + hdr.pack() + SCPRequest(cmd, seq, tuple(a[:3]), data).pack()

    def _recv(self, wait):
        self.sock.settimeout(max(wait, 0.001))
        data = self.sock.recv(1024)
        hdr = SDPHeader.unpack(data, 2)
        rc, seq, payload = parse_scp_reply(data[10:])
        return hdr, rc, seq, payload

    def send(self, x, y, p, cmd, args=(), data=b"", check=True, timeout=None, tries=None):
        """Send one command and wait for its reply: returns (rc, payload, reply header).
        A pipeline of one: the same resends, retries and errors."""
        retry = RETRY_CODES - {RC.P2P_NOREPLY} if cmd == CMD.COUNT else RETRY_CODES   # a partial count
        out = []
        self.pipeline([(x, y, p, cmd, args, data)], lambda _i, rc, payload, hdr: out.append((rc, payload, hdr)),
                      1, check, retry, timeout, tries)
        return out[0]

    # ------------------------------------------------------------ commands
    def version(self, x=255, y=255, p=0, **kw):
        _rc, payload, hdr = self.send(x, y, p, CMD.VER, **kw)
        return unpack_version(payload)

    def read(self, x, y, address, length, p=0, window=8, progress=None):
        """Read ``length`` bytes; up to ``window`` 256-byte requests in flight."""
        return self.read_many([(x, y, address, length)], p, window, progress)[0]

    def write(self, x, y, address, data, p=0, window=8, progress=None):
        self.write_many([(x, y, address, data)], p, window, progress)

    def read_many(self, regions, p=0, window=8, progress=None):
        """Read [(x, y, address, length)...] in 256-byte READs, ``window`` in flight over
        every region at once; a list of bytes. ``progress(bytes done)`` after each reply."""
        regions = [tuple(r) for r in regions]
        outs = [bytearray(n) for (_x, _y, _a, n) in regions]
        ops, where = [], []
        for i, (x, y, a, n) in enumerate(regions):
            for off in range(0, n, C.SDP_BUF_SIZE):
                k = min(C.SDP_BUF_SIZE, n - off)
                ops.append((x, y, p, CMD.READ, (a + off, k, _access(a + off, k)), b""))
                where.append((i, off))
        done = [0]

        def got(j, _rc, payload, _h):
            i, off = where[j]
            if len(payload) != ops[j][4][1]:
                # SC&MP 4 answers a refused READ with RC_OK and no data: never splice that in
                x, y = regions[i][:2]
                raise SCPError(C.RC.ARG, CMD.READ, x, y, p)
            outs[i][off:off + len(payload)] = payload
            if progress:
                done[0] += len(payload)
                progress(done[0])
        self.pipeline(ops, got, window)
        return [bytes(o) for o in outs]

    def write_many(self, regions, p=0, window=8, progress=None):
        """Write [(x, y, address, data)...] in 256-byte WRITEs, ``window`` in flight."""
        ops = []
        for (x, y, a, d) in regions:
            d = memoryview(bytes(d))
            for off in range(0, len(d), C.SDP_BUF_SIZE):
                chunk = d[off:off + C.SDP_BUF_SIZE]
                ops.append((x, y, p, CMD.WRITE, (a + off, len(chunk), _access(a + off, len(chunk))), chunk))
        done = [0]

        def got(j, _rc, _payload, _h):
            if progress:
                done[0] += len(ops[j][5])
                progress(done[0])
        self.pipeline(ops, got, window)

    def pipeline(self, ops, on_reply=None, window=8, check=True, retry_codes=RETRY_CODES, timeout=None,
                 tries=None):
        """Run SCP requests with up to ``window`` in flight, each to its own chip/core.

        ``ops``: sequence of (x, y, p, cmd, args, data). ``on_reply(index, rc, payload,
        reply header)`` for each reply, in arrival order. A request whose reply is late
        is resent with the same sequence number (the board may execute it twice; reads
        and writes are idempotent); one answered with a code in ``retry_codes`` (the
        board or a chip on the way was busy) is resent after BUSY_PAUSE. Raises
        SCPError for any other non-OK code when ``check``, SCPTimeout after ``tries``
        (default ``self.retries``) tries without a reply, SCPBusy (both an SCPError and
        an SCPTimeout) after ``tries`` busy answers."""
        timeout = self.timeout if timeout is None else timeout
        tries = self.retries if tries is None else tries
        inflight = {}                    # seq -> [index, packet, due time, tries]
        delayed = []                     # [(resend time, seq)] after a retry code
        nxt, n = 0, len(ops)
        sock = self.sock
        while nxt < n or inflight:
            while nxt < n and len(inflight) < window:
                x, y, p, cmd, args, data = ops[nxt]
                seq = self._next_seq()
                pkt = self.packet(x, y, p, cmd, args, data, seq)
                sock.send(pkt)
                inflight[seq] = [nxt, pkt, time.monotonic() + timeout, 1]
                nxt += 1
            now = time.monotonic()
            for item in [d for d in delayed if d[0] <= now]:
                delayed.remove(item)
                v = inflight.get(item[1])
                if v is not None:
                    sock.send(v[1])
                    v[2] = now + timeout
            due = min(v[2] for v in inflight.values())
            if delayed:
                due = min(due, min(d[0] for d in delayed))
            try:
                hdr, rc, seq, payload = self._recv(due - time.monotonic())
            except socket.timeout:
                now = time.monotonic()
                for seq, v in inflight.items():
                    if v[2] <= now and not any(d[1] == seq for d in delayed):
                        if v[3] >= tries:
                            x, y, p, cmd = ops[v[0]][:4]
                            raise SCPTimeout("no reply from %s to SCP %s for %d,%d,%d after %d tries"
                                             % (self.host, _cmd_name(cmd), x, y, p, v[3]))
                        sock.send(v[1])
                        v[2], v[3] = now + timeout, v[3] + 1
                continue
            except ConnectionRefusedError:
                raise NoBoard(self.host)
            v = inflight.get(seq)
            if v is None:
                continue                 # a late duplicate of a reply we already have
            if rc in retry_codes:
                if v[3] >= tries:
                    x, y, p, cmd = ops[v[0]][:4]
                    raise SCPBusy(rc, cmd, x, y, p)
                v[3] += 1
                v[2] = time.monotonic() + BUSY_PAUSE + timeout
                delayed.append((time.monotonic() + BUSY_PAUSE, seq))
                continue
            del inflight[seq]
            if check and rc != RC.OK:
                x, y, p, cmd = ops[v[0]][:4]
                raise SCPError(rc, cmd, x, y, p)
            if on_reply:
                on_reply(v[0], rc, payload, hdr)

    def live_chips(self):
        """(width, height, [(x, y)...]) from the root chip's sv dims and P2P table."""
        dims = self.read(255, 255, sv_address("p2p_dims"), 2)
        w, h = dims[1], dims[0]
        table = self.read(255, 255, C.ROUTER_BASE + C.RTR_P2P_TABLE, 128 * w)
        return w, h, p2p_live_chips(table, w, h)

    def read_word(self, x, y, address, p=0):
        return struct.unpack("<I", self.read(x, y, address, 4, p))[0]

    def write_word(self, x, y, address, value, p=0):
        self.write(x, y, address, struct.pack("<I", value & 0xFFFFFFFF), p)

    def chip_info(self, x, y):
        _rc, payload, hdr = self.send(x, y, 0, CMD.INFO, (0x5F,))
        info = unpack_chip_info(payload)
        info["x"], info["y"] = hdr.srce_x, hdr.srce_y
        return info

    def vcpu(self, x, y, p):
        out = unpack_all(VCPU, self.read(x, y, vcpu_address(p), C.VCPU_SIZE))
        out["app_name"] = out["app_name"].rstrip(b"\0").decode(errors="replace")
        return out

    def signal(self, app_id, sig, transport=C.SIG_TYPE_NN):
        self.send(255, 255, 0, CMD.SIG, (transport, W.pack_signal(sig, app_id), 0xFFFF))

    def count_board(self, x, y, app_id, state, tries=None):
        """CMD_COUNT to the Ethernet chip (x, y): (cores of ``app_id`` in ``state`` on its
        board, whether every chip answered). A partial count (RC_P2P_NOREPLY) is a count,
        as SpiNNMan takes it; callers that wait simply ask again."""
        rc, payload, _h = self.send(x, y, 0, CMD.COUNT, (app_id, int(state)), timeout=2.0, check=False,
                                    tries=tries)
        if rc not in (RC.OK, RC.P2P_NOREPLY):
            raise SCPError(rc, CMD.COUNT, x, y, 0)
        return (struct.unpack_from("<I", payload)[0] if len(payload) >= 4 else 0), rc == RC.OK

    def count(self, app_id, state):
        """Cores of ``app_id`` in ``state`` on the root's board."""
        return self.count_board(255, 255, app_id, state)[0]

    def alloc_sdram(self, x, y, size, app_id, tag=0):
        _rc, payload, _h = self.send(x, y, 0, CMD.ALLOC, (W.pack_alloc_arg(C.ALLOC_SDRAM, app_id), size, tag))
        return struct.unpack_from("<I", payload)[0]

    def iobuf(self, x, y, p):
        """Core x,y,p's IOBUF text."""
        return self.iobufs([(x, y, p)])[(x, y, p)]

    def iobufs(self, cores, sizes=None, read_many=None, window=8):
        """{(x, y, p): IOBUF text} of [(x, y, p)...]: every core's chain of blocks
        followed at once (heads, then one block header per core per round, then the
        text). ``sizes``: {(x, y): sv->iobuf_size} (read when absent); ``read_many``:
        how the text is read (default ``self.read_many``; the transceiver's may use
        the bulk channel)."""
        cores = sorted(set(tuple(c) for c in cores))
        sizes = dict(sizes or {})
        for (x, y) in sorted({c[:2] for c in cores} - set(sizes)):
            sizes[(x, y)] = self.read_word(x, y, sv_address("iobuf_size"))
        read_many = read_many or self.read_many
        heads = {}
        self.pipeline([(x, y, 0, CMD.READ, (vcpu_address(p, "iobuf"), 4, 2), b"") for (x, y, p) in cores],
                      lambda i, _rc, pl, _h: heads.__setitem__(cores[i], struct.unpack("<I", pl)[0]), window)
        texts = {c: b"" for c in cores}
        current = {c: a for c, a in heads.items() if a}
        guard = 0
        while current and guard < 1024:
            guard += 1
            keys = sorted(current)
            blocks = {}
            self.pipeline([(c[0], c[1], 0, CMD.READ, (current[c], IOBUF_HEAD.size, 2), b"") for c in keys],
                          lambda i, _rc, pl, _h: blocks.__setitem__(keys[i], unpack_iobuf_head(pl)), window)
            regions, order = [], []
            for c in keys:
                used = min(blocks[c].used, sizes[c[:2]])
                if used:
                    regions.append((c[0], c[1], current[c] + IOBUF_HEAD.size, used))
                    order.append(c)
            for c, data in zip(order, read_many(regions) if regions else []):
                texts[c] += data
            current = {c: blocks[c].next for c in keys if blocks[c].next}
        return {c: t.decode("utf-8", "replace") for c, t in texts.items()}


def _access(addr, n):
    if addr % 4 == 0 and n % 4 == 0:
        return 2
    if addr % 2 == 0 and n % 2 == 0:
        return 1
    return 0


def boot_board(host, version=5, scamp_version=C.DEFAULT_SCAMP_VERSION, timeout=20.0, gap=0.0, **sv):
    """Boot a board through the real boot protocol, then wait until VER reports
    a P2P address (netinit done). Returns the VER reply. Already booted: returns at once."""
    def booted(conn):
        try:
            ver = conn.version()
        except NoBoard:
            raise
        except SCPTimeout:                                  # unbooted: silent
            return None
        return ver if ver["p2p"] != 0xFFFF else None      # 0xFFFF: still in netinit

    if nothing_listens(host):       # no need to wait `timeout` s to know
        raise NoBoard(host)
    with SCPConnection(host, timeout=0.2, retries=1) as conn:
        ver = booted(conn)
        if ver:
            return ver
        bsock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for pkt in boot_packets(make_boot_image(version, scamp_version, **sv)):
                bsock.sendto(pkt, (host, C.BOOT_PORT))
                if gap:
                    time.sleep(gap)
        finally:
            bsock.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ver = booted(conn)
            if ver:
                return ver
            time.sleep(0.01)
    raise SCPTimeout("board %s did not boot within %.0f s" % (host, timeout))
