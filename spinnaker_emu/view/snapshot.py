"""The data layer of ``spinnaker-emu view``: a running machine as a plain dict (JSON),
read over SCP as any host tool would, so it works against a real machine too.

    with MachineSnapshot("127.0.1.1") as ms:
        snap = ms.poll()            # {"chips": [...], "states": {...}, "run": {...}, ...}

A poll is a few pipelined SCP batches (window 8, the transceiver's retry rules):
CMD_INFO (the 18 core states) and a READ of the router's diagnostic counters for every
chip on the first poll, then for up to CHIPS_PER_POLL chips (busy ones first, the rest
in turn); the vcpu_t of cores whose state changed (app id, name, rt_code, user0-3) plus
a few more in turn; the progress word of up to RUN_SAMPLE ticking cores. Rates
(packets/s) are a chip's counter differences between two of its samples over the time
between them. Nothing is written to the machine.
"""
import socket
import struct
import time

from ..apps.regions import REGION_TABLE_MAGIC, SYSTEM_REGION_WORDS
from ..protocol import constants as C
from ..protocol.constants import SCPCommand as CMD, CPUState, state_name, rte_name
from ..protocol.structs import VCPU, get_field, unpack_chip_info, vcpu_address
from ..host.scp import SCPTimeout
from ..host.transceiver import Transceiver
from .layout import Layout

# Router diagnostic counter indices (SpiNNMan's RouterDiagnostics order)
DIAG_LOC_MC, DIAG_EXT_MC, DIAG_DUMP_MC = 0, 1, 8
N_DIAG = 16
CHIPS_PER_POLL = 16         # chips asked per poll after the first (busy ones first)
RUN_SAMPLE = 4               # ticking cores whose progress is read per poll
VCPU_REFRESH = 8             # unchanged busy cores whose vcpu_t is re-read per poll
TICKING = (CPUState.RUN, CPUState.PAUSE, CPUState.SYNC0, CPUState.SYNC1)
# The system region of a timer-driven core (apps/regions.py, docs/RUNTIME.md): timer
# period, n_ticks, time scale x 1000, then the address of its provenance words, the
# first of which is the ticks done (board/cores.py PROVENANCE_FIELDS)
SYSTEM_REGION = struct.Struct("<%dI" % SYSTEM_REGION_WORDS)
# what user0 points at: magic, version, then region 0's address (apps/regions.py)
REGION_TABLE_HEAD = struct.Struct("<3I")


class MachineSnapshot:
    def __init__(self, host, version=None, timeout=0.3, retries=3):
        # boot=False: a viewer never boots or changes a machine; no answer -> SCPTimeout.
        # version None: a 2 x 2 machine is a SpiNN-3 board, anything else SpiNN-5 boards.
        self.tx = Transceiver(host, version=version or 5, boot=False, timeout=timeout,
                              retries=retries, progress=False)
        self.host = host
        m = self.tx.machine
        if version is None:
            version = 3 if (m.width, m.height) == (2, 2) else 5
        self.layout = Layout(m.width, m.height, version, m.ethernets, m.chips, m.machine.wrap)
        self.live = sorted(m.chips)
        # The emulator answers the bulk HELLO and has per-link counters after the
        # diagnostic ones (RTR_EMU_LINK_COUNTERS); a real machine has neither.
        self.emulator = self.tx.has_bulk
        self.counter_bytes = 4 * (N_DIAG + (C.RTR_EMU_LINK_WORDS if self.emulator else 0))
        self.prev = {}               # (x, y) -> (time, [counters], [link counters])
        self.states = {}             # (x, y) -> bytes of 18 states
        self.vcpus = {}              # (x, y, p) -> dict
        self.tables = {}             # (x, y, p, user0) -> (timer period, provenance address) or None
        self.progress_prev = None    # (time, ticks)
        self.refresh_at = 0
        self.infos = {}              # (x, y) -> CMD_INFO of its last answer
        self.routers = {}            # (x, y) -> (router summary, per-link (total, rate))
        self.silent = set()          # discovered, no longer answering
        self.rr = self.rr_busy = 0   # round-robin positions (_chips_this_poll)
        self.polls = 0
        self.last_poll_s = 0.0
        self.last_poll_chips = 0

    def close(self):
        self.tx.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    # ------------------------------------------------------------------ polling
    def _batch(self, ops):
        """Pipelined ops -> {index: (rc, payload)}; a chip that stops answering costs one
        timeout and leaves its entries out instead of failing the whole poll."""
        out = {}
        conn = self.tx.conn

        def got(i, rc, payload, _h):
            out[i] = (rc, payload)
        try:
            conn.pipeline(ops, got, self.tx.window, check=False)
        except SCPTimeout:
            for i, op in enumerate(ops):
                if i in out:
                    continue
                try:
                    rc, payload, _h = conn.send(*op, check=False, timeout=0.2)
                    out[i] = (rc, payload)
                except SCPTimeout:
                    pass
        return out

    def next_poll_s(self):
        """What the next poll should take: the last one's time per chip, for the chips
        the next one asks (the first poll asks every chip, the others at most
        CHIPS_PER_POLL), so that the whole-machine first poll does not hold the second
        back by the poll budget."""
        n = self.last_poll_chips
        return self.last_poll_s * min(1.0, CHIPS_PER_POLL / n) if n else self.last_poll_s

    def _chips_this_poll(self):
        """Every chip on the first poll; then at most CHIPS_PER_POLL: the chips with busy
        cores first, the others in turn (a board's idle chips every few polls), so one
        poll costs the machine about as much whatever its size."""
        if self.polls == 0:
            return list(self.live)
        busy, rest = [], []
        for xy in self.live:
            info = self.infos.get(xy)
            n = min(info["n_cores"], C.N_CORES) if info else 0
            (busy if info and any(st != CPUState.IDLE for st in info["states"][1:n]) else rest).append(xy)
        picked = _turn(busy, self.rr_busy, CHIPS_PER_POLL)
        self.rr_busy += len(picked)
        more = _turn(rest, self.rr, CHIPS_PER_POLL - len(picked))
        self.rr += len(more)
        return picked + more

    def poll(self):
        t_start = time.monotonic()
        chips = self._chips_this_poll()
        ops = []
        for (x, y) in chips:
            ops.append((x, y, 0, CMD.INFO, (0x5F,), b""))
            ops.append((x, y, 0, CMD.READ, (C.ROUTER_BASE + C.RTR_DIAG_COUNTERS,
                                             self.counter_bytes, 2), b""))
        replies = self._batch(ops)
        now = time.monotonic()
        polled = {}
        for k, xy in enumerate(chips):
            info = replies.get(2 * k)
            if info is None or info[0] != C.RC.OK or len(info[1]) < 30:
                self.silent.add(xy)              # discovered, now silent: drawn dead
                self.infos.pop(xy, None)
                continue
            self.silent.discard(xy)
            polled[xy] = self.infos[xy] = unpack_chip_info(info[1])
            rd = replies.get(2 * k + 1)
            if rd is not None and rd[0] == C.RC.OK and len(rd[1]) == self.counter_bytes:
                self.routers[xy] = self._rates(
                    xy, struct.unpack("<%dI" % (self.counter_bytes // 4), rd[1]), now)
        self._read_vcpus(polled)
        run = self._read_progress(self.infos, now)
        self.polls += 1
        self.last_poll_s = time.monotonic() - t_start
        self.last_poll_chips = len(chips)
        return self._assemble(run, len(chips))

    def _read_vcpus(self, infos):
        """vcpu_t of busy cores whose state changed, plus VCPU_REFRESH others in turn."""
        busy = []
        for (x, y), info in infos.items():
            old = self.states.get((x, y))
            for p in range(1, min(info["n_cores"], C.N_CORES)):
                st = info["states"][p]
                key = (x, y, p)
                if st == CPUState.IDLE:
                    self.vcpus.pop(key, None)
                    continue
                changed = old is None or old[p] != st or key not in self.vcpus
                busy.append((changed, key))
            self.states[(x, y)] = info["states"]
        want = [k for changed, k in busy if changed]
        turn = _turn(sorted(k for changed, k in busy if not changed), self.refresh_at, VCPU_REFRESH)
        self.refresh_at += len(turn)
        want += turn
        if not want:
            return
        replies = self._batch([(x, y, 0, CMD.READ, (vcpu_address(p), C.VCPU_SIZE, 2), b"")
                               for (x, y, p) in want])
        for i, key in enumerate(want):
            r = replies.get(i)
            if r is not None and r[0] == C.RC.OK and len(r[1]) == C.VCPU_SIZE:
                self.vcpus[key] = _vcpu_fields(r[1])

    def _read_progress(self, infos, now):
        """Ticks done and tick rate from up to RUN_SAMPLE ticking cores of our own timer
        runtime: user0 -> region table -> system region [period, n_ticks, time scale,
        provenance address] (read once per load) -> the provenance's tick count, which
        the runtime refreshes every 64 ticks (docs/RUNTIME.md)."""
        cores = sorted(k for k, v in self.vcpus.items()
                       if k[:2] in infos and infos[k[:2]]["states"][k[2]] in TICKING and v["user0"])
        if not cores:
            self.progress_prev = None
            return None
        tkey = {k: k + (self.vcpus[k]["user0"],) for k in cores}
        unknown = [k for k in cores if tkey[k] not in self.tables][:RUN_SAMPLE]
        if unknown:
            heads = self._batch([(x, y, 0, CMD.READ, (self.vcpus[(x, y, p)]["user0"],
                                                      REGION_TABLE_HEAD.size, 2), b"")
                                 for (x, y, p) in unknown])
            region0 = {}
            for i, k in enumerate(unknown):
                self.tables[tkey[k]] = None
                r = heads.get(i)
                if r is not None and r[0] == C.RC.OK and len(r[1]) == REGION_TABLE_HEAD.size:
                    magic, _ver, addr = REGION_TABLE_HEAD.unpack(r[1])
                    if magic == REGION_TABLE_MAGIC and addr:
                        region0[k] = addr
            keys = sorted(region0)
            systems = self._batch([(k[0], k[1], 0, CMD.READ, (region0[k], SYSTEM_REGION.size, 2), b"")
                                   for k in keys])
            for i, k in enumerate(keys):
                r = systems.get(i)
                if r is not None and r[0] == C.RC.OK and len(r[1]) == SYSTEM_REGION.size:
                    period, _n, _ts, prov = SYSTEM_REGION.unpack(r[1])
                    if prov:
                        self.tables[tkey[k]] = (period, prov)
        sample = [(k, self.tables[tkey[k]]) for k in cores if self.tables.get(tkey[k])][:RUN_SAMPLE]
        if not sample:
            return None
        rep = self._batch([(x, y, 0, CMD.READ, (prov, 4, 2), b"") for (x, y, _p), (_t, prov) in sample])
        ticks, period = 0, None
        for i, (_k, (per, _prov)) in enumerate(sample):
            r = rep.get(i)
            if r is not None and r[0] == C.RC.OK and len(r[1]) == 4:
                t = struct.unpack("<I", r[1])[0]
                if t >= ticks:
                    ticks, period = t, per
        rate = None
        if self.progress_prev is not None and now > self.progress_prev[0] and ticks >= self.progress_prev[1]:
            rate = (ticks - self.progress_prev[1]) / (now - self.progress_prev[0])
        self.progress_prev = (now, ticks)
        running = sum(1 for k in cores if infos[k[:2]]["states"][k[2]] == CPUState.RUN)
        return {"ticks": ticks, "tick_rate": rate, "timer_period_us": period,
                "simulated_ms": ticks * period / 1000.0 if period else None,
                "running_cores": running, "ticking_cores": len(cores)}

    # ------------------------------------------------------------------ the dict
    def _assemble(self, run, n_polled):
        lay = self.layout
        states_total = {}
        out_chips = []
        live = self.infos
        for xy, (board, pos) in sorted(lay.chips.items()):
            chip = {"x": xy[0], "y": xy[1], "board": board, "pos": list(pos)}
            info = live.get(xy)
            if info is None:
                chip["dead"] = True
                chip["silent"] = xy in self.silent   # discovered, then stopped answering
                chip["links"] = [{"link": l, "state": "dead"} for l in lay.expected_links(xy)]
                out_chips.append(chip)
                continue
            chip["dead"] = False
            n = min(info["n_cores"], C.N_CORES)
            chip["n_cores"] = n
            if info["eth_up"] and any(info["ip"]):
                chip["ip"] = socket.inet_ntoa(info["ip"])
            cores = []
            for p in range(n):
                st = info["states"][p]
                name = state_name(st)
                core = {"p": p, "state": name}
                if p:                                  # core 0 is the monitor
                    states_total[name] = states_total.get(name, 0) + 1
                v = self.vcpus.get((xy[0], xy[1], p))
                if v is not None and st != CPUState.IDLE:
                    core["app_id"], core["app_name"] = v["app_id"], v["app_name"]
                    if st == CPUState.RTE:
                        core["rt_code"] = rte_name(v["rt_code"])
                cores.append(core)
            chip["cores"] = cores
            chip["router"], link_rates = self.routers.get(xy, (None, None))
            links = []
            for l in lay.expected_links(xy):
                nb = lay.neighbour(xy, l)
                other = live.get(nb)
                up = bool(info["links"] & (1 << l)) and other is not None and \
                    bool(other["links"] & (1 << ((l + 3) % 6)))
                entry = {"link": l, "state": "up" if up else "dead"}
                if link_rates is not None:
                    entry["mc"], entry["mc_rate"] = link_rates[l]
                links.append(entry)
            chip["links"] = links
            out_chips.append(chip)
        return {
            "host": self.host, "time": time.time(), "width": lay.width, "height": lay.height,
            "version": lay.version, "scamp": self.tx.scamp_version, "emulator": self.emulator,
            "boards": [{"eth": list(eth), "origin": list(origin),
                        "ip": self.tx.machine.ethernets.get(eth)} for eth, origin in lay.boards],
            "n_chips": len(lay.chips), "n_live": len(live),
            "n_dead": sum(1 for c in out_chips if c["dead"]),
            "states": states_total, "run": run, "chips": out_chips,
            "poll": {"n": self.polls, "seconds": round(self.last_poll_s, 4), "chips": n_polled},
        }

    def _rates(self, xy, words, now):
        """Router summary and per-link (total, rate) from this poll's counters and the
        previous poll's (None rates on the first poll; counters are 32-bit and wrap)."""
        if words is None:
            return None, None
        diag, links = list(words[:N_DIAG]), list(words[N_DIAG:])
        prev = self.prev.get(xy)
        self.prev[xy] = (now, diag, links)

        def rate(i, old, new):
            if prev is None or now <= prev[0]:
                return None
            return round(((new[i] - old[i]) & 0xFFFFFFFF) / (now - prev[0]), 1)
        router = {
            "mc": diag[DIAG_LOC_MC] + diag[DIAG_EXT_MC], "dropped": diag[DIAG_DUMP_MC],
            "mc_rate": None if prev is None else round(
                (rate(DIAG_LOC_MC, prev[1], diag) or 0) + (rate(DIAG_EXT_MC, prev[1], diag) or 0), 1),
            "dropped_rate": rate(DIAG_DUMP_MC, prev[1], diag) if prev else None,
            "counters": diag,
        }
        link_rates = None
        if links:
            link_rates = [(links[l], rate(l, prev[2], links) if prev else None) for l in range(6)]
        return router, link_rates

    # ------------------------------------------------------------------ one core
    def core_detail(self, x, y, p):
        """What clicking a core shows: its vcpu_t fields and IOBUF (fresh reads)."""
        raw = self.tx.conn.read(x, y, vcpu_address(p), C.VCPU_SIZE)
        v = _vcpu_fields(raw)
        st = v["cpu_state"]
        out = {"x": x, "y": y, "p": p, "state": state_name(st), "app_id": v["app_id"],
               "app_name": v["app_name"], "rt_code": rte_name(v["rt_code"]),
               "rt_code_value": v["rt_code"],
               "user": [v["user%d" % i] for i in range(4)], "iobuf": ""}
        if st == CPUState.RTE:
            out.update({k: get_field(VCPU, raw, k) for k in ("psr", "sp", "lr")})
        if v["iobuf"]:
            text = self.tx.get_iobuf([(x, y, p)]).get((x, y, p), "")
            out["iobuf"] = text[-16384:]
        return out


def _vcpu_fields(raw):
    v = {name: get_field(VCPU, raw, name) for name in
         ("cpu_state", "app_id", "rt_code", "iobuf", "user0", "user1", "user2", "user3")}
    v["app_name"] = get_field(VCPU, raw, "app_name").rstrip(b"\0").decode(errors="replace")
    return v


def _turn(items, start, n):
    """Up to ``n`` of ``items`` from position ``start`` on, wrapping around."""
    if not items or n <= 0:
        return []
    start %= len(items)
    return (items[start:] + items[:start])[:n]
