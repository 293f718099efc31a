"""The ARM engine of one chip: the application cores that run real binaries,
their virtual time, and SC&MP's side of SARK's shared structures.

Time. Every core counts virtual cycles of a 200 MHz clock (cycles.py). The
engine advances all its cores in quanta (core_loop.QUANTUM_MIN): each core runs until
its clock reaches the quantum's end, in slices that end early for its timer's
next expiry. Cores in WFI cost nothing; when every core sleeps the clock jumps
to the next timer expiry. Interrupts are taken between slices. So within a chip
the same binaries and inputs give the same result however loaded the host is.
By default virtual time is paced by the wall clock (never ahead of it, as on
hardware); ``SPINNAKER_EMU_ARM_PACE=free`` runs as fast as the host allows and a
number runs that many times slower than real time (pacing.py).

SARK interplay, as scamp-app.c does it: a core starts by a soft reset into its
APLX (r0 = app id | flags << 8); signals reach it through its vcpu mailbox
(SHM_SIGNAL) and CPU_INT, SYNC0/SYNC1 through SC_FLAG; SDP messages travel in
the shared sdp_msg_t buffers of sv->shm_root in both directions. The heaps, vcpu
blocks and IOBUF chains are the chip's own memory, so SCP and SARK see the same.
"""
import asyncio
import math
import os
import struct
import sys
import time
import traceback

import numpy as np

from unicorn import unicorn_const as UCC

from ...apps.aplx import parse_aplx, ACOPY, FILL, EXEC
from ...protocol import constants as C
from ...protocol.constants import CPUState, Signal, ShmCmd, RTECode
from ...protocol.structs import vcpu_address
from .arch import T_BIT, VEC_UNDEF, VEC_SVC, VEC_PABT, VEC_DABT, MODE_UND, MODE_SVC, MODE_ABT
from .cpu import ArmCpu
from .fixed_routes import FixedRoutes
from .profile import PcProfile, cores_from_env
from . import core_loop, cycles, fold, native, timers
from .local_routes import LocalRoutes, ROUTED, DROPPED, RECEIVED, deliver
from .threads import CoreThreads
from .mailboxes import Mailboxes
from .pacing import WallPacer, pace_from_env
from ..router import DIAG_LOC_MC, DIAG_DUMP_MC
from .vic import Vic
from .dma import Dma
from .comms import Comms, MC, P2P, NN, FR
from ..memory import host_address

WALL_SLICE = 0.005             # seconds of work before the event loop gets a turn
PEER_WAIT_S = 0.0002           # a chip ahead of the others (clocks.py) looks again after this
MONITOR_CALL_CYCLES = 400         # after raising the monitor's CPU_INT, before Python takes the message
LOCKSTEP_POLLS = 200           # lockstep: quick looks at the others before the event loop's turn
COUNTER_FLUSH_S = 0.01        # other chips' router counters go to them at most every 10 ms
TRACE_LINES = 20000             # per core and image: a trace bounds the log it writes
MAX_FAULTS = 4                 # exception entries without progress before the engine gives up
SIGNAL_SHM = {Signal.START, Signal.PAUSE, Signal.CONT, Signal.EXIT, Signal.TIMER,
              Signal.USR0, Signal.USR1, Signal.USR2, Signal.USR3}


def log(*a):
    print("[%s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def trace_from_env():
    """The cores SPINNAKER_EMU_ARM_TRACE names: "all", or "x,y,p" triples separated by
    ";" (e.g. "0,0,3;0,0,4"). None: no tracing."""
    return cores_from_env(os.environ.get("SPINNAKER_EMU_ARM_TRACE"))


class ArmCore:
    """One application core running ARM code: CPU, peripherals and virtual clock. The
    core's state (clock, sleep, peripherals, counts) is the CPU's state words
    (cycles.py), which its native run loop (core_loop.py) works on; the attributes
    below are views of them."""

    def __init__(self, engine, core, cpu):
        self.engine = engine
        self.core = core                      # board.cores.Core (vcpu access, x, y, p)
        self.p = core.p
        self.cpu = cpu
        st = self.st = cpu.state
        self.vic = Vic(st)                    # reset for the new image
        timers.reset(st)
        mem = engine.memory
        self.dma = Dma(st, self.p, host_address(mem.sdram), host_address(mem.sysram),
                       host_address(mem.itcm_of(self.p)), host_address(mem.dtcm_of(self.p)))
        self.comms = Comms(st)
        st[cycles.NOW] = engine.now
        for word in (cycles.WFI, cycles.DIRTY, cycles.POLL_SKIPS, cycles.SLICES, cycles.BUSY,
                     cycles.FIQ_TAKEN, cycles.IRQ_TAKEN, cycles.TRACE_COUNT, cycles.INTERRUPT):
            st[word] = 0
        st[cycles.CORE_P] = self.p
        st[cycles.PTR_IRQ] = engine.sysctl.irq_address
        self.snapshot = fold.new_snapshot()  # its TCM as a tick being folded found it
        st[cycles.PTR_SNAP] = self.snapshot.ctypes.data
        fold.reset(st)
        self.slow_warned = False
        self.trace_left = TRACE_LINES if engine.traces(core) else 0
        st[cycles.TRACED] = 1 if self.trace_left else 0
        self.halted = False
        self.mailbox = []                     # (cmd, data) waiting for an idle mailbox
        self.started = self.now
        self.tlb_fills0 = int(st[cycles.TLB_FILLS])   # the CPU outlives its images

    @property
    def now(self):
        """The core's virtual clock (cycles)."""
        return int(self.st[cycles.NOW])

    @now.setter
    def now(self, value):
        self.st[cycles.NOW] = value

    def mark_dirty(self):
        """Something arrived for the core: its lines are worked out before its next slice."""
        self.st[cycles.DIRTY] = 1
        self.st[cycles.FOLD_CLEAN] = 0        # the tick it may be in proves nothing (fold.py)

    def trace(self, text, cycle=None):
        """One line of this core's trace in the board log, stamped with its virtual
        time (SPINNAKER_EMU_ARM_TRACE; at most TRACE_LINES per image)."""
        self.trace_left -= 1
        if not self.trace_left:
            self.st[cycles.TRACED] = 0         # no more events are logged
            self.engine.cores_changed = True   # its packets may be delivered natively now
        # a core not yet run in this quantum has a clock behind the engine's
        if cycle is None:
            cycle = max(self.now, self.engine.now)
        self.engine.core_log(self, "[%.1f us] %s%s" % (
            cycle / C.CPU_CLOCK_HZ * 1e6, text,
            "" if self.trace_left else " (trace limit reached: no more lines for this core)"))

    def summary(self):
        """One line on what this core did, for the board log when it stops."""
        virtual = (self.now - self.started) / C.CPU_CLOCK_HZ
        st = self.st
        return ("%.3f s virtual, %.1f%% busy, %d slices, %d IRQs, %d FIQs, %d timer busy-waits skipped, "
                "%d idle timer ticks folded, %d TLB refills"
                % (virtual, 100.0 * st[cycles.BUSY] / max(1, self.now - self.started),
                   st[cycles.SLICES], st[cycles.IRQ_TAKEN], st[cycles.FIQ_TAKEN],
                   st[cycles.POLL_SKIPS], fold.ticks(st), st[cycles.TLB_FILLS] - self.tlb_fills0)
                + (", %d packets dropped (receive FIFO full)" % self.comms.dropped if self.comms.dropped else ""))

    # ------------------------------------------------------------ devices (MMIO)
    # The VIC, timers, DMA and comms controllers are native (native.mmio_read/write);
    # the router and the system controller are the chip's, shared with the monitor.
    def read_router(self, off):
        fold.check_mmio(self.st, fold.BLOCK_ROUTER, off, False)
        return int.from_bytes(self.engine.chip.router.read_registers(off, 4), "little")

    def write_router(self, off, value):
        fold.check_mmio(self.st, fold.BLOCK_ROUTER, off, True)
        self.engine.chip.router.write_registers(off, (value & 0xFFFFFFFF).to_bytes(4, "little"))

    def read_sysctl(self, off):
        fold.check_mmio(self.st, fold.BLOCK_SYSCTL, off, False)
        return self.engine.sysctl.read(off)

    def write_sysctl(self, off, value):
        fold.check_mmio(self.st, fold.BLOCK_SYSCTL, off, True)
        self.engine.sysctl.write(off, value)
        if self.engine.mailboxes.monitor_pending:
            # sark_msg_send raised the monitor's CPU_INT: let the core free its MBOX lock
            # and reach its wait, then return to Python (cycles.MONITOR_CALL)
            st = self.st
            st[cycles.MONITOR_CALL] = 1
            st[cycles.BUDGET] = min(st[cycles.BUDGET], st[cycles.COUNT] + MONITOR_CALL_CYCLES)
        # CPU_INT raised or cleared: what is due now (inside a slice: at its cycle)
        native.update_lines(self.st, self.now + int(self.st[cycles.COUNT]))

    def _send(self, kind, key, payload, cycle):
        if self.trace_left:
            self.trace("sent %s key 0x%08x%s" % (("MC", "P2P", "NN", "FR")[kind], key,
                                                 "" if payload is None else " payload 0x%08x" % payload), cycle)
        self.engine.outbox.append((self, kind, key, payload, cycle))

    # ------------------------------------------------------------ time
    def asleep(self):
        return bool(core_loop.still_asleep(self.st))

    def next_event(self):
        """The cycle of the next timer interrupt (None: none, or the core halted)."""
        if self.halted:
            return None
        t = int(fold.next_event(self.st))
        return None if t == cycles.NEVER else t

    def timer_period(self):
        """Cycles between this core's periodic timer interrupts (None: no such timer, or
        its ticks are folded)."""
        if self.st[cycles.FOLD] == fold.FOLDED:
            return None
        return int(timers.period(self.st)) or None

    def after_loop(self, why):
        """What only Python can do after the core's native loop returned ``why``
        (core_loop.EXIT_*): log a traced core's events, send the packets for other chips
        (those for cores of this chip went natively), report DMA failures, enter a
        fault's vector. True if the core is done for this quantum."""
        st = self.st
        if st[cycles.MONITOR_CALL]:
            st[cycles.MONITOR_CALL] = 0
            if self.engine.mailboxes.monitor_pending:
                self.engine.mailboxes.service()
        if st[cycles.TRACE_COUNT]:
            self._log_events()
        if st[cycles.TX_COUNT] or st[cycles.TX_DROPPED]:
            self._drain_sent()
        if st[cycles.DMA_FAILED] or st[cycles.DMA_LOGGED]:
            self._dma_report()
        if why == core_loop.EXIT_FAULT:
            self._fault(int(st[cycles.EXIT_DETAIL]))
        elif why == core_loop.EXIT_INTERRUPT:
            self._fault(("intr", int(st[cycles.EXIT_DETAIL])))
        return self.halted or why in (core_loop.EXIT_HORIZON, core_loop.EXIT_LIMIT)

    def _log_events(self):
        """A traced core's events from its trace ring (native.log_event), as trace lines."""
        st = self.st
        n = int(st[cycles.TRACE_COUNT])
        events = [tuple(int(w) for w in st[cycles.TRACE_RING + 4 * i:cycles.TRACE_RING + 4 * i + 4])
                  for i in range(n)]
        st[cycles.TRACE_COUNT] = 0
        for kind, cycle, a, b in events:
            if not self.trace_left:
                break
            if kind == native.EV_FIQ:
                self.trace("FIQ (sources 0x%08x) at pc 0x%08x" % (a, b), cycle)
            elif kind == native.EV_IRQ:
                self.trace("IRQ (sources 0x%08x) at pc 0x%08x" % (a, b), cycle)
            elif kind == native.EV_WFI:
                self.trace("WFI at pc 0x%08x after %d cycles" % (a, b), cycle)
            elif kind == native.EV_POLL_SKIP:
                self.trace("busy-wait on a timer COUNT at pc 0x%08x skipped to here" % a, cycle)

    def _drain_sent(self):
        """The packets the core sent, to the router in order."""
        packets, dropped = self.comms.sent()
        for kind, key, payload, cycle in packets:
            self._send(kind, key, payload, cycle)
        if dropped:
            self.engine.core_log(self, "%d packets sent in one slice beyond the comms controller's %d: dropped"
                                 % (dropped, cycles.TX_DEPTH))

    def _dma_report(self):
        """What the native DMA controller left for Python: failed transfers (board log)
        and a traced core's transfers (trace)."""
        n, last = self.dma.failures()
        if n:
            self.engine.memory.bad_accesses += n
            self.engine.core_log(self, "DMA error%s: descriptor 0x%08x, system 0x%08x, TCM 0x%08x"
                                 % ((" (%d transfers, the last)" % n if n > 1 else "",) + last))
        for _cycle, desc, system, tcm in self.dma.transfers_logged():
            if self.trace_left:
                self.trace("DMA %s system 0x%08x TCM 0x%08x, %d bytes" % (
                    "TCM->system" if desc >> 19 & 1 else "system->TCM", system, tcm, desc & 0x1FFFF))

    # ------------------------------------------------------------ faults
    def _fault(self, detail):
        """An abort, undefined instruction or SVC: enter the ARM exception vector so that
        SARK's own handler dumps the registers into vcpu_t and sets RTE, as on hardware."""
        cpu = self.cpu
        self.st[cycles.FAULTS] += 1
        faults = int(self.st[cycles.FAULTS])
        pc, cpsr = cpu.pc, cpu.cpsr
        thumb = bool(cpsr & T_BIT)
        if isinstance(detail, tuple):                     # unicorn's interrupt hook
            intno = detail[1]
            kind = {1: "UNDEF", 2: "SVC", 3: "PABT", 4: "DABT", 7: "UNDEF"}.get(intno, "UNDEF")
        elif detail in (UCC.UC_ERR_FETCH_UNMAPPED, UCC.UC_ERR_FETCH_PROT, UCC.UC_ERR_FETCH_UNALIGNED):
            kind = "PABT"
        elif detail in (UCC.UC_ERR_READ_UNMAPPED, UCC.UC_ERR_WRITE_UNMAPPED, UCC.UC_ERR_READ_PROT,
                        UCC.UC_ERR_WRITE_PROT, UCC.UC_ERR_READ_UNALIGNED, UCC.UC_ERR_WRITE_UNALIGNED):
            kind = "DABT"
        else:
            kind = "UNDEF"
        self.engine.core_log(self, "%s at pc 0x%08x (cpsr 0x%08x)%s" % (
            kind, pc, cpsr, "" if faults == 1 else " [fault %d in a row]" % faults))
        vector_word = self.engine.memory.read_word_of(self.p, {"UNDEF": VEC_UNDEF, "SVC": VEC_SVC,
                                                               "PABT": VEC_PABT, "DABT": VEC_DABT}[kind])
        if faults > MAX_FAULTS or vector_word == 0:
            self.rte(getattr(RTECode, kind if kind != "SVC" else "SVC"), "%s at 0x%08x" % (kind, pc))
            return
        if kind == "DABT":
            cpu.enter(VEC_DABT, MODE_ABT, pc + 8)
        elif kind == "PABT":
            cpu.enter(VEC_PABT, MODE_ABT, pc + 4)
        elif kind == "SVC":
            cpu.enter(VEC_SVC, MODE_SVC, pc)          # unicorn leaves pc after the SVC
        else:
            cpu.enter(VEC_UNDEF, MODE_UND, pc + (2 if thumb else 4))

    def rte(self, code, why):
        """The engine's own RTE, for a core whose SARK cannot record one (broken vectors,
        a fault loop): vcpu registers, rt_code and state as SARK would write them."""
        regs = self.cpu.registers()
        core = self.core
        base = vcpu_address(self.p) - C.SYSRAM_BASE
        sysram = self.engine.memory.sysram
        struct.pack_into("<8III", sysram, base, *regs[:8], regs[8], regs[9])
        struct.pack_into("<I", sysram, base + 40, regs[10])
        text = "RTE %s: %s; r0-r7 %s psr 0x%08x sp 0x%08x lr 0x%08x" % (
            RTECode(code).name, why, " ".join("%08x" % r for r in regs[:8]), regs[8], regs[9], regs[10])
        core.io_printf("spinnaker-emu: %s (the binary's own handler could not run)\n" % text)
        core._vset("rt_code", int(code))
        core._vset("cpu_state", CPUState.RTE)
        self.engine.core_log(self, text)
        self.halted = True
        self.engine.cores_changed = True


class ArmKernel:
    """What the rest of the chip sees in ``Core.kernel`` for a core running ARM code:
    packets, SDP and stops go to the engine."""

    def __init__(self, engine, arm):
        self.engine, self.arm = engine, arm

    def receive(self, packets):
        """Packets from the fabric [(sent, keys, payloads)]. ``sent`` is the cycle an ARM
        core sent them at (its TXKEY write; Scheduler.route_now; a tick number from a
        built-in kernel, always in the past): a packet sent after this chip's present time is held until
        its clock gets there (ArmEngine.quantum), so that no core sees a spike before its
        own timer tick of the same time, as on hardware."""
        engine = self.engine
        for sent, keys, payloads in packets:
            ks = keys.tolist()
            pls = payloads.tolist() if payloads is not None else [None] * len(ks)
            if sent > engine.now:
                engine.held.append((sent, self, ks, pls))
                continue
            for k, pl in zip(ks, pls):
                self.receive_mc(k, pl)
        engine.wake()

    def receive_mc(self, key, payload):
        """One multicast packet (Scheduler.route_now calls it directly for a packet from
        a core on this chip)."""
        arm = self.arm
        if not arm.comms.receive(MC, key, payload):
            self.engine.chip.router.diag_counters[8] += 1     # dumped: no room
        if arm.trace_left:
            arm.trace("received MC key 0x%08x%s" % (key, "" if payload is None else " payload 0x%08x" % payload))
        arm.mark_dirty()

    def on_sdp(self, sdp):
        self.engine.post(self.arm, ShmCmd.MSG, bytes(sdp))

    def stop(self):
        self.engine.stop_core(self.arm.core)

    def on_signal(self, name):
        pass


class ArmEngine:
    def __init__(self, chip, proc=None):
        self.chip = chip
        self.proc = proc
        self.memory = chip.memory
        self.sysctl = chip.memory.sysctl
        self.sysctl.on_irq = self._on_irq
        self.cores = {}                  # p -> ArmCore
        self.cpus = {}                   # p -> ArmCpu, kept for the next image
        self.outbox = []
        self.local_routes = LocalRoutes()
        self.held = []                   # (sent, ArmKernel, keys, payloads) from another chip's future
        self.fixed_routes = FixedRoutes(self)  # fixed-route packets, held while a FIFO is full
        self.cores_changed = True        # cores started, stopped, halted (see _running)
        self.now = 0
        self.mailboxes = Mailboxes(self)         # SC&MP's side of the cores' mailboxes
        self.quantum_length = core_loop.QUANTUM_MIN
        self.task = None
        self._wake = None
        self.pacer = WallPacer(pace_from_env())
        self.threads = CoreThreads(self)     # a second host thread for the chip's cores
        self.trace_cores = trace_from_env()
        profiled = cores_from_env(os.environ.get("SPINNAKER_EMU_ARM_PROFILE"))
        self.profile = None if profiled is None else PcProfile(chip.x, chip.y, profiled, log)
        self.last_flush = 0.0
        self.stats = {"slices": 0, "quanta": 0}

    # ------------------------------------------------------------ logging
    def traces(self, core):
        t = self.trace_cores
        return t == "all" or (t is not None and (self.chip.x, self.chip.y, core.p) in t)

    def core_log(self, arm, text):
        self.core_log_p(arm.p, text)

    def core_log_p(self, p, text):
        log("chip %d,%d core %d: %s" % (self.chip.x, self.chip.y, p, text))

    # ------------------------------------------------------------ loading
    def start(self, core, image_addr, app_id, flags):
        """SC&MP's proc_start_app for one core: soft reset, APLX loader, entry."""
        ops = parse_aplx(self.memory.read, image_addr)
        entry = next((o.dest for o in ops if o.op == EXEC), None)
        if entry is None:
            core.rte(RTECode.UNDEF, "spinnaker-emu: core %d,%d,%d: APLX at 0x%08x has no EXEC record"
                     % (core.x, core.y, core.p, image_addr))
            return False
        p = core.p
        self.stop_core(core)
        for o in ops:
            if o.op == ACOPY:
                self.memory.write(o.dest, self.memory.read(o.source, o.length, p), p)
            elif o.op == FILL:
                self.memory.fill(o.dest, o.source, o.length, p)
        cpu = self.cpus.get(p)
        if cpu is None:
            cpu = self.cpus[p] = ArmCpu(self.memory, p, _Devices(), lambda t, p=p: log(
                "chip %d,%d core %d: %s" % (self.chip.x, self.chip.y, p, t)))
        arm = ArmCore(self, core, cpu)
        cpu.devices.bind(arm)
        cpu.reset(entry, (app_id & 0xFF) | (flags & 0xFF) << 8)
        self.sysctl.flag |= 1 << p                     # proc_start_app: SC_SETFLAG
        self.sysctl.irq &= ~(1 << p)
        self.cores[p] = arm
        self.cores_changed = True
        core.kernel = ArmKernel(self, arm)
        core.arm = arm
        if arm.trace_left:
            arm.trace("started: APLX at 0x%08x, entry 0x%08x, app id %d, load %s" % (
                image_addr, entry, app_id, ", ".join("%s 0x%08x+%d" % ({ACOPY: "copy", FILL: "fill"}[o.op],
                                                                       o.dest, o.length)
                                                    for o in ops if o.op != EXEC)))
        self.wake()
        return True

    def stop_core(self, core):
        arm = self.cores.pop(core.p, None)
        if arm is not None:
            arm.halted = True
            self.cores_changed = True
            self.core_log(arm, "stopped: " + arm.summary())
            self.chip.scheduler.flush_counters()
        if getattr(core, "arm", None) is not None:
            core.arm = None

    # ------------------------------------------------------------ signals and messages
    def signal(self, core, sig):
        """A signal for a core running ARM code, as SC&MP's signal_app delivers it."""
        arm = self.cores.get(core.p)
        if arm is None:
            return
        bit = 1 << core.p
        if arm.trace_left:
            arm.trace("signal %s" % Signal(sig).name)
        if sig == Signal.SYNC0:
            self.sysctl.flag &= ~bit
            self.sysctl.raise_irq(bit)
        elif sig == Signal.SYNC1:
            self.sysctl.flag |= bit
            self.sysctl.raise_irq(bit)
        elif sig in SIGNAL_SHM:
            self.post(arm, ShmCmd.SIGNAL, int(sig))
        self.wake()

    def post(self, arm, cmd, data):
        """Put a mailbox command (a signal or an SDP message) for ``arm``; it waits
        if the core has not yet taken the previous one (mailboxes.py)."""
        if arm.trace_left and cmd == ShmCmd.MSG:
            arm.trace("SDP message for the core (%d bytes)" % len(data))
        self.mailboxes.post(arm, cmd, data)
        self.wake()

    def _on_irq(self, mask):
        if mask & 1 << C.MONITOR_CPU:
            self.mailboxes.monitor_pending = True
        for p, arm in self.cores.items():
            if mask >> p & 1:
                arm.mark_dirty()
        self.wake()

    # ------------------------------------------------------------ packets
    def _release_held(self):
        """Deliver the packets from other chips whose sending time this chip has reached."""
        due = [h for h in self.held if h[0] <= self.now]
        if due:
            self.held = [h for h in self.held if h[0] > self.now]
            for _sent, kernel, keys, payloads in sorted(due, key=lambda h: h[0]):
                if kernel.arm.halted:
                    continue
                for k, pl in zip(keys, payloads):
                    kernel.receive_mc(k, pl)

    def _count_local(self, counts):
        """The counters of the packets local_routes delivered: the router's and the
        receiving cores' provenance."""
        diag = self.chip.router.diag_counters
        diag[DIAG_LOC_MC] += int(counts[ROUTED])
        diag[DIAG_DUMP_MC] += int(counts[DROPPED])
        cores = self.chip.cores.cores
        for p in counts[RECEIVED:].nonzero()[0]:
            cores[p].provenance["received"] += int(counts[RECEIVED + p])

    def _route_packets(self):
        out, self.outbox = self.outbox, []
        mc = [(arm, key, pl, cycle) for arm, kind, key, pl, cycle in out if kind == MC]
        if mc:
            self.chip.scheduler.route_now(mc)
        for arm, kind, key, pl, _cycle in out:
            if kind == FR:
                self.fixed_route(key, pl)
            elif kind != MC:
                self.chip.router.diag_counters[8] += 1       # NN/P2P from an app core: dumped
                self.core_log(arm, "sent a %s packet (key 0x%08x): not modelled, dropped"
                              % ({NN: "nearest-neighbour", P2P: "point-to-point"}[kind], key))

    def fixed_route(self, key, payload):
        """A fixed-route packet through this chip's router (its fixed route word)."""
        self.fixed_routes.route(key, payload)

    def deliver_local(self, p, kind, key, payload):
        arm = self.cores.get(p)
        if arm is not None and arm.comms.receive(kind, key, payload):
            arm.mark_dirty()
            self.wake()
            return True
        return False

    # ------------------------------------------------------------ running
    def wake(self):
        if self._wake is not None:
            self._wake.set()
        if (self.task is None or self.task.done()) and self.cores:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._wake = asyncio.Event()
            self.task = loop.create_task(self._loop())

    def has_work(self):
        if self.mailboxes.monitor_pending or self.outbox or self.held or self.fixed_routes.waiting:
            return True
        for arm in self.cores.values():
            if arm.halted:
                continue
            if arm.mailbox or not arm.asleep() or arm.next_event() is not None:
                return True
        return False

    async def _loop(self):
        try:
            while self.cores:
                if not self.has_work():
                    self.pacer.restart()            # idle time is not owed to anyone
                    if self.chip.clock is not None:
                        self.chip.clock.idle()      # holds no other chip back
                    self.chip.scheduler.flush_counters()
                    self._wake.clear()
                    await self._wake.wait()
                    self._catch_up()
                    continue
                deadline = time.perf_counter() + WALL_SLICE
                pause = 0.0
                while time.perf_counter() < deadline and self.has_work():
                    ahead = self._ahead_of_wall()
                    if ahead > 0.001:
                        pause = min(ahead, 0.05)
                        break
                    if self._ahead_of_others():
                        pause = PEER_WAIT_S
                        break
                    self.quantum()
                await asyncio.sleep(pause)
        except Exception:               # noqa: BLE001 (a bug of ours must not hang the host)
            self._engine_failed()
        finally:
            if self.chip.clock is not None:
                self.chip.clock.idle()

    def _engine_failed(self):
        """An exception escaped a quantum: a bug of the emulator's, not of the binary.
        Its traceback goes into the board log and the chip's running cores into RTE
        (SWERR), so that the host sees cores in error at once rather than cores that
        stopped advancing; the chip keeps answering SCP."""
        log("chip %d,%d: internal error in the ARM engine (the running cores are put in "
            "RTE SWERR):\n%s" % (self.chip.x, self.chip.y, traceback.format_exc()))
        for arm in list(self.cores.values()):
            if not arm.halted:
                try:
                    arm.rte(RTECode.SWERR, "internal error in the emulator's ARM engine")
                except Exception:       # noqa: BLE001 (keep going: the other cores still need it)
                    log("chip %d,%d core %d: could not record the RTE:\n%s"
                        % (self.chip.x, self.chip.y, arm.p, traceback.format_exc()))

    def _ahead_of_others(self):
        """Publish this chip's clock; True if it must wait for the other chips with
        running ARM cores (arm/clocks.py). Paced by the wall clock: while it is more
        than a quantum ahead of the slowest. In lockstep (pace free): until every
        other chip has reached this quantum's start and every batch of packets the
        others sent it has arrived, so that the run is the same every time; the wait
        is a short poll here before the event loop gets a turn."""
        clock = self.chip.clock
        if clock is None:
            return False
        clock.publish(self.now)
        exact = self.pacer.pace is None
        for _ in range(LOCKSTEP_POLLS if exact else 1):
            # What the others sent so far, now rather than when the event loop next gets
            # a turn (up to WALL_SLICE later)
            if self.proc is not None:
                self.proc.drain_fabric()
            slowest = clock.slowest_other()
            if not exact:
                return slowest is not None and self.now > slowest + self.quantum_length
            if (slowest is None or slowest >= self.now) and clock.all_received():
                return False
            os.sched_yield()
        return True

    def _catch_up(self):
        """Back from idle: nothing happened here meanwhile, so the clock moves on to where
        the machine is (clocks.py resume_time; the cores follow at the next quantum)."""
        if self.chip.clock is not None:
            self.now = max(self.now, self.chip.clock.resume_time())

    def _ahead_of_wall(self):
        """Seconds virtual time is ahead of the (paced) wall clock (pacing.py); a lag
        that lasts is reported once per image."""
        ahead, slow = self.pacer.ahead(self.now)
        if slow is not None:
            self._warn_slow(slow)
        return ahead

    def _warn_slow(self, factor):
        """Say once per image in the board log how much slower than real time the chip
        runs. (Not in the cores' IOBUF: SARK keeps its IOBUF write position in DTCM, so
        text written from outside into a running core's IOBUF is overwritten.)
        sPyNNaker's own provenance says the same from inside ("packets arrived too late
        ... increase the time_scale_factor")."""
        cores = [a for a in self.cores.values() if not a.halted and not a.slow_warned]
        for arm in cores:
            arm.slow_warned = True
        if cores:
            period = min((q for q in (a.timer_period() for a in cores) if q), default=None)
            self.core_log(cores[0], "cores %s run %.1fx slower than real time on this host (%s%s): "
                          "a time_scale_factor at least %d times the present one is needed"
                          % (",".join(str(a.p) for a in cores), factor,
                             "timer period %g us" % (period * 1e6 / C.CPU_CLOCK_HZ) if period
                             else "no periodic timer",
                             ", on 2 host threads" if self.threads.pair else "", math.ceil(factor * 1.2)))

    def _running(self):
        """The running cores in core order, with the arrays the native quantum takes
        (their unicorn handles and state word addresses) and the local routes; rebuilt
        when a core starts, stops or halts, a traced core's trace ends (cores_changed),
        or the chip's routing table changes."""
        changed, self.cores_changed = self.cores_changed, False
        if changed:
            self.order = [self.cores[p] for p in sorted(self.cores) if not self.cores[p].halted]
            self.uchs = np.array([a.cpu.uch for a in self.order], dtype=np.int64)
            self.states = np.array([a.st.ctypes.data for a in self.order], dtype=np.int64)
        entries = self.chip.scheduler.tables.get(self.chip.xy, ())
        if changed or entries is not self.local_routes.entries:
            self.local_routes.update(entries, self.cores)
        return self.order

    def quantum(self):
        """Advance every core by one quantum (or jump to the next event when all sleep):
        core_loop.run_cores in native code, on two host threads when that pays
        (threads.py), Python only where a core needs it."""
        order = self._running()
        self.stats["quanta"] += 1
        busy = self.mailboxes.monitor_pending or bool(self.held) or any(a.mailbox for a in order)
        self.now, self.quantum_length = core_loop.plan_quantum(self.states, self.now, busy)
        if self.held:
            self._release_held()
        if self.fixed_routes.waiting:
            self.fixed_routes.release()
        horizon = self.now + self.quantum_length
        routes = self.local_routes
        shares = self.threads.shares(order, self.states)
        if shares is None:
            self._run_share(order, self.uchs, self.states, routes.targets, routes.counts, horizon, 0, None)
        else:
            mine, theirs = shares
            self.stats["threaded"] = self.stats.get("threaded", 0) + 1
            self.threads.start(theirs, self.now, horizon, routes.table)
            first = core_loop.run_cores(mine.uchs, mine.states, 0, self.now, horizon,
                                        routes.table, mine.targets, routes.counts)
            second = self.threads.wait()
            self._run_share(mine.order, mine.uchs, mine.states, mine.targets, routes.counts, horizon, *first)
            self._run_share(theirs.order, theirs.uchs, theirs.states, theirs.targets, theirs.counts,
                            horizon, *second)
            routes.counts += theirs.counts
            theirs.counts[:] = 0
        if self.profile is not None:
            self.profile.sample(order)
        # What the cores sent to cores another thread ran, and to other chips
        deliver(self.states, routes.table, routes.targets, routes.counts)
        for arm in order:
            if arm.st[cycles.TX_COUNT] or arm.st[cycles.TX_DROPPED]:
                arm._drain_sent()
        if self.outbox:
            self._route_packets()
        if routes.counts[ROUTED]:
            self._count_local(routes.take_counts())
        self.now = horizon
        sched = self.chip.scheduler
        if sched.remote_diag or sched.remote_links:
            t = time.perf_counter()
            if t - self.last_flush > COUNTER_FLUSH_S:
                self.last_flush = t
                sched.flush_counters()       # other routers' counters for packets sent here
        if self.mailboxes.monitor_pending:
            self.mailboxes.service()
        if busy:
            for arm in order:
                if arm.mailbox:
                    self.mailboxes.flush(arm)

    def _run_share(self, order, uchs, states, targets, counts, horizon, i, why):
        """Run cores ``order`` (arrays ``uchs``, ``states``) to ``horizon`` from index
        ``i`` (``why``: how a run that stopped there ended, None: not run yet), doing
        in Python what a core needs between its native runs."""
        routes = self.local_routes
        for _ in range(64 * (len(order) + 1)):
            if why is None:
                i, why = core_loop.run_cores(uchs, states, i, self.now, horizon, routes.table, targets, counts)
            if i >= len(order):
                return
            if order[i].after_loop(why):
                if order[i].halted:
                    order[i].now = horizon       # the rest of the quantum's rounds skip it
                i += 1
            if self.outbox:
                self._route_packets()
            why = None

    def run_for(self, cycles, limit_s=10.0):
        """Advance virtual time by ``cycles`` now, synchronously (tests, benchmarks)."""
        end = self.now + cycles
        t_end = time.perf_counter() + limit_s
        while self.now < end and time.perf_counter() < t_end:
            if not self.has_work():
                self.now = end
                break
            self.quantum()


class _Devices:
    """The MMIO handlers of a CPU, rebound to whichever ArmCore uses it now (a CPU
    outlives the images it runs): the CPU looks ``read_timer`` etc. up here per access
    (the VIC, timers, DMA and comms controllers are native: native.mmio_read)."""

    NAMES = ("read_router", "write_router", "read_sysctl", "write_sysctl")

    def bind(self, arm):
        for name in self.NAMES:
            setattr(self, name, getattr(arm, name))
