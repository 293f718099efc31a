"""The host transceiver: everything a tool chain does with a SpiNNaker machine,
over the real protocols (SCP on 17893, boot on 54321) plus, on an emulated
board, the bulk channel on 17894 (docs/BULK.md).

    with Transceiver("127.0.1.1", version=5) as tx:      # boots if needed, discovers
        m = tx.machine                                    # DiscoveredMachine
        tx.write_memory(3, 3, addr, data)                 # bulk if the board has it, else SCP
        tx.execute_flood({(0, 0): [1, 2], (1, 1): [3]}, image, app_id=30, wait=True)
        tx.wait_for_cores({(0, 0): [1, 2], (1, 1): [3]}, CPUState.WAIT, app_id=30)
        tx.send_signal(30, Signal.START)

Memory transfers larger than one SCP packet go over the bulk channel when the
board answered its HELLO at connect time; otherwise (a real board) over
pipelined SCP with 8 requests in flight and retries that reuse the sequence
number. Errors name the chips and cores involved.
"""
import socket
import struct
import time
from dataclasses import dataclass, field

from ..machine.geometry import Machine, LINK_DELTAS, opposite
from ..protocol import constants as C
from ..protocol import eieio
from ..protocol.boot import version_tuple
from ..protocol.constants import SCPCommand as CMD, CPUState, Signal, state_name, rte_name
from ..protocol.sdp import SDPHeader, ProtocolError
from ..protocol import words as W
from ..protocol.structs import (SV, vcpu_address, unpack_chip_info, IPTAG_T, RTR_ENTRY, sv_address, field_size,
                                field_value, unpack_iobuf_head, IOBUF_HEAD)
from ..protocol.words import core_mask
from .bulk import BulkClient
from .loader import flood, flood_blocks, pad_image, tree_load
from .progress import make as make_progress
from .scp import SCPConnection, SCPError, SCPTimeout, boot_board

BULK_THRESHOLD = C.SDP_BUF_SIZE       # more than one SCP packet: use the bulk channel
ERROR_STATES = (CPUState.RTE, CPUState.WDOG)


class TransceiverError(IOError):
    pass


class CoreStateError(TransceiverError):
    """Cores ended in RTE / watchdog while we waited. ``cores``: {(x, y, p): info}."""

    def __init__(self, message, cores):
        super().__init__(message)
        self.cores = cores


class ChipsNotResponding(TransceiverError):
    """Chips stopped answering (e.g. their process died) while we waited for their
    cores. ``chips``: {(x, y): [cores we were waiting for]}."""

    def __init__(self, message, chips):
        super().__init__(message)
        self.chips = chips


class CoreStateTimeout(TransceiverError):
    """Cores did not reach the wanted states in time. ``cores``: {(x, y, p): state}."""

    def __init__(self, message, cores):
        super().__init__(message)
        self.cores = cores


# ---------------------------------------------------------------------- machine model
@dataclass
class ChipInfo:
    x: int
    y: int
    n_cores: int
    links: frozenset            # working links to chips that answered
    parent_link: int            # towards the root (7 = the root); None on SC&MP 3
    eth: tuple                  # nearest Ethernet chip
    ip: str                     # this chip's IP if it is an Ethernet chip, else None
    states: bytes               # cpu_state of cores 0..17 at discovery
    largest_sdram: int
    largest_rtr: int

    @property
    def xy(self):
        return (self.x, self.y)

    @property
    def idle_cores(self):
        """Application cores free at discovery (what SpiNNMan makes placeable)."""
        return [p for p in range(1, self.n_cores) if self.states[p] == CPUState.IDLE]


@dataclass
class DiscoveredMachine:
    width: int
    height: int
    boot_chip: tuple
    chips: dict = field(default_factory=dict)     # (x, y) -> ChipInfo
    machine: Machine = None                       # geometry model of what was found
    scamp_version: str = ""

    @property
    def ethernets(self):
        return {xy: c.ip for xy, c in self.chips.items() if c.ip}

    def __iter__(self):
        return iter(sorted(self.chips))

    def __len__(self):
        return len(self.chips)

    @property
    def n_cores(self):
        return sum(c.n_cores for c in self.chips.values())


@dataclass
class RoutingEntry:
    key: int
    mask: int
    route: int
    index: int = None
    app_id: int = None

    @property
    def links(self):
        return [l for l in range(6) if self.route & (1 << l)]

    @property
    def cores(self):
        return [p for p in range(C.N_CORES) if self.route & (1 << (6 + p))]


def route_word(links=(), cores=()):
    r = 0
    for l in links:
        r |= 1 << l
    for p in cores:
        r |= 1 << (6 + p)
    return r


def _ip_word(ip):
    return struct.unpack("<I", socket.inet_aton(ip))[0]


def _norm_cores(cores_by_chip):
    """{(x, y): iterable} or [(x, y, p)...] -> {(x, y): sorted cores}."""
    out = {}
    if isinstance(cores_by_chip, dict):
        for xy, ps in cores_by_chip.items():
            ps = sorted(set(ps))
            if ps:
                out[tuple(xy)] = ps
    else:
        for (x, y, p) in cores_by_chip:
            out.setdefault((x, y), set()).add(p)
        out = {xy: sorted(ps) for xy, ps in out.items()}
    return out


# ---------------------------------------------------------------------- listener
class TagListener:
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

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# ---------------------------------------------------------------------- transceiver
class Transceiver:
    def __init__(self, host, version=5, boot=True, use_bulk=True, progress=None, timeout=0.5,
                 retries=5, window=8, discover=True, **boot_options):
        """Connect to the board at ``host`` (booting it first unless ``boot=False``),
        probe the bulk port and discover the machine. ``progress``: True/False to force
        progress bars on long transfers on/off; None = only when stderr is a terminal."""
        self.host, self.version = host, version
        self.window = window
        self.progress = progress
        if boot:
            boot_board(host, version, **boot_options)
        self.conn = SCPConnection(host, timeout=timeout, retries=retries)
        self.bulk = None
        if use_bulk:
            client = BulkClient(host)
            if client.probe() is not None:
                self.bulk = client
            else:
                client.close()
        self._sv_cache = {}
        self.machine = None
        self.count_incomplete = False
        self.silent_chips = set()
        ver = self.conn.version()
        self.scamp_version = ver["version"]
        self.scamp_major = version_tuple(self.scamp_version)[0] if self.scamp_version else 4
        if discover:
            self.discover()

    def close(self):
        self.conn.close()
        if self.bulk is not None:
            self.bulk.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    @property
    def has_bulk(self):
        return self.bulk is not None

    # ================================================================ discovery
    def discover(self):
        """Dimensions from SV, live chips from the boot chip's P2P table, then CMD_INFO
        on every live chip (8 in flight). Chips that do not answer are left out, and
        so are links to them."""
        conn = self.conn
        dims = conn.read(255, 255, sv_address("p2p_dims", alias=True), 2)
        width, height = dims[1], dims[0]
        ver = conn.version()
        boot = (ver["x"], ver["y"])
        words_per_col = (height + 7) // 8
        ops = [(boot[0], boot[1], 0, CMD.READ, (C.ROUTER_BASE + C.RTR_P2P_TABLE + 128 * x, 4 * words_per_col, 2), b"")
               for x in range(width)]
        cols = {}
        conn.pipeline(ops, lambda i, _rc, payload, _h: cols.__setitem__(i, payload), self.window)
        live = []
        for x in range(width):
            col = cols[x]
            for y in range(height):
                word = struct.unpack_from("<I", col, 4 * (y >> 3))[0]
                if (word >> (3 * (y & 7))) & 7 != C.P2P_NONE:
                    live.append((x, y))
        infos = {}

        def got(i, rc, payload, hdr):
            if rc == C.RC.OK and len(payload) >= 36:
                infos[live[i]] = unpack_chip_info(payload)
        try:
            conn.pipeline([(x, y, 0, CMD.INFO, (0x5F,), b"") for (x, y) in live], got, self.window, check=False)
        except SCPTimeout:
            # One chip that does not answer must not hide the others: ask one by one.
            for i, (x, y) in enumerate(live):
                if (x, y) in infos:
                    continue
                try:
                    rc, payload, hdr = conn.send(x, y, 0, CMD.INFO, (0x5F,), check=False)
                    got(i, rc, payload, hdr)
                except SCPTimeout:
                    pass
        chips, wrap = {}, False
        for (x, y), info in infos.items():
            links = []
            for link in range(6):
                if not info["links"] & (1 << link):
                    continue
                dx, dy = LINK_DELTAS[link]
                nx, ny = x + dx, y + dy
                outside = not (0 <= nx < width and 0 <= ny < height)
                n = (nx % width, ny % height)
                other = infos.get(n)
                if other is not None and other["links"] & (1 << opposite(link)):
                    links.append(link)
                    wrap = wrap or outside
            ip = socket.inet_ntoa(info["ip"]) if info["eth_up"] and any(info["ip"]) else None
            chips[(x, y)] = ChipInfo(x, y, min(info["n_cores"], C.N_CORES), frozenset(links),
                                     info["parent_link"], (info["eth_x"], info["eth_y"]), ip,
                                     info["states"], info["largest_sdram"], info["largest_rtr"])
        machine = Machine(width, height, {xy: c.links for xy, c in chips.items()},
                          {xy: c.ip for xy, c in chips.items() if c.ip},
                          {xy: c.n_cores for xy, c in chips.items()}, wrap, self.version)
        if self.scamp_major < 4:            # no parent links in INFO: use the BFS tree SC&MP builds
            parents, _children = machine.spanning_tree(boot)
            for xy, c in chips.items():
                c.parent_link = parents.get(xy)
        self.machine = DiscoveredMachine(width, height, boot, chips, machine, self.scamp_version)
        return self.machine

    def _chip(self, x, y):
        if self.machine is not None and (x, y) not in self.machine.chips:
            raise TransceiverError("chip %d,%d is not in the machine (%d chips found)" % (x, y, len(self.machine)))
        return self.machine.chips[(x, y)] if self.machine else None

    def sv_value(self, x, y, name, cached=True):
        """An sv_t field of chip (x, y) (addresses fixed at boot are cached)."""
        key = (x, y, name)
        if cached and key in self._sv_cache:
            return self._sv_cache[key]
        v = field_value(SV, name, self.conn.read(x, y, sv_address(name), field_size(SV, name)))
        if cached:
            self._sv_cache[key] = v
        return v

    # ================================================================ memory
    def _bar(self, label, total):
        return make_progress(label, total, self.progress)

    def read_memory(self, x, y, address, length, p=0):
        if length <= 0:
            return b""
        bar = self._bar("read %d,%d" % (x, y), length)
        try:
            if self.bulk is not None and length > BULK_THRESHOLD:
                return bytes(self.bulk.read([(x, y, p, address, length)], bar)[0])
            return self.conn.read(x, y, address, length, p, self.window, bar)
        finally:
            if bar:
                bar.finish()

    def write_memory(self, x, y, address, data, p=0):
        if not len(data):
            return
        bar = self._bar("write %d,%d" % (x, y), len(data))
        try:
            if self.bulk is not None and len(data) > BULK_THRESHOLD:
                self.bulk.write([(x, y, p, address, data)], bar)
            else:
                self.conn.write(x, y, address, data, p, self.window, bar)
        finally:
            if bar:
                bar.finish()

    def read_memory_many(self, regions, p=0):
        """Read [(x, y, address, length)...] with every chip busy at once; list of bytes."""
        regions = [tuple(r) for r in regions]
        total = sum(r[3] for r in regions)
        bar = self._bar("read %d regions" % len(regions), total)
        try:
            if self.bulk is not None:
                return [bytes(b) for b in self.bulk.read([(x, y, p, a, n) for (x, y, a, n) in regions], bar)]
            return self.conn.read_many(regions, p, self.window, bar)
        finally:
            if bar:
                bar.finish()

    def write_memory_many(self, regions, p=0):
        """Write [(x, y, address, data)...] with every chip busy at once."""
        regions = [tuple(r) for r in regions]
        total = sum(len(r[3]) for r in regions)
        bar = self._bar("write %d regions" % len(regions), total)
        try:
            if self.bulk is not None:
                self.bulk.write([(x, y, p, a, d) for (x, y, a, d) in regions], bar)
            else:
                self.conn.write_many(regions, p, self.window, bar)
        finally:
            if bar:
                bar.finish()

    def read_word(self, x, y, address, p=0):
        return self.conn.read_word(x, y, address, p)

    def write_word(self, x, y, address, value, p=0):
        self.conn.write_word(x, y, address, value, p)

    def fill_memory(self, x, y, address, word, length):
        """CMD_FILL: ``length`` bytes (multiple of 4) of the 32-bit ``word``."""
        self.conn.send(x, y, 0, CMD.FILL, (address, word & 0xFFFFFFFF, length))

    def read_user(self, x, y, p, n):
        return self.read_word(x, y, vcpu_address(p, "user%d" % n))

    def write_user(self, x, y, p, n, value):
        self.write_word(x, y, vcpu_address(p, "user%d" % n), value)

    # ================================================================ SDRAM
    def malloc_sdram(self, x, y, size, app_id, tag=0):
        """Allocate from the chip's SDRAM heap (SpiNNMan's form: tag retry flag set)."""
        a1 = W.pack_alloc_arg(C.ALLOC_SDRAM, app_id, C.ALLOC_FLAG_TAG_RETRY)
        _rc, p, _h = self.conn.send(x, y, 0, CMD.ALLOC, (a1, size, tag))
        addr = struct.unpack_from("<I", p)[0] if len(p) >= 4 else 0
        if not addr:
            raise TransceiverError("chip %d,%d: cannot allocate %d bytes of SDRAM for app %d%s"
                                   % (x, y, size, app_id, " (tag %d)" % tag if tag else ""))
        return addr

    def free_sdram(self, x, y, address):
        self.conn.send(x, y, 0, CMD.ALLOC, (C.FREE_SDRAM, address))

    def free_sdram_by_app(self, x, y, app_id):
        _rc, p, _h = self.conn.send(x, y, 0, CMD.ALLOC, (W.pack_alloc_arg(C.FREE_SDRAM_ID, app_id),))
        return struct.unpack_from("<I", p)[0] if len(p) >= 4 else 0

    # ================================================================ applications
    def execute_flood(self, cores_by_chip, image, app_id, wait=False):
        """Load ``image`` onto the given cores ({(x, y): cores} or [(x, y, p)]).

        One flood fill carries the image to every chip. SC&MP 4 ignores flood-fill
        regions, so its core selection (FFCS) applies to every chip alike: when all
        chips of the machine want the same cores we flood with that mask; otherwise
        we flood with an empty mask (the image lands in every chip's sdram_sys,
        nothing starts) and start each chip's own cores with an AR to that chip (8
        in flight). SC&MP 3 honours regions, so there one flood carries an FFCS per
        (4x4 block, core set) and nothing else is needed (what rig does). Images
        larger than one flood fill (255 blocks) go SpiNNMan's way: APP_COPY_RUN down
        the tree of parent links."""
        targets = _norm_cores(cores_by_chip)
        if not targets:
            return
        for (x, y), cores in targets.items():
            chip = self._chip(x, y)
            bad = [p for p in cores if not 1 <= p < (chip.n_cores if chip else C.N_CORES)]
            if bad:
                raise TransceiverError("chip %d,%d has no application core(s) %s" % (x, y, bad))
        image = pad_image(image)
        if flood_blocks(image) > W.MAX_FLOOD_BLOCKS:
            self._tree_load(targets, image, app_id, wait)
            return
        masks = {xy: core_mask(cores) for xy, cores in targets.items()}
        all_chips = set(self.machine.chips) if self.machine else set(targets)
        if self.scamp_major < 4:
            selections = []
            by_mask = {}
            for xy, m in masks.items():
                by_mask.setdefault(m, []).append(xy)
            for m, chips in by_mask.items():
                blocks = {}
                for (x, y) in chips:
                    key = (x & ~3, y & ~3)
                    blocks[key] = blocks.get(key, 0) | (1 << ((x & 3) + 4 * (y & 3)))
                for (bx, by), bits in blocks.items():
                    selections.append((m, W.pack_region(bx, by, bits)))
            self._flood(image, selections, app_id, wait)
        elif set(masks) == all_chips and len(set(masks.values())) == 1:
            self._flood(image, [(next(iter(masks.values())), W.REGION_ALL)], app_id, wait)
        else:
            self._flood(image, [(0, W.REGION_ALL)], app_id, wait)
            flags = C.APP_FLAG_WAIT if wait else 0
            ops = [(x, y, 0, CMD.AR, (W.pack_start(app_id, flags, m),), b"")
                   for (x, y), m in sorted(masks.items())]
            self.conn.pipeline(ops, None, self.window)

    def _flood(self, image, selections, app_id, wait):
        """One flood fill (host/loader.flood), its FFD blocks pipelined."""
        flood(self.conn, image, selections, app_id, wait, flood_id=(app_id % 250) + 1,
              sdram_sys=lambda: self.sv_value(255, 255, "sdram_sys"), window=self.window)

    def _tree_load(self, targets, image, app_id, wait):
        boot = self.machine.boot_chip
        if self.bulk is not None:             # the one big write goes fast; tree_load's is then a no-op size
            self.write_memory(boot[0], boot[1], self.sv_value(boot[0], boot[1], "sdram_sys"), image)
        chips = {xy: c.parent_link for xy, c in self.machine.chips.items()}
        tree_load(_SkipWrite(self.conn) if self.bulk is not None else self.conn, chips, image, targets, app_id, wait)

    def send_signal(self, app_id, signal):
        """CMD_SIG to the root, with SpiNNMan's transport choice (NN for the signals
        that must reach idle cores' monitors, MC otherwise)."""
        signal = Signal(signal)
        kind = C.SIG_TYPE_NN if signal in (Signal.INIT, Signal.PWRDN, Signal.STOP) else C.SIG_TYPE_MC
        self.conn.signal(app_id, signal, kind)

    def stop_application(self, app_id):
        self.send_signal(app_id, Signal.STOP)

    def count_state(self, app_id, state):
        """Cores of ``app_id`` in ``state`` over every board: CMD_COUNT per Ethernet
        chip on SC&MP 4, the P2P state count (CMD_SIG type 1) on SC&MP 3."""
        if self.scamp_major < 4:
            word = W.pack_state_count(state, app_id)
            _rc, payload, _h = self.conn.send(255, 255, 0, CMD.SIG, (C.SIG_TYPE_P2P, word, 0xFFFF))
            return struct.unpack_from("<I", payload)[0] if len(payload) >= 4 else 0
        total = 0
        eths = sorted(self.machine.ethernets) if self.machine else [(255, 255)]
        for (x, y) in eths:
            try:
                # 2 tries, not 5: a board that does not answer only makes the caller
                # check each core, which names the silent chips (4 s, not 10 s)
                n, complete = self.conn.count_board(x, y, app_id, state, tries=2)
            except SCPTimeout:
                # that board's Ethernet chip is silent: the per-core check names it
                self.count_incomplete = True
                continue
            if not complete:
                self.count_incomplete = True       # some chip of that board did not answer
            total += n
        return total

    def get_core_states(self, chips):
        """{(x, y, p): CPUState} for every core of the given chips (one CMD_INFO per chip)."""
        chips = sorted(set(tuple(c) for c in chips))
        out = {}

        def got(i, rc, payload, _h):
            if rc == C.RC.OK and len(payload) >= 30:
                x, y = chips[i]
                n = self.machine.chips[(x, y)].n_cores if self.machine and (x, y) in self.machine.chips else C.N_CORES
                for p in range(n):
                    out[(x, y, p)] = payload[12 + p]
        try:
            self.conn.pipeline([(x, y, 0, CMD.INFO, (0x5F,), b"") for (x, y) in chips], got, self.window,
                               check=False)
        except SCPTimeout:
            # Some chip is silent: ask the rest one by one so the answer names it.
            self.silent_chips = set()
            for i, (x, y) in enumerate(chips):
                if (x, y, 0) in out:
                    continue
                try:
                    rc, payload, hdr = self.conn.send(x, y, 0, CMD.INFO, (0x5F,), check=False,
                                                      timeout=0.3)
                    got(i, rc, payload, hdr)
                except SCPTimeout:
                    self.silent_chips.add((x, y))
        return out

    def get_cpu_info(self, x, y, p):
        return self.conn.vcpu(x, y, p)

    def wait_for_cores(self, cores_by_chip, states, app_id=None, timeout=10.0, poll=0.05,
                       error_states=ERROR_STATES, max_poll=None):
        """Wait until every given core is in one of ``states``.

        Raises CoreStateError as soon as one of them is in RTE or watchdog (unless
        wanted), naming each such core with its IOBUF text, and CoreStateTimeout
        naming every core still elsewhere after ``timeout`` seconds. With an app id on
        SC&MP 4, CMD_COUNT per board is the cheap poll; the per-core check (CMD_INFO
        per chip) runs when the counts say "done" or "something failed" (SC&MP 3: the
        P2P state count). ``max_poll``: the interval grows by half each poll up to
        this (long runs: fewer board-wide COUNTs competing with the ticking chips)."""
        if isinstance(states, (int, CPUState)):
            states = (states,)
        want = {int(s) for s in states}
        errors = {int(s) for s in error_states} - want
        targets = _norm_cores(cores_by_chip)
        cores = [(x, y, p) for (x, y), ps in sorted(targets.items()) for p in ps]
        if not cores:
            return {}
        deadline = time.monotonic() + timeout
        use_count = app_id is not None
        polls = 0
        while True:
            check = True
            polls += 1
            self.count_incomplete = False
            if use_count and polls % 20:       # every 20th poll checks the cores anyway
                n_ok = n_bad = 0
                for s in want:              # a board that did not answer: stop counting
                    if not self.count_incomplete:
                        n_ok += self.count_state(app_id, s)
                for s in errors:
                    if not self.count_incomplete:
                        n_bad += self.count_state(app_id, s)
                check = n_ok >= len(cores) or n_bad > 0 or self.count_incomplete
            if check or time.monotonic() >= deadline:
                self.silent_chips = set()
                cur = self.get_core_states(targets)
                silent = {xy: sorted(targets[xy]) for xy in self.silent_chips if xy in targets}
                if silent:
                    raise ChipsNotResponding(
                        "chip(s) stopped answering while waiting for %s: %s%s" % (
                            "/".join(state_name(s) for s in sorted(want)),
                            "; ".join("%d,%d (cores %s)" % (xy[0], xy[1], ",".join(map(str, ps)))
                                      for xy, ps in sorted(silent.items())),
                            self._silent_boards(silent)), silent)
                failed = {c: cur.get(c) for c in cores if cur.get(c) in errors}
                if failed:
                    raise self._rte_error(failed, want)
                if all(cur.get(c) in want for c in cores):
                    return {c: CPUState(cur[c]) for c in cores}
                if time.monotonic() >= deadline:
                    late = {c: cur.get(c) for c in cores if cur.get(c) not in want}
                    raise CoreStateTimeout(
                        "%d of %d cores did not reach %s within %.1f s: %s" % (
                            len(late), len(cores), "/".join(state_name(s) for s in sorted(want)), timeout,
                            _describe(late)), late)
            time.sleep(poll)
            if max_poll is not None:
                poll = min(max_poll, poll * 1.5)

    def _silent_boards(self, silent):
        """On a machine of several boards, which boards the silent chips are on and
        whether each still answers on its own address: if it does, what broke is the
        links between it and the other boards (e.g. a cut network between hosts of a
        cluster); if not, the board or its host is gone."""
        m = self.machine
        if m is None or len(m.ethernets) < 2:
            return ""
        boards = {}
        for xy in silent:
            info = m.chips.get(xy)
            eth = info.eth if info is not None else None
            boards.setdefault(eth, []).append(xy)
        out = []
        for eth, chips in sorted(boards.items(), key=lambda kv: str(kv[0])):
            ip = m.ethernets.get(eth)
            if ip is None:
                continue
            try:
                with SCPConnection(ip, timeout=0.5, retries=2) as direct:
                    direct.send(eth[0], eth[1], 0, CMD.VER)     # its own Ethernet chip
                answers = True
            except (SCPTimeout, OSError):
                answers = False
            others = sorted(a for e, a in m.ethernets.items() if e != eth)
            if answers:
                out.append("board %s answers on its own address but not over the links from "
                           "board(s) %s: the links between them are down" % (ip, ", ".join(others)))
            else:
                out.append("board %s does not answer on its own address either: the board, its "
                           "host or the network to it is down" % ip)
        return " -- " + "; ".join(out) if out else ""

    def _rte_error(self, failed, want):
        iobufs = self.get_iobuf(list(failed))
        lines, info = [], {}
        for (x, y, p), s in sorted(failed.items()):
            try:
                v = self.conn.vcpu(x, y, p)
                rt = rte_name(v["rt_code"])
                name = v["app_name"]
            except (SCPError, SCPTimeout):
                rt, name = "?", "?"
            text = iobufs.get((x, y, p), "").strip()
            info[(x, y, p)] = {"state": state_name(s), "rt_code": rt, "app_name": name, "iobuf": text}
            lines.append("  core %d,%d,%d (%s) in %s, rt_code %s; IOBUF: %s" % (
                x, y, p, name, state_name(s), rt, text.replace("\n", "\n    ") if text else "(empty)"))
        return CoreStateError("%d core(s) failed while waiting for %s:\n%s" % (
            len(failed), "/".join(state_name(s) for s in sorted(want)), "\n".join(lines)), info)

    # ================================================================ IOBUF
    def get_iobuf(self, cores):
        """{(x, y, p): IOBUF text} for [(x, y, p)...] or {(x, y): cores}."""
        targets = _norm_cores(cores)
        cores = [(x, y, p) for (x, y), ps in sorted(targets.items()) for p in ps]
        sizes = {}
        for (x, y) in targets:
            sizes[(x, y)] = self.sv_value(x, y, "iobuf_size")
        heads = {}
        self.conn.pipeline([(x, y, 0, CMD.READ, (vcpu_address(p, "iobuf"), 4, 2), b"") for (x, y, p) in cores],
                           lambda i, _rc, pl, _h: heads.__setitem__(cores[i], struct.unpack("<I", pl)[0]),
                           self.window)
        texts = {c: b"" for c in cores}
        current = {c: a for c, a in heads.items() if a}
        guard = 0
        while current and guard < 1024:
            guard += 1
            keys = sorted(current)
            blocks = {}
            self.conn.pipeline([(c[0], c[1], 0, CMD.READ, (current[c], IOBUF_HEAD.size, 2), b"") for c in keys],
                               lambda i, _rc, pl, _h: blocks.__setitem__(keys[i], unpack_iobuf_head(pl)),
                               self.window)
            regions, order = [], []
            for c in keys:
                nxt, _t, _ms, used = blocks[c]
                used = min(used, sizes[(c[0], c[1])])
                if used:
                    regions.append((c[0], c[1], current[c] + IOBUF_HEAD.size, used))
                    order.append(c)
            for c, data in zip(order, self.read_memory_many(regions) if regions else []):
                texts[c] += data
            current = {c: blocks[c][0] for c in keys if blocks[c][0]}
        return {c: t.decode("utf-8", "replace") for c, t in texts.items()}

    # ================================================================ routing
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

    # ================================================================ IP tags
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

    # ================================================================ SDP
    def send_sdp(self, x, y, p, port, data, tag=C.TAG_NONE):
        """An SDP message (no reply expected) to port ``port`` of core x,y,p."""
        if not 1 <= port <= 7:
            raise ValueError("SDP port %d: ports 1..7 reach application cores (0 is SCP)" % port)
        if len(data) > C.SDP_BUF_SIZE + C.SCP_ARGS_LEN + C.SCP_HEADER_LEN:
            raise ValueError("SDP data of %d bytes is longer than 272" % len(data))
        hdr = SDPHeader(flags=C.SDP_FLAGS_NO_REPLY, tag=tag, dest_port=port, dest_cpu=p,
                        srce_port=7, srce_cpu=31, dest_x=x, dest_y=y)
        self.conn.sock.send(b"\0\0" + hdr.pack() + bytes(data))


class _SkipWrite:
    """tree_load's connection, minus the image write already done over the bulk channel."""

    def __init__(self, conn):
        self._conn = conn

    def write(self, *a, **kw):
        pass

    def __getattr__(self, name):
        return getattr(self._conn, name)


def _describe(cores):
    """'0,0,1 RUN; 0,0,2 RUN; ...' with at most 20 cores named."""
    items = sorted(cores.items())
    text = "; ".join("%d,%d,%d in %s" % (x, y, p, state_name(s) if s is not None else "no reply")
                     for (x, y, p), s in items[:20])
    if len(items) > 20:
        text += "; and %d more" % (len(items) - 20)
    return text
