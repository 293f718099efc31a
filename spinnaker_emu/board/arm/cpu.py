"""One emulated ARM968 core: a unicorn CPU (ARM946 model, ARMv5TE) with the
core's own TCMs, the chip's SDRAM and System RAM mapped in place (the very
buffers the monitor's SCP READ/WRITE use, not copies), the per-core peripherals
and the chip's router and system controller as MMIO, and exception entry done
by hand (unicorn has no interrupt controller).

A slice runs until its cycle budget is spent (cycles.py) or the core executes
WFI (``mcr p15, 0, rX, c7, c0, 4``), which unicorn reports by returning early.
"""
import ctypes

import numpy as np

from unicorn import Uc, UcError, UC_ARCH_ARM, UC_MODE_ARM, UC_PROT_ALL
from unicorn import unicorn_const as UCC
from unicorn.unicorn_py3.unicorn import uclib
from unicorn.arm_const import (UC_CPU_ARM_946, UC_ARM_REG_PC, UC_ARM_REG_CPSR,
                               UC_ARM_REG_LR, UC_ARM_REG_SP, UC_ARM_REG_R0)

from ...protocol import constants as C
from ..memory import host_address, ITCM_SIZE, DTCM_SIZE
from . import cycles, native

from .arch import T_BIT, F_BIT, I_BIT, MODE_SVC

# Where the peripherals sit (base, buffered alias); the VIC is also at 0xFFFFF000
CC_BASES = (0x10000000, 0x20000000)
TIMER_BASES = (0x11000000, 0x21000000)
VIC_BASES = (0x1F000000, 0x2F000000, 0xFFFFF000)
DMA_BASES = (0x30000000, 0x40000000)
PERIPH_SIZE = 0x1000
ROUTER_SIZE = 0x20000
# Blocks that exist on the chip but are not modelled: reads give 0 and are logged once
UNMODELLED = ((0xE0000000, "PL340 SDRAM controller"), (0xF0000000, "PL340 SDRAM controller"),
              (0xE3000000, "watchdog"), (0xF3000000, "watchdog"),
              (0xE4000000, "Ethernet"), (0xF4000000, "Ethernet"))
UNMODELLED_SIZE = 0x10000
ROM_SIZE = 0x8000

_MMIO_READ = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint,
                              ctypes.c_void_p)
_MMIO_WRITE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint, ctypes.c_uint64,
                               ctypes.c_void_p)

# Why a slice ended
BUDGET, WFI, FAULT, STOPPED = "budget", "wfi", "fault", "stopped"
_WHY = {native.WHY_BUDGET: BUDGET, native.WHY_WFI: WFI, native.WHY_STOPPED: STOPPED}


class ArmCpu:
    def __init__(self, memory, p, devices, log):
        """``devices``: object with read_<block>(off) / write_<block>(off, value) for
        router and sysctl (the VIC, timers, DMA and comms controllers are native:
        vic.py, timers.py, dma.py, comms.py, in the state words); ``log(text)`` reports
        the unusual."""
        self.p = p
        self.log = log
        self.devices = devices
        self.uc = uc = Uc(UC_ARCH_ARM, UC_MODE_ARM)
        uc.ctl_set_cpu_model(UC_CPU_ARM_946)
        self._buffers = []          # keep every mapped buffer (and its export) alive
        self._map(C.ITCM_BASE, memory.itcm_of(p), ITCM_SIZE)
        self._map(C.DTCM_BASE, memory.dtcm_of(p), DTCM_SIZE)
        for base in (C.SDRAM_BASE, C.SDRAM_BASE_UNBUF):
            self._map(base, memory.sdram, C.SDRAM_SIZE)
        for base in (C.SYSRAM_BASE, C.SYSRAM_BASE_ALIAS):
            self._map(base, memory.sysram, C.SYSRAM_SIZE)
        for base in (C.ROM_BASE, 0xE6000000):
            uc.mem_map(base, ROM_SIZE, UCC.UC_PROT_READ | UCC.UC_PROT_EXEC)
        self._uch = uc._uch
        self.state = cycles.new_state()
        cycles.install(uc, self.state)
        self._callbacks = []        # ctypes callbacks unicorn holds pointers to
        self._register_native(CC_BASES, PERIPH_SIZE, native.MMIO_CC)
        self._register_native(TIMER_BASES, PERIPH_SIZE, native.MMIO_TIMER)
        self._register_native(VIC_BASES, PERIPH_SIZE, native.MMIO_VIC)
        self._register_native(DMA_BASES, PERIPH_SIZE, native.MMIO_DMA)
        self._mmio((C.ROUTER_BASE, C.ROUTER_BASE_ALIAS), ROUTER_SIZE, "router")
        self._mmio((C.SYSCTL_BASE, C.SYSCTL_BASE_ALIAS), PERIPH_SIZE, "sysctl")
        self._unmodelled_seen = set()
        for base, name in UNMODELLED:
            self._mmio_map((base,), UNMODELLED_SIZE, self._unmodelled_read(base, name),
                           self._unmodelled_write(base, name))
        # Registers are read and written several times per slice: straight through
        # the C API with one reusable buffer (the binding's generic path costs ~5 us)
        self._rbuf = ctypes.c_uint32()
        self._rref = ctypes.byref(self._rbuf)
        self._uch_int = ctypes.cast(uc._uch, ctypes.c_void_p).value
        # The ARM968 has no MMU and no MPU: addresses are physical. In unicorn's
        # default TLB mode every store to RAM takes QEMU's slow path (the ARM946 model's
        # protection unit; ~35 M stores/s here). The virtual TLB mode with a native fill
        # hook (identity map, all permissions) keeps loads and stores on the fast path
        # (~600 M/s); unmapped addresses still fault as before. The hook counts
        # its refills in the state words.
        uc.ctl_set_tlb_mode(UCC.UC_TLB_VIRTUAL)
        self._add_hook(UCC.UC_HOOK_TLB_FILL, native.tlb_fill.address)
        self._add_hook(UCC.UC_HOOK_INTR, native.intr_hook.address)

    def _add_hook(self, kind, address):
        """A native hook (native.py) over all addresses, with the state words as its data."""
        handle = ctypes.c_size_t()
        err = uclib.uc_hook_add(self._uch, ctypes.byref(handle), kind, ctypes.c_void_p(address),
                                ctypes.c_void_p(self.state.ctypes.data), ctypes.c_uint64(1), ctypes.c_uint64(0))
        if err:
            raise UcError(err)

    def _map(self, base, buf, size):
        uc_ptr = host_address(buf)
        self._buffers.append(buf)
        self.uc.mem_map_ptr(base, size, UC_PROT_ALL, uc_ptr)

    def _mmio(self, bases, size, block):
        """Map ``block``'s registers to ``devices.read_<block>(offset)`` and
        ``devices.write_<block>(offset, value)``, looked up at each access so that
        ``devices`` can be rebound to the core running on this CPU now. unicorn
        calls our own ctypes callbacks (its binding's wrappers cost three Python
        calls per access, and MMIO runs at every interrupt, DMA and packet), one
        Python frame each. An exception in a handler is a bug of ours: logged, and
        the slice ends."""
        devices, read_name, write_name = self.devices, "read_" + block, "write_" + block
        st = self.state

        def on_read(_uc, off, _size, _ud):
            st[cycles.MMIO_ACCESSES] += 1
            try:
                return getattr(devices, read_name)(off) & 0xFFFFFFFF
            except Exception as e:          # noqa: BLE001 (a C callback cannot raise)
                self._callback_failed("read", off, e)
                return 0

        def on_write(_uc, off, _size, value, _ud):
            st[cycles.MMIO_ACCESSES] += 1
            try:
                getattr(devices, write_name)(off, value & 0xFFFFFFFF)
            except Exception as e:          # noqa: BLE001
                self._callback_failed("write", off, e)
        self._register(bases, size, on_read, on_write)

    def _mmio_map(self, bases, size, read, write):
        """Map ``read(off)`` / ``write(off, value)`` (blocks without a device)."""
        def on_read(_uc, off, _size, _ud):
            try:
                return read(off) & 0xFFFFFFFF
            except Exception as e:          # noqa: BLE001
                self._callback_failed("read", off, e)
                return 0

        def on_write(_uc, off, _size, value, _ud):
            try:
                write(off, value & 0xFFFFFFFF)
            except Exception as e:          # noqa: BLE001
                self._callback_failed("write", off, e)
        self._register(bases, size, on_read, on_write)

    def _register_native(self, bases, size, block):
        """Map a peripheral served in native code (native.mmio_read/mmio_write) with
        its descriptor: this core's state words and the block."""
        descriptor = np.array([self.state.ctypes.data, block], dtype=np.int64)
        self._buffers.append(descriptor)
        user = ctypes.c_void_p(descriptor.ctypes.data)
        for base in bases:
            err = uclib.uc_mmio_map(self._uch, base, size, ctypes.c_void_p(native.mmio_read.address), user,
                                   ctypes.c_void_p(native.mmio_write.address), user)
            if err:
                raise UcError(err)

    def _register(self, bases, size, on_read, on_write):
        cbs = (_MMIO_READ(on_read), _MMIO_WRITE(on_write))
        self._callbacks.append(cbs)
        for base in bases:
            err = uclib.uc_mmio_map(self._uch, base, size, ctypes.cast(cbs[0], ctypes.c_void_p), None,
                                   ctypes.cast(cbs[1], ctypes.c_void_p), None)
            if err:
                raise UcError(err)

    def _callback_failed(self, what, off, exc):
        import traceback
        self.log("internal error in an MMIO %s at offset 0x%x: %s\n%s"
                 % (what, off, exc, traceback.format_exc()))
        self.stop()

    def _unmodelled_read(self, base, name):
        def read(off):
            self._note_unmodelled("read", base + off, name)
            return 0
        return read

    def _unmodelled_write(self, base, name):
        def write(off, value):
            self._note_unmodelled("write", base + off, name)
        return write

    def _note_unmodelled(self, what, addr, name):
        if (what, addr) not in self._unmodelled_seen and len(self._unmodelled_seen) < 256:
            self._unmodelled_seen.add((what, addr))
            self.log("%s of unmodelled %s register 0x%08x at pc 0x%08x"
                     % (what, name, addr, self.uc.reg_read(UC_ARM_REG_PC)))

    def close(self):
        try:
            self.uc.mem_unmap(C.SDRAM_BASE, C.SDRAM_SIZE)
        except UcError:
            pass
        self.uc = None
        self._buffers = []

    # ------------------------------------------------------------ registers
    def reg(self, r):
        uclib.uc_reg_read(self._uch, r, self._rref)
        return self._rbuf.value

    @property
    def pc(self):
        return self.reg(UC_ARM_REG_PC)

    @property
    def cpsr(self):
        return self.reg(UC_ARM_REG_CPSR)

    def registers(self):
        """r0-r7, cpsr, sp, lr as SARK dumps them into vcpu_t."""
        uc = self.uc
        return [uc.reg_read(UC_ARM_REG_R0 + i) for i in range(8)] + \
            [uc.reg_read(UC_ARM_REG_CPSR), uc.reg_read(UC_ARM_REG_SP), uc.reg_read(UC_ARM_REG_LR)]

    def reset(self, pc, r0, memory_flushed=True):
        """Enter an image at ``pc`` in SVC mode with interrupts masked (after a soft reset)."""
        if memory_flushed:
            self.uc.ctl_flush_tb()           # new code in the same TCM: drop translations
        self.uc.reg_write(UC_ARM_REG_CPSR, MODE_SVC | I_BIT | F_BIT)
        self.uc.reg_write(UC_ARM_REG_R0, r0 & 0xFFFFFFFF)
        self.uc.reg_write(UC_ARM_REG_SP, C.DTCM_BASE + DTCM_SIZE)
        self.uc.reg_write(UC_ARM_REG_PC, pc & ~1)
        if pc & 1:
            self.uc.reg_write(UC_ARM_REG_CPSR, MODE_SVC | I_BIT | F_BIT | T_BIT)
        self.state[cycles.FAULTS] = 0

    # ------------------------------------------------------------ exceptions
    def enter(self, vector, mode, return_address):
        """ARM exception entry for a fault (LR = ``return_address``)."""
        native.enter_exception(self._uch_int, self.state, vector, mode, return_address & 0xFFFFFFFF)

    # ------------------------------------------------------------ running
    def run(self, budget):
        """Run one slice of up to ``budget`` cycles (tests, benchmarks; the engine runs
        its cores with core_loop.run_cores). Returns (cycles used, why it ended, detail)."""
        st = self.state
        st[cycles.INTERRUPT] = 0
        used, why = native.run_slice(self._uch_int, st, int(budget))
        if why >= native.FAULT_BASE:
            return used, FAULT, why - native.FAULT_BASE
        if st[cycles.INTERRUPT]:
            return used, FAULT, ("intr", int(st[cycles.INTERRUPT]) - 1)
        return used, _WHY[why], None

    @property
    def uch(self):
        """unicorn's engine handle, as the native code takes it (core_loop.run_cores)."""
        return self._uch_int

    def stop(self):
        """End the current slice at the next block (from an MMIO callback). Not
        uc.emu_stop(): called inside a store's MMIO callback it leaves PC on the store,
        which then runs again on the next slice, forever."""
        self.state[cycles.BUDGET] = 0
