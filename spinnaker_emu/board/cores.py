"""The 18 cores of a chip as SARK presents them: state, app id and name in each
core's vcpu_t (System RAM is the source of truth, so hosts reading VCPU blocks
see exactly what the monitor sees), IOBUF chains, application start from an
image in SDRAM, and signals."""
import struct
import time

from ..apps.image import parse_image, looks_like_aplx, ImageError, peek_length
from ..apps.kernels import KERNELS, load_all

load_all()          # in the supervisor, before the chips are forked
from ..protocol import constants as C
from .chiplog import log
from ..protocol.constants import CPUState, Signal
from ..protocol.structs import (VCPU, VCPU_CLEARED_BYTES, vcpu_sysram_offset, SV,
                                SV_SYSRAM_OFFSET, get_field, set_field, pack_iobuf_head, IOBUF_HEAD,
                                IOBUF_USED)

IDLE_NAME = b"sark"
PROVENANCE_FIELDS = ("ticks", "sent", "received", "dropped", "late", "overruns", "rte", "reserved")


def _new_provenance():
    return dict.fromkeys(PROVENANCE_FIELDS, 0)

MONITOR_NAME = b"scamp-3"
_STATE_BY_NAME = {s.name: s for s in CPUState}


class Core:
    """What a kernel sees of its core (see apps/kernels.py)."""

    def __init__(self, chip, p):
        self.chip, self.p = chip, p
        self.kernel = None
        self.arm = None                # board.arm.engine.ArmCore while it runs ARM code
        self.sim = None                # timer-driven state (start_simulation)
        self.sim_tick = 0
        self.provenance = _new_provenance()
        # the vcpu's cpu_state byte in system RAM: read by the tick loop several times
        # per tick and core (Scheduler.ticking)
        self._state_at = vcpu_sysram_offset(p, "cpu_state")    # read several times per tick

    x = property(lambda self: self.chip.x)
    y = property(lambda self: self.chip.y)

    @property
    def state(self):
        return self.chip.memory.sysram[self._state_at]

    @property
    def app_id(self):
        return self.chip.memory.sysram[vcpu_sysram_offset(self.p, "app_id")]

    def _vset(self, field, value):
        set_field(VCPU, self.chip.memory.sysram, field, value, vcpu_sysram_offset(self.p))

    def _vget(self, field):
        return get_field(VCPU, self.chip.memory.sysram, field, vcpu_sysram_offset(self.p))

    def read(self, addr, n):
        return self.chip.memory.read(addr, n, self.p)

    def write(self, addr, data):
        self.chip.memory.write(addr, data, self.p)

    def read_word(self, addr):
        return int.from_bytes(self.read(addr, 4), "little")

    def write_word(self, addr, value):
        self.write(addr, (value & 0xFFFFFFFF).to_bytes(4, "little"))

    def sv(self, name):
        return get_field(SV, self.chip.memory.sysram, name, SV_SYSRAM_OFFSET)

    def user(self, n):
        return self._vget("user%d" % n)

    def set_state(self, state):
        if isinstance(state, str):
            state = _STATE_BY_NAME[state]
        self._vset("cpu_state", int(state))

    def exit(self, rc=0):
        self.set_state(CPUState.EXIT if rc == 0 else CPUState.RTE)
        self.write_provenance()
        self.sim = None

    # ------------------------------------------------------------- timer runtime
    @property
    def time_scale(self):
        return self.sim["time_scale"] if self.sim else None

    def start_simulation(self, timer_period_us, n_ticks, sync_wait=True, time_scale=None,
                         provenance_address=0):
        """Become timer driven (docs/RUNTIME.md): SYNC0 and wait, or tick at once."""
        self.sim = {"period_us": max(1, int(timer_period_us)), "time_scale": time_scale or None,
                    "end": None if n_ticks is None else self.sim_tick + int(n_ticks),
                    "provenance": provenance_address}
        if sync_wait:
            self.set_state(CPUState.SYNC0)
        else:
            self.set_state(CPUState.RUN)
            self.chip.scheduler.core_started(self)

    def send_mc(self, keys, payloads=None):
        self.chip.scheduler.send_mc(self, keys, payloads)

    def send_sdp(self, tag, data, port=1):
        """An SDP message out of the machine through IP tag ``tag`` (dest PORT_ETH), as
        SARK's spin1_send_sdp_msg does; with a STRIP tag the host receives ``data`` only."""
        from ..protocol.sdp import SDPHeader
        hdr = SDPHeader(flags=C.SDP_FLAGS_NO_REPLY, tag=tag & 0xFF, dest_port=7, dest_cpu=31,
                        srce_port=port & 7, srce_cpu=self.p, dest_x=0, dest_y=0,
                        srce_x=self.x, srce_y=self.y)
        self.provenance["sent"] += 1
        self.chip.proc.send_to_host(hdr.pack() + bytes(data))

    def pause_simulation(self):
        self.set_state(CPUState.PAUSE)
        self.write_provenance()
        try:
            self.kernel.paused(self.sim_tick)
        except Exception as e:
            self.rte(C.RTECode.SWERR, "spinnaker-emu: kernel error when pausing: %r" % (e,))

    def set_run_length(self, n_ticks):
        """SDP CMD_RUNTIME: run ``n_ticks`` more ticks after the next SYNC0."""
        if self.sim is None:
            return
        self.sim["end"] = None if n_ticks is None else self.sim_tick + int(n_ticks)
        self.set_state(CPUState.SYNC0)

    def write_provenance(self):
        """Runtime counters to the address the system region gave (8 words)."""
        addr = self.sim.get("provenance") if self.sim else 0
        if addr:
            pv = self.provenance
            self.write(addr, struct.pack("<8I", *[min(int(pv[k]), 0xFFFFFFFF) for k in PROVENANCE_FIELDS]))

    def rte(self, code, message):
        self.io_printf(message if message.endswith("\n") else message + "\n")
        self._vset("rt_code", int(code))
        self.set_state(CPUState.RTE)
        self.provenance["rte"] += 1
        self.write_provenance()
        self.kernel = None
        self.sim = None

    # ------------------------------------------------------------- IOBUF
    def io_printf(self, text):
        """Append text to this core's IOBUF, chaining a new block when one is full."""
        mem = self.chip.memory
        size = self.chip.iobuf_size
        data = text.encode("utf-8", "replace")
        block = self._vget("iobuf")
        if not block:
            block = self._new_iobuf_block()
            if not block:
                return
            self._vset("iobuf", block)
        # find the last block of the chain
        guard = 0
        while guard < 4096:
            nxt = mem.read_word(block)
            if not nxt:
                break
            block = nxt
            guard += 1
        while data:
            used = mem.read_word(block + IOBUF_USED)
            room = size - used
            if room <= 0:
                new = self._new_iobuf_block()
                if not new:
                    return
                mem.write_word(block, new)
                block = new
                continue
            chunk, data = data[:room], data[room:]
            mem.write(block + IOBUF_HEAD.size + used, chunk)
            mem.write_word(block + IOBUF_USED, used + len(chunk))

    def _new_iobuf_block(self):
        heap = self.chip.sys_heap
        addr = heap.alloc(self.chip.iobuf_size + IOBUF_HEAD.size, self.app_id, 0)
        if addr:
            now = time.time()
            self.chip.memory.write(addr, pack_iobuf_head(0, int(now), int(now * 1000) % 1000, 0))
        return addr

    def free_iobuf(self):
        block = self._vget("iobuf")
        guard = 0
        while block and guard < 4096:
            nxt = self.chip.memory.read_word(block)
            self.chip.sys_heap.free(block)
            block = nxt
            guard += 1
        self._vset("iobuf", 0)


class CoreManager:
    def __init__(self, chip):
        self.chip = chip
        self.cores = [Core(chip, p) for p in range(C.N_CORES)]

    def boot(self, n_cores, version_word):
        now = int(time.time())
        for p, core in enumerate(self.cores):
            base = vcpu_sysram_offset(p)
            self.chip.memory.sysram[base:base + C.VCPU_SIZE] = bytes(C.VCPU_SIZE)
            if p >= n_cores:
                continue
            core._vset("phys_cpu", p)
            core._vset("sw_ver", version_word)
            core._vset("time", now)
            if p == 0:
                core._vset("cpu_state", CPUState.RUN)
                core._vset("app_name", MONITOR_NAME)
            else:
                core._vset("cpu_state", CPUState.IDLE)
                core._vset("app_name", IDLE_NAME)
            core.kernel = None

    def app_cores(self):
        return self.cores[1:self.chip.n_cores]

    def states(self):
        return bytes(c.state if c.p < self.chip.n_cores else 0 for c in self.cores)

    def count(self, app_id, state):
        return sum(1 for c in self.app_cores() if c.app_id == app_id and c.state == state)

    # ------------------------------------------------------------- start
    def start_app(self, mask, app_id, flags, image_addr=None):
        """Start the image at ``image_addr`` (sv->sdram_sys) on the cores in ``mask``:
        INIT, then WAIT if the wait flag (bit 0 of flags) is set, else c_main."""
        image_addr = self.chip.sdram_sys if image_addr is None else image_addr
        wait = bool(flags & C.APP_FLAG_WAIT)
        head = self.chip.memory.read(image_addr, 64)
        length = peek_length(head)
        data = self.chip.memory.read(image_addr, min(length, 1 << 20)) if length else head
        for p in range(1, self.chip.n_cores):
            if not mask & (1 << p):
                continue
            core = self.cores[p]
            if core.kernel is not None:
                self._stop_core(core)
            base = vcpu_sysram_offset(p)
            self.chip.memory.sysram[base:base + VCPU_CLEARED_BYTES] = bytes(VCPU_CLEARED_BYTES)
            core._vset("phys_cpu", p)
            core._vset("sw_ver", self.chip.version_word)
            core._vset("time", int(time.time()))
            core._vset("app_id", app_id)
            core._vset("cpu_state", CPUState.INIT)
            core.sim, core.sim_tick, core.provenance = None, 0, _new_provenance()
            if looks_like_aplx(data):
                self.chip.arm.start(core, image_addr, app_id, flags)
                continue
            self._load(core, data, wait)
        self._update_app_data(app_id)

    def _load(self, core, data, wait):
        try:
            image = parse_image(data)
        except ImageError:
            core._vset("app_name", b"unknown")
            core.rte(C.RTECode.UNDEF,
                     "spinnaker-emu: core %d,%d,%d: no executable image at 0x%08x (neither an "
                     "emulated image nor an APLX)" % (core.x, core.y, core.p, self.chip.sdram_sys))
            return
        core._vset("app_name", image.app_name.encode()[:16])
        cls = KERNELS.get(image.kernel)
        if cls is None:
            core.rte(C.RTECode.API, "spinnaker-emu: core %d,%d,%d: unknown kernel '%s' in image '%s'"
                     % (core.x, core.y, core.p, image.kernel, image.app_name))
            return
        core.kernel = cls(core, image)
        if wait:
            core.set_state(CPUState.WAIT)
        else:
            self._run(core)

    def _run(self, core):
        core.set_state(CPUState.SARK)
        try:
            core.kernel.start()
        except Exception as e:        # a kernel bug is the app's RTE, never the chip's death
            core.rte(C.RTECode.SWERR, "spinnaker-emu: kernel error: %r" % (e,))

    def _stop_core(self, core):
        if core.kernel is not None:
            try:
                core.kernel.stop()
            except Exception as e:       # the core stops anyway; say what its kernel did
                log("chip %s core %d: kernel error on stop (ignored): %r" % (self.chip.xy, core.p, e))
        core.kernel = None
        core.sim = None

    def _update_app_data(self, app_id):
        cores = [c for c in self.app_cores() if c.app_id == app_id and c.state != CPUState.IDLE]
        mask = 0
        for c in cores:
            mask |= 1 << c.p
        addr = self.chip.sv_get("app_data") + 8 * (app_id & 0xFF)
        if self.chip.sv_get("app_data"):
            self.chip.memory.write(addr, struct.pack("<BBBBI", len(cores), 0, 0, 0, mask))

    # ------------------------------------------------------------- signals
    def signal(self, sig, app_mask, app_id):
        """Apply a signal to every application core whose (app & mask) == id."""
        hit_apps = set()
        for core in self.app_cores():
            if (core.app_id & app_mask) != app_id:
                continue
            st = core.state
            if st in (CPUState.IDLE, CPUState.DEAD) and sig not in (Signal.PWRDN,):
                continue
            hit_apps.add(core.app_id)
            self._signal_core(core, sig, st)
        if sig == Signal.STOP:
            # SC&MP frees the app's SDRAM and router entries even if none of its cores run.
            if app_mask == 0xFF:
                hit_apps.add(app_id)
            else:
                hit_apps.update(a for a in self.chip.resource_owners() if (a & app_mask) == app_id)
            for app in hit_apps:
                self.chip.free_app_resources(app)
        return len(hit_apps)

    def _signal_core(self, core, sig, st):
        if core.arm is not None and sig not in (Signal.INIT, Signal.STOP, Signal.PWRDN):
            self.chip.arm.signal(core, sig)       # SARK on the core acts on it
            return
        if sig in (Signal.INIT, Signal.STOP):
            self._stop_core(core)
            core.free_iobuf()
            app = core.app_id
            base = vcpu_sysram_offset(core.p)
            self.chip.memory.sysram[base:base + VCPU_CLEARED_BYTES] = bytes(VCPU_CLEARED_BYTES)
            core._vset("phys_cpu", core.p)
            core._vset("sw_ver", self.chip.version_word)
            core._vset("app_name", IDLE_NAME)
            core._vset("app_id", 0)
            core._vset("cpu_state", CPUState.IDLE)
            self._update_app_data(app)
        elif sig == Signal.PWRDN:
            self._stop_core(core)
            core._vset("app_id", 0)
            core._vset("cpu_state", CPUState.PWRDN)
        elif sig == Signal.START:
            if st == CPUState.WAIT and core.kernel is not None:
                self._run(core)
        elif sig in (Signal.SYNC0, Signal.SYNC1):
            want = CPUState.SYNC0 if sig == Signal.SYNC0 else CPUState.SYNC1
            if st == want:
                core.set_state(CPUState.RUN)
                released = getattr(core.kernel, "released", None)
                if released:
                    released(want.name)
        elif sig == Signal.PAUSE:
            if st == CPUState.RUN:
                core.set_state(CPUState.PAUSE)
        elif sig == Signal.CONT:
            if st == CPUState.PAUSE:
                core.set_state(CPUState.RUN)
        elif sig == Signal.EXIT:
            if st not in (CPUState.RTE, CPUState.WDOG):
                core.write_provenance()
                self._stop_core(core)
                core.set_state(CPUState.EXIT)
        elif core.kernel is not None:
            try:
                core.kernel.on_signal(Signal(sig).name)
            except Exception as e:
                core.rte(C.RTECode.SWERR, "spinnaker-emu: kernel error: %r" % (e,))
