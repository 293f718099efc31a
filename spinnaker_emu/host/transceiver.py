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

The class is assembled from its parts along their seams: tx_discovery (machine
discovery, sv_t values), tx_memory (memory, SDRAM, user words, IOBUF), tx_loading
(images onto cores), tx_routes (routes, IP tags, listeners, SDP); core states,
signals and waiting are here. tx_model holds the machine model and errors.
"""
import struct
import time

from ..protocol import constants as C
from ..protocol.boot import version_tuple
from ..protocol.constants import SCPCommand as CMD, CPUState, Signal, state_name, rte_name
from ..protocol import words as W
from .bulk import BulkClient
from .scp import Closing, SCPConnection, SCPError, SCPTimeout, boot_board
from .tx_discovery import DiscoveryMixin
from .tx_loading import LoadingMixin
from .tx_memory import BULK_THRESHOLD, MemoryMixin
from .tx_model import TransceiverError, ChipInfo, DiscoveredMachine, RoutingEntry, route_word, norm_cores
from .tx_routes import RoutesTagsMixin, TagListener

__all__ = ["Transceiver", "TransceiverError", "CoreStateError", "ChipsNotResponding", "CoreStateTimeout",
           "ChipInfo", "DiscoveredMachine", "RoutingEntry", "route_word", "TagListener", "BULK_THRESHOLD",
           "ERROR_STATES"]

ERROR_STATES = (CPUState.RTE, CPUState.WDOG)


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


# ---------------------------------------------------------------------- transceiver
class Transceiver(Closing, DiscoveryMixin, MemoryMixin, LoadingMixin, RoutesTagsMixin):
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
        ver = self.conn.version()
        self.scamp_version = ver["version"]
        self.scamp_major = version_tuple(self.scamp_version)[0] if self.scamp_version else 4
        if discover:
            self.discover()

    def close(self):
        self.conn.close()
        if self.bulk is not None:
            self.bulk.close()

    @property
    def has_bulk(self):
        return self.bulk is not None

    # ================================================================ signals and core states
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
        return self.count_state_complete(app_id, state)[0]

    def count_state_complete(self, app_id, state):
        """(count_state's count, whether every board and chip answered)."""
        if self.scamp_major < 4:
            word = W.pack_state_count(state, app_id)
            _rc, payload, _h = self.conn.send(255, 255, 0, CMD.SIG, (C.SIG_TYPE_P2P, word, 0xFFFF))
            return (struct.unpack_from("<I", payload)[0] if len(payload) >= 4 else 0), True
        total, all_answered = 0, True
        eths = sorted(self.machine.ethernets) if self.machine else [(255, 255)]
        for (x, y) in eths:
            try:
                # 2 tries, not 5: a board that does not answer only makes the caller
                # check each core, which names the silent chips (4 s, not 10 s)
                n, complete = self.conn.count_board(x, y, app_id, state, tries=2)
            except SCPTimeout:
                # that board's Ethernet chip is silent: the per-core check names it
                all_answered = False
                continue
            if not complete:
                all_answered = False       # some chip of that board did not answer
            total += n
        return total, all_answered

    def get_core_states(self, chips):
        """{(x, y, p): CPUState} for every core of the given chips (one CMD_INFO per chip)."""
        return self.core_states_and_silent(chips)[0]

    def core_states_and_silent(self, chips):
        """(get_core_states' answer, the set of chips that did not answer)."""
        chips = sorted(set(tuple(c) for c in chips))
        out, silent = {}, set()

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
            for i, (x, y) in enumerate(chips):
                if (x, y, 0) in out:
                    continue
                try:
                    rc, payload, hdr = self.conn.send(x, y, 0, CMD.INFO, (0x5F,), check=False,
                                                      timeout=0.3)
                    got(i, rc, payload, hdr)
                except SCPTimeout:
                    silent.add((x, y))
        return out, silent

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
        targets = norm_cores(cores_by_chip)
        cores = [(x, y, p) for (x, y), ps in sorted(targets.items()) for p in ps]
        if not cores:
            return {}
        deadline = time.monotonic() + timeout
        use_count = app_id is not None
        polls = 0
        while True:
            check = True
            polls += 1
            if use_count and polls % 20:       # every 20th poll checks the cores anyway
                n_ok = n_bad = 0
                complete = True
                for s in want:              # a board that did not answer: stop counting
                    if complete:
                        n, complete = self.count_state_complete(app_id, s)
                        n_ok += n
                for s in errors:
                    if complete:
                        n, complete = self.count_state_complete(app_id, s)
                        n_bad += n
                check = n_ok >= len(cores) or n_bad > 0 or not complete
            if check or time.monotonic() >= deadline:
                cur, silent_chips = self.core_states_and_silent(targets)
                silent = {xy: sorted(targets[xy]) for xy in silent_chips if xy in targets}
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


def _describe(cores):
    """'0,0,1 RUN; 0,0,2 RUN; ...' with at most 20 cores named."""
    items = sorted(cores.items())
    text = "; ".join("%d,%d,%d in %s" % (x, y, p, state_name(s) if s is not None else "no reply")
                     for (x, y, p), s in items[:20])
    if len(items) > 20:
        text += "; and %d more" % (len(items) - 20)
    return text
