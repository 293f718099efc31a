"""Timer ticks, multicast delivery and lockstep between chip processes.

A chip runs the ticks of its timer-driven cores (docs/RUNTIME.md) in "epochs":
an epoch begins when a run-starting signal (START, SYNC0, SYNC1, CONT) has been
applied everywhere. Each chip tells the chip the signal came from whether it has
ticking cores ("hello"); that chip sends every chip the active set and a common
start time ("active"), and each derives from the router tables which active chips
can send to it (its "upstream") and which it can send to ("downstream").

Lockstep step s: wait for every upstream chip's marker for step s-1 (a marker
carries that chip's packets sent in s-1, possibly none), deliver the packets,
tick every ticking core once, route what they sent, send one marker (with
packets) to every downstream chip. A chip that runs out of ticking cores sends a
"leaving" marker. Real time: steps are paced by the wall clock instead and only
packets are sent; packets that arrive after the receiver has started a later
step are counted late.

Packets sent in step s are delivered before the receiver's step s+1 with
sent_tick = the sender's tick (kernels add their delays to it); from an ARM core, the
cycle it was sent at (board/arm/engine.py ArmKernel.receive holds it until then).
"""
import asyncio
import itertools
import time
import traceback

import numpy as np

from ..protocol import constants as C
from ..protocol.constants import CPUState, Signal
from .multicast import trace, local_trace, match, ranges_reach
from .spike_batches import trace_arrays

HELLO_TIMEOUT = 3.0
# Real-time runs start this long after the active set is sent out, on every chip, as
# hardware cores all leave SYNC0 together (a chip that hears it later starts at once).
REALTIME_START_DELAY = 0.05
COUNTER_FLUSH_STEPS = 64
RUN_SIGNALS = (Signal.START, Signal.SYNC0, Signal.SYNC1, Signal.CONT)


def log(*a):
    import sys
    print("[%s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


class Scheduler:
    def __init__(self, proc):
        self.proc = proc
        self.chip = proc.chip
        self.tables = {}                 # (x, y) -> [(key, mask, route)] in entry order
        self.table_fp = None
        self.traces = {}                 # key -> Trace
        self.interned = {}               # path signature -> the one Trace of that path
        self.local_traces = {}           # route word -> Trace, for routes to this chip's cores only
        self.inbox = {}                  # core -> [(epoch, sender step, (sent_tick, keys, payloads))]
        self.outbox = []                 # (core, sent_tick, keys, payloads)
        self.hellos = {}                 # epoch id -> {xy: active}
        self.hello_events = {}
        self.actives = {}                # epoch id -> (active set, start) as last heard
        self.markers = {}                # (epoch, step) -> set of senders
        self.left = {}                   # epoch -> {xy: last step}
        self.epoch = None
        self.step = 0
        self.up, self.down = set(), set()
        self.task = None
        self.wake = None
        self.remote_diag = {}            # xy -> {counter: n}
        self.remote_links = {}           # xy -> {link: n}
        self.solo = itertools.count()

    # ------------------------------------------------------------ tables
    def own_entries(self):
        r = self.chip.router
        return [(r.keys[i], r.masks[i], r.routes[i]) for i in range(C.N_ROUTER_ENTRIES)
                if r.routes[i] != C.ROUTE_UNUSED]

    def adopt_boot_table(self):
        """After boot only SC&MP's entry 0 exists; other chips need not hear of it
        (its key 0xFFFF5554 is SC&MP's own), which saves a 48x47 broadcast per boot."""
        self.chip.router.dirty = False
        entries = self.own_entries()
        self.table_fp = hash(tuple(entries))
        self.tables = {self.chip.xy: entries}
        self.traces.clear()
        self.interned.clear()
        self.local_traces.clear()

    def check_tables(self):
        """Broadcast this chip's table if it changed (called after SCP and signals)."""
        r = self.chip.router
        if not r.dirty:
            return
        r.dirty = False
        entries = self.own_entries()
        fp = hash(tuple(entries))
        if fp == self.table_fp:
            return
        self.table_fp = fp
        self.set_table(self.chip.xy, entries)
        self.proc._broadcast("rtr_table", self.chip.xy, entries)

    def set_table(self, xy, entries):
        self.tables[xy] = entries
        self.traces.clear()
        self.interned.clear()
        self.local_traces.clear()

    def trace(self, key):
        t = self.traces.get(key)
        if t is None:
            # A population's keys (one per neuron or source) mostly share one entry that
            # routes to cores of this chip only: one trace per such entry, not per key
            route = match(self.tables.get(self.chip.xy, ()), key)
            if route is not None and route & 0x3F == 0 and route >> 6:
                t = self.local_traces.get(route)
                if t is None:
                    t = self.local_traces[route] = local_trace(self.chip.xy, route)
            else:
                t = trace(self.tables, self.chip.machine, self.chip.xy, key)
                # keys with the same path share one Trace, so that _trace_arrays works
                # per path (a population slice's keys), not per key
                sig = (tuple(t.counters), tuple(t.links), tuple(t.targets),
                       tuple(sorted(t.deliveries.items())), tuple(t.dropped_at))
                t = self.interned.setdefault(sig, t)
            self.traces[key] = t
        return t

    # ------------------------------------------------------------ cores
    def ticking(self):
        return [c for c in self.chip.cores.app_cores()
                if c.sim is not None and c.kernel is not None and c.state == CPUState.RUN]

    def core_started(self, core):
        """A core began ticking outside a run signal: run a solo epoch if idle."""
        if self.task is None or self.task.done():
            self.start_epoch(("solo", self.chip.xy, next(self.solo)), set(), set())

    def send_mc(self, core, keys, payloads=None):
        keys = np.asarray(keys, dtype=np.uint32).ravel()
        if payloads is not None:
            payloads = np.asarray(payloads, dtype=np.uint32).ravel()
        if keys.size:
            self.outbox.append((core, core.sim_tick, keys, payloads))
            core.provenance["sent"] += int(keys.size)

    # ------------------------------------------------------------ epochs
    def after_signal(self, sig, sig_id):
        if self.wake is not None:
            self.wake.set()                  # a waiting tick loop re-checks its cores
        if sig not in RUN_SIGNALS or sig_id is None:
            return
        me = self.chip.xy
        active = bool(self.ticking())
        origin = sig_id[0]
        if origin == me:
            # The chip the signal came from gathers who is active and tells everyone.
            self.on_hello(sig_id, me, active)
            asyncio.ensure_future(self._gather(sig_id))
        else:
            self.proc.send(origin, "ls_hello", sig_id, me, active)
            early = self.actives.pop(sig_id, None)
            if early is not None:             # the active set overtook our own signal
                self.on_active(sig_id, *early)

    async def _gather(self, eid):
        got = self.hellos.setdefault(eid, {})
        expected = self.chip.reachable
        ev = self.hello_events.setdefault(eid, asyncio.Event())
        deadline = time.monotonic() + HELLO_TIMEOUT
        while not expected <= set(got) and time.monotonic() < deadline:
            ev.clear()
            try:
                await asyncio.wait_for(ev.wait(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
        if not expected <= set(got):
            log("chip %s: epoch %s: no hello from %s" % (self.chip.xy, eid, sorted(expected - set(got))))
        active_set = {xy for xy, a in got.items() if a}
        self.hellos.pop(eid, None)
        self.hello_events.pop(eid, None)
        # Real-time runs start together at this wall-clock time, as hardware cores all
        # leave SYNC0 on one signal; lockstep ignores it.
        start_wall = time.time() + REALTIME_START_DELAY
        self.proc._broadcast("ls_active", eid, active_set, start_wall)
        self.on_active(eid, active_set, start_wall)

    def on_active(self, eid, active_set, start_wall):
        """The active set of a run: derive who waits for whom and start ticking."""
        me = self.chip.xy
        self.actives[eid] = (active_set, start_wall)
        while len(self.actives) > 16:
            self.actives.pop(next(iter(self.actives)))
        ticking = self.ticking()
        if not ticking or (self.task is not None and not self.task.done()):
            return                        # nothing to run, or cores joined a running epoch
        if all(c.sim["time_scale"] for c in ticking):
            self.start_epoch(eid, set(), set(), start_wall=start_wall)
            return
        machine = self.chip.machine
        down = (ranges_reach(self.tables, machine, me) & active_set) - {me}
        up = {a for a in active_set - {me} if me in ranges_reach(self.tables, machine, a)}
        self.start_epoch(eid, up, down)

    def on_hello(self, eid, xy, active):
        self.hellos.setdefault(eid, {})[xy] = active
        ev = self.hello_events.setdefault(eid, asyncio.Event())
        ev.set()
        if len(self.hellos) > 64:          # bound what stale epochs can leave behind
            for k in list(self.hellos)[:32]:
                if k != eid:
                    self.hellos.pop(k, None)
                    self.hello_events.pop(k, None)

    def start_epoch(self, eid, up, down, start_wall=None):
        self.epoch, self.step, self.up, self.down = eid, 0, up, down
        self.start_wall = start_wall
        self.left.setdefault(eid, {})
        if self.wake is None:
            self.wake = asyncio.Event()
        self.task = asyncio.ensure_future(self._run(eid))

    # ------------------------------------------------------------ the tick loop
    async def _run(self, eid):
        try:
            await self._loop(eid)
        except Exception:
            log("chip %s: scheduler error:\n%s" % (self.chip.xy, traceback.format_exc()))
        finally:
            self.flush_counters()
            for key in [k for k in self.markers if k[0] == eid]:
                del self.markers[key]
            self.left.pop(eid, None)

    async def _loop(self, eid):
        t0 = time.monotonic()
        start_wall = getattr(self, "start_wall", None)
        if start_wall is not None:
            t0 += max(0.0, start_wall - time.time())      # the agreed start, on this clock
        while True:
            cores = self.ticking()
            if not cores:
                break
            scale = max((c.sim["time_scale"] or 0) for c in cores)
            if scale:                                       # real time
                period = max(c.sim["period_us"] for c in cores) * 1e-6 * scale
                target = t0 + self.step * period
                now = time.monotonic()
                if now < target:
                    await asyncio.sleep(target - now)
                elif now > target + period:
                    for c in cores:
                        c.provenance["overruns"] += 1
                    await asyncio.sleep(0)
                else:
                    await asyncio.sleep(0)
            elif self.step > 0 and self.up:
                await self._wait_markers(eid, self.step - 1)
            else:
                await asyncio.sleep(0)                      # let SCP and the fabric in
            while self.proc.backlog and self.ticking():
                await asyncio.sleep(0.002)            # back-pressure: a peer's queue is full
            cores = self.ticking()
            for core in cores:
                packets = self._take(core.p, eid, None if scale else self.step)
                try:
                    if packets:
                        core.provenance["received"] += sum(len(k) for _t, k, _p in packets)
                        core.kernel.receive(packets)
                    core.kernel.tick(core.sim_tick)
                except Exception as e:
                    core.rte(C.RTECode.SWERR, "spinnaker-emu: kernel error at tick %d: %r\n%s"
                             % (core.sim_tick, e, traceback.format_exc(limit=3)))
                    continue
                core.sim_tick += 1
                core.provenance["ticks"] += 1
                if core.sim["end"] is not None and core.sim_tick >= core.sim["end"]:
                    core.pause_simulation()
            self._route(eid, self.step, leaving=not self.ticking(), realtime=bool(scale))
            if self.step % COUNTER_FLUSH_STEPS == COUNTER_FLUSH_STEPS - 1:
                self.flush_counters()
                for core in self.ticking():     # host tools (spinnaker-emu view) see progress
                    core.write_provenance()
            self.step += 1

    def _take(self, p, eid, step):
        """Packets for core p due at this step: in lockstep, those its senders sent in
        earlier steps (senders may run ahead of their receivers); else all."""
        queue = self.inbox.get(p)
        if not queue:
            return None
        if step is None:
            del self.inbox[p]
            return [pk for _e, _s, pk in queue]
        due, later = [], []
        for item in queue:
            (due if item[0] != eid or item[1] is None or item[1] < step else later).append(item)
        if later:
            self.inbox[p] = later
        else:
            del self.inbox[p]
        return [pk for _e, _s, pk in due] or None

    async def _wait_markers(self, eid, step):
        while True:
            if not self.ticking():
                return                       # stopped or paused by a signal while waiting
            done = self.markers.get((eid, step), set())
            left = self.left.get(eid, {})
            if all(u in done or left.get(u, step) < step for u in self.up):
                self.markers.pop((eid, step), None)
                return
            self.wake.clear()
            await self.wake.wait()

    def _route(self, eid, step, leaving, realtime):
        me = self.chip.xy
        outbox, self.outbox = self.outbox, []
        batches = self._trace_arrays(outbox)
        local = batches.pop(me, None)
        if local:
            self.deliver(local, step, eid)
        if not realtime:
            for d in self.down:
                self.proc.send(d, "mc", eid, step, me, batches.pop(d, {}), leaving)
        for xy, batch in batches.items():
            self.proc.send(xy, "mc", eid, step, me, batch, None)

    def _trace_batches(self, items):
        """[(core, sent_tick, key, payload)] -> {xy: {core: [(tick, keys, payloads)]}},
        counting every hop in the routers' diagnostics and link counters."""
        router = self.chip.router
        per_dest = {}
        for core, sent_tick, key, payload in items:
            t = self.trace(key)
            for (x, y, idx) in t.counters:
                self._count((x, y), router.diag_counters, self.remote_diag, idx)
            for (x, y, link) in t.links:
                self._count((x, y), router.link_packets, self.remote_links, link)
            if not t.targets:
                core.provenance["dropped"] += 1
            item = (sent_tick, key, payload)
            for xy, cores in t.targets:
                dest = per_dest.setdefault(xy, {})
                for p in cores:
                    dest.setdefault(p, []).append(item)
        return {xy: _pack(d) for xy, d in per_dest.items()}

    def _trace_arrays(self, outbox):
        return trace_arrays(self, outbox)

    def route_now(self, packets):
        """Multicast packets from ARM cores [(arm core, key, payload, cycle sent)], routed
        at once (they are not part of a lockstep step): local cores get them directly,
        other chips in an unmarked batch stamped with the cycle it was sent at (an ARM
        receiver holds a packet until its own clock gets there: ArmKernel.receive). A
        packet whose only destinations are this chip's ARM cores (``kernel.receive_mc``)
        skips the batching: that is most packets of a network on one chip, and batching
        cost more than emulating their handlers."""
        me = self.chip.xy
        cores = self.chip.cores.cores
        router = self.chip.router
        far = []
        for arm, key, pl, sent in packets:
            t = self.trace(key)
            targets = t.targets
            if len(targets) != 1 or targets[0][0] != me or t.links or \
                    not all(hasattr(cores[p].kernel, "receive_mc") for p in targets[0][1]):
                far.append((arm.core, sent, key, pl))
                continue
            for (_x, _y, idx) in t.counters:          # all on this chip: no links
                router.diag_counters[idx] += 1
            for p in targets[0][1]:
                core = cores[p]
                core.provenance["received"] += 1
                core.kernel.receive_mc(key, pl)
        if not far:
            return
        batches = self._trace_batches(far)
        local = batches.pop(me, None)
        if local:
            self.deliver(local, None, None, marked=False)
        clock = self.chip.clock
        for xy, batch in batches.items():
            if clock is not None:
                clock.count_sent(xy)        # counted before the clock that follows (arm/clocks.py)
            self.proc.send(xy, "mc", None, None, me, batch, None)

    def _count(self, xy, local, remote, index, n=1):
        """n packets through router ``xy``: this chip's counters directly, another
        chip's gathered here and sent to it later (flush_counters)."""
        if xy == self.chip.xy:
            local[index] += n
        else:
            d = remote.setdefault(xy, {})
            d[index] = d.get(index, 0) + n

    # ------------------------------------------------------------ receiving
    def on_mc(self, eid, step, sender, batch, leaving):
        if step is None and self.chip.clock is not None:
            self.chip.clock.count_received(tuple(sender))     # from ARM cores (route_now)
        self.deliver(batch, step, eid, marked=leaving is not None)
        if leaving is None:
            return
        self.markers.setdefault((eid, step), set()).add(sender)
        if leaving:
            self.left.setdefault(eid, {})[sender] = step
        if self.wake is not None:
            self.wake.set()

    def deliver(self, batch, step, eid, marked=True):
        """Queue packets for the cores they are for (a core that does not tick gets them now)."""
        late = eid == self.epoch and step is not None and self.step > step + 1
        for p, packets in batch.items():
            core = self.chip.cores.cores[p]
            if core.kernel is None:
                continue
            if late:
                core.provenance["late"] += sum(len(k) for _t, k, _pl in packets)
            if core.sim is None:
                try:
                    core.provenance["received"] += sum(len(k) for _t, k, _pl in packets)
                    core.kernel.receive(packets)
                except Exception as e:
                    core.rte(C.RTECode.SWERR, "spinnaker-emu: kernel error receiving packets: %r" % (e,))
            else:
                self.inbox.setdefault(p, []).extend((eid, step if marked else None, pk) for pk in packets)

    def on_stats(self, diag, links):
        r = self.chip.router
        for idx, n in diag.items():
            r.diag_counters[idx] += n
        for link, n in links.items():
            r.link_packets[link] += n

    def flush_counters(self):
        for xy in set(self.remote_diag) | set(self.remote_links):
            self.proc.send(xy, "rtr_stats", self.remote_diag.pop(xy, {}), self.remote_links.pop(xy, {}))


def _pack(dest):
    """{core: [(sent_tick, key, payload)]} -> {core: [(sent_tick, keys, payloads)]} grouped by tick."""
    out = {}
    for p, items in dest.items():
        by_tick = {}
        for t, k, pl in items:
            by_tick.setdefault(t, ([], []))
            by_tick[t][0].append(k)
            by_tick[t][1].append(pl)
        out[p] = [(t, np.array(ks, dtype=np.uint32),
                   None if pls[0] is None else np.array(pls, dtype=np.uint32))
                  for t, (ks, pls) in sorted(by_tick.items())]
    return out
