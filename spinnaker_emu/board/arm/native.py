"""The pieces of the ARM engine that run once per translated block, slice or
interrupt, compiled by numba to native code and cached on disk (compiled once per
installation): the cycle-counting block hook (see cycles.py), the slice runner,
exception entry (one routine, used by the hook, the engine's interrupts and its
fault handling), the TLB fill hook and the one MMIO entry pair for the peripherals
served natively (vic.py, dma.py, comms.py, timers.py), and the interrupt lines
they drive together.

Why the slice runner is native: a slice is a handful of unicorn C calls (read
PC and CPSR, emu_start, read PC and the word before it to recognise WFI). Through
ctypes each costs ~2 us; py-spy on a chip running sPyNNaker's IF_curr_exp showed
half the chip's time in them and 18 % in emulation itself. From numba they cost
what a C call costs.

unicorn's functions are bound by symbol name, not as ctypes pointers, which numba
could not cache. Pointer arguments are passed as 64-bit integers (same registers
in the x86-64 and AArch64 ABIs).
"""
import llvmlite.binding
import numpy as np
from numba import cfunc, njit, types, carray
from unicorn.unicorn_py3.unicorn import uclib
from unicorn.arm_const import UC_ARM_REG_PC, UC_ARM_REG_CPSR, UC_ARM_REG_SPSR, UC_ARM_REG_LR

llvmlite.binding.load_library_permanently(uclib._name)
uc_emu_stop = types.ExternalFunction("uc_emu_stop", types.int32(types.uint64))
uc_emu_start = types.ExternalFunction(
    "uc_emu_start", types.int32(types.uint64, types.uint64, types.uint64, types.uint64, types.uint64))
uc_reg_read = types.ExternalFunction("uc_reg_read", types.int32(types.uint64, types.int32, types.uint64))
uc_reg_write = types.ExternalFunction("uc_reg_write", types.int32(types.uint64, types.int32, types.uint64))
uc_mem_read = types.ExternalFunction(
    "uc_mem_read", types.int32(types.uint64, types.uint64, types.uint64, types.uint64))

from .arch import T_BIT, F_BIT, I_BIT, MODE_MASK, MODE_FIQ, MODE_IRQ, VEC_FIQ, VEC_IRQ, WFI_WORD, WFI_MASK
from .cycles import (COUNT, BUDGET, WATCH, SCRATCH, FIQ_DUE, FIQ_TAKEN, REGVAL, IRQ_DUE, IRQ_TAKEN,
                     TLB_FILLS, TRACED, MMIO_ACCESSES, STATE_WORDS, NOW, INTERRUPT, VIC_LINES, CORE_P, PTR_IRQ,
                     TRACE_COUNT, TRACE_RING, TRACE_DEPTH)
from . import comms, dma, fold, timers, vic
from .pointer import pointer as _pointer
from .peripherals import CC_TMT_INT, CC_TNF_INT, CPU_INT
# run_slice's "why": the slice spent its budget, the core executed WFI, or it was
# stopped otherwise (an interrupt hook); a fault is FAULT_BASE + unicorn's error
WHY_BUDGET, WHY_WFI, WHY_STOPPED, FAULT_BASE = 0, 1, 2, 16
UC_MEM_FETCH = 18                                # unicorn's uc_mem_type
UNTIL_NEVER = 0xFFFFFFFE                         # an address no code reaches
# A traced core's events (trace ring, cycles.py): kind, then two words
EV_FIQ, EV_IRQ, EV_WFI, EV_POLL_SKIP = 1, 2, 3, 4     # (sources, pc) (sources, pc) (pc, cycles) (pc, 0)
# The lines that are always high: the comms controller's transmit side is never busy
ALWAYS_LINES = (1 << CC_TMT_INT) | (1 << CC_TNF_INT)


@njit(cache=True)
def _read(uc, st, slot, reg):
    """A 32-bit register through the state word ``slot``."""
    st[slot] = 0
    uc_reg_read(uc, reg, st.ctypes.data + slot * 8)
    return st[slot]


@njit(cache=True)
def _write(uc, st, reg, value):
    st[REGVAL] = value
    uc_reg_write(uc, reg, st.ctypes.data + REGVAL * 8)


@njit(cache=True)
def log_event(st, kind, a, b):
    """One event of a traced core, stamped with its virtual cycle, for Python to log
    after the slice (the slice ends when the ring is nearly full)."""
    n = st[TRACE_COUNT]
    if n >= TRACE_DEPTH:
        return
    r = TRACE_RING + 4 * n
    st[r] = kind
    st[r + 1] = st[NOW] + st[COUNT]
    st[r + 2] = a
    st[r + 3] = b
    st[TRACE_COUNT] = n + 1
    if n + 1 >= TRACE_DEPTH - 4:
        st[BUDGET] = 0


@njit(cache=True)
def update_lines(st, now):
    """The VIC's hardware lines at cycle ``now``: the timers (advanced to ``now``),
    the comms controller's receive FIFO, the DMA controller's own lines and the
    core's CPU_INT in the system controller, then what is due."""
    timers.advance(st, now)
    irq = carray(_pointer(st[PTR_IRQ]), 1, dtype=np.int64)[0] if st[PTR_IRQ] else 0
    lines = timers.lines(st) | ALWAYS_LINES | comms.rx_lines(st) | (st[VIC_LINES] & dma.DMA_LINES)
    if irq >> st[CORE_P] & 1:
        lines |= 1 << CPU_INT
    st[VIC_LINES] = lines
    vic.set_due(st)


@njit(cache=True)
def _enter(uc, st, cpsr, vector, mode, return_address, mask_fiq):
    """ARM exception entry: SPSR_mode = CPSR, mode switch (unicorn swaps the banks),
    LR = ``return_address``, PC = vector; IRQs masked, FIQs too if ``mask_fiq``."""
    _write(uc, st, UC_ARM_REG_CPSR, (cpsr & ~(MODE_MASK | T_BIT)) | mode | I_BIT | (F_BIT if mask_fiq else 0))
    _write(uc, st, UC_ARM_REG_SPSR, cpsr)
    _write(uc, st, UC_ARM_REG_LR, return_address & 0xFFFFFFFF)
    _write(uc, st, UC_ARM_REG_PC, vector)


@njit(cache=True)
def _take_due(uc, st, cpsr, return_address):
    """Enter the due interrupt the CPSR allows, FIQ first (True), or nothing (False)."""
    if st[FIQ_DUE] and not cpsr & F_BIT:
        if st[TRACED]:
            log_event(st, EV_FIQ, vic.fiq_status(st), return_address - 4)
        _enter(uc, st, cpsr, VEC_FIQ, MODE_FIQ, return_address, True)
        st[FIQ_TAKEN] += 1
        return True
    if st[IRQ_DUE] and not cpsr & I_BIT:
        if st[TRACED]:
            log_event(st, EV_IRQ, vic.irq_status(st), return_address - 4)
        _enter(uc, st, cpsr, VEC_IRQ, MODE_IRQ, return_address, False)
        st[IRQ_TAKEN] += 1
        return True
    return False


@cfunc(types.void(types.uint64, types.uint64, types.uint32, types.voidptr), cache=True)
def block_hook(uc, address, size, user):
    st = carray(user, STATE_WORDS, dtype=np.int64)
    st[COUNT] += size >> 1
    if st[COUNT] >= st[BUDGET]:
        uc_emu_stop(uc)
    elif st[WATCH]:
        cpsr = _read(uc, st, SCRATCH, UC_ARM_REG_CPSR)
        if cpsr & st[WATCH] != st[WATCH]:             # a due interrupt's mask bit is clear
            # Enter it here, before this block, as hardware would (LR = this block + 4):
            # unicorn restarts at the vector without leaving emu_start. A mask bit whose
            # interrupt is no longer due ends the slice instead.
            if not _take_due(uc, st, cpsr, address + 4):
                uc_emu_stop(uc)


@cfunc(types.boolean(types.uint64, types.uint64, types.int32, types.voidptr, types.voidptr), cache=True)
def tlb_fill(uc, vaddr, access, entry, user):
    """unicorn's virtual-TLB miss: the ARM968 has no MMU or MPU, so every address is
    its own physical address with every permission (the mapped regions' own
    protection, e.g. read-only ROM, still applies). Without this hook unicorn grants
    only the access that missed, so a load and a store to the same page evict each
    other's entry and every access takes the slow path."""
    e = carray(entry, 2, dtype=np.uint64)             # uc_tlb_entry: paddr, perms
    e[0] = vaddr & np.uint64(0xFFFFFFFFFFFFFC00)
    e[1] = 5 if access == UC_MEM_FETCH else 3         # READ|EXEC, READ|WRITE
    st = carray(user, STATE_WORDS, dtype=np.int64)
    st[TLB_FILLS] += 1
    fold.check_memory(st, vaddr)
    return True


@cfunc(types.void(types.uint64, types.uint32, types.voidptr), cache=True)
def intr_hook(uc, intno, user):
    """unicorn's interrupt hook (an SVC, undefined instruction or abort it raises as an
    exception): note it and stop; the engine enters the ARM vector (engine._fault)."""
    st = carray(user, STATE_WORDS, dtype=np.int64)
    st[INTERRUPT] = intno + 1
    uc_emu_stop(uc)


# The peripherals served in native code, as cpu.py maps them: unicorn gives each
# mapping a descriptor (the address of the core's state words, the block) as user data
MMIO_VIC, MMIO_DMA, MMIO_CC, MMIO_TIMER = fold.BLOCK_VIC, fold.BLOCK_DMA, fold.BLOCK_CC, fold.BLOCK_TIMER


@njit(cache=True)
def _state_of(descriptor):
    d = carray(descriptor, 2, dtype=np.int64)
    st = carray(_pointer(d[0]), STATE_WORDS, dtype=np.int64)
    st[MMIO_ACCESSES] += 1
    return st, d[1]


@cfunc(types.uint64(types.uint64, types.uint64, types.uint32, types.voidptr), cache=True)
def mmio_read(uc, off, size, descriptor):
    """unicorn's MMIO read callback for every native peripheral (uc_cb_mmio_read_t)."""
    st, block = _state_of(descriptor)
    o = np.int64(off)
    fold.check_mmio(st, block, o, False)
    if block == MMIO_VIC:
        return vic.read(st, o)
    if block == MMIO_DMA:
        return dma.read(st, o)
    if block == MMIO_TIMER:
        return timers.read(st, o)
    return comms.read(st, o)


@cfunc(types.void(types.uint64, types.uint64, types.uint32, types.uint64, types.voidptr), cache=True)
def mmio_write(uc, off, size, value, descriptor):
    """unicorn's MMIO write callback for every native peripheral (uc_cb_mmio_write_t)."""
    st, block = _state_of(descriptor)
    o, v = np.int64(off), np.int64(value)
    fold.check_mmio(st, block, o, True)
    if block == MMIO_VIC:
        vic.write(st, o, v)
    elif block == MMIO_DMA:
        dma.write(st, o, v)
    elif block == MMIO_TIMER:
        if timers.write(st, o, v):
            st[BUDGET] = 0            # a new expiry may fall inside this slice
        update_lines(st, st[NOW] + st[COUNT])     # an interrupt cleared, enabled or disabled
    else:
        comms.write(st, o, v)


# typed, so importing this module compiles them (the supervisor does, before forking)
@njit(types.UniTuple(types.int64, 2)(types.uint64, types.int64[::1], types.int64), cache=True)
def run_slice(uch, st, budget):
    """Run one slice of at most ``budget`` cycles from the current PC (in Thumb
    if CPSR.T), first entering a due interrupt the CPSR allows. Returns (cycles
    used, why)."""
    st[COUNT] = 0
    st[BUDGET] = max(1, budget)
    pc = _read(uch, st, REGVAL, UC_ARM_REG_PC)
    cpsr = _read(uch, st, SCRATCH, UC_ARM_REG_CPSR)
    if st[WATCH] and _take_due(uch, st, cpsr, pc + 4):     # due and not masked: taken now
        pc = _read(uch, st, REGVAL, UC_ARM_REG_PC)
        cpsr = _read(uch, st, SCRATCH, UC_ARM_REG_CPSR)
    start = np.uint64(pc)
    if cpsr & T_BIT:
        start |= np.uint64(1)
    err = uc_emu_start(uch, start, UNTIL_NEVER, 0, 0)
    used = max(1, st[COUNT])
    if err:
        return used, FAULT_BASE + err
    if st[COUNT] >= st[BUDGET]:
        return used, WHY_BUDGET
    pc = _read(uch, st, REGVAL, UC_ARM_REG_PC)
    st[SCRATCH] = 0
    if pc >= 4 and uc_mem_read(uch, pc - 4, st.ctypes.data + SCRATCH * 8, 4) == 0 \
            and st[SCRATCH] & WFI_MASK == WFI_WORD:
        return used, WHY_WFI
    return used, WHY_STOPPED


@njit(types.void(types.uint64, types.int64[::1], types.int64, types.int64, types.int64), cache=True)
def enter_exception(uch, st, vector, mode, return_address):
    """Enter an abort, undefined-instruction or SVC vector (LR given; FIQs stay as they are)."""
    _enter(uch, st, _read(uch, st, SCRATCH, UC_ARM_REG_CPSR), vector, mode, return_address, False)
