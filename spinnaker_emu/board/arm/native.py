"""The two pieces of the ARM engine that run once per translated block or once
per slice, compiled by numba to native code and cached on disk (compiled once
per installation): the cycle-counting block hook (see cycles.py) and the slice
runner.

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

from .cycles import COUNT, BUDGET, WATCH, SCRATCH, FIQ_DUE, FIQ_TAKEN, REGVAL, STATE_WORDS
# run_slice's "why": the slice spent its budget, the core executed WFI, or it was
# stopped otherwise (an interrupt hook); a fault is FAULT_BASE + unicorn's error
WHY_BUDGET, WHY_WFI, WHY_STOPPED, FAULT_BASE = 0, 1, 2, 16
T_BIT, F_BIT, I_BIT, MODE_MASK = 1 << 5, 1 << 6, 1 << 7, 0x1F
MODE_FIQ, VEC_FIQ = 0x11, 0x1C
WFI_WORD, WFI_MASK = 0xEE070F90, 0xFFFF0FFF      # mcr p15, 0, rX, c7, c0, 4
UNTIL_NEVER = 0xFFFFFFFE                         # an address no code reaches


@cfunc(types.void(types.uint64, types.uint64, types.uint32, types.voidptr), cache=True)
def block_hook(uc, address, size, user):
    st = carray(user, STATE_WORDS, dtype=np.int64)
    st[COUNT] += size >> 1
    if st[COUNT] >= st[BUDGET]:
        uc_emu_stop(uc)
    elif st[WATCH]:
        base = st.ctypes.data
        uc_reg_read(uc, UC_ARM_REG_CPSR, base + SCRATCH * 8)
        cpsr = st[SCRATCH]
        if cpsr & st[WATCH] != st[WATCH]:             # a watched mask bit cleared
            if st[FIQ_DUE] and st[WATCH] & F_BIT and not cpsr & F_BIT:
                # The FIQ the VIC still has pending (the next packet after its
                # handler's return): enter it here, before this block, as hardware
                # would. unicorn restarts at the new PC without leaving emu_start.
                st[REGVAL] = (cpsr & ~(MODE_MASK | T_BIT)) | MODE_FIQ | I_BIT | F_BIT
                uc_reg_write(uc, UC_ARM_REG_CPSR, base + REGVAL * 8)
                st[REGVAL] = cpsr
                uc_reg_write(uc, UC_ARM_REG_SPSR, base + REGVAL * 8)
                st[REGVAL] = address + 4
                uc_reg_write(uc, UC_ARM_REG_LR, base + REGVAL * 8)
                st[REGVAL] = VEC_FIQ
                uc_reg_write(uc, UC_ARM_REG_PC, base + REGVAL * 8)
                st[FIQ_TAKEN] += 1
            else:
                uc_emu_stop(uc)


# typed, so importing this module compiles it (the supervisor does, before forking)
@njit(types.UniTuple(types.int64, 2)(types.uint64, types.int64[::1], types.uint32[::1], types.int64),
      cache=True)
def run_slice(uch, st, scratch, budget):
    """Run one slice of at most ``budget`` cycles from the current PC (in Thumb
    if CPSR.T). ``scratch``: uint32[2]. Returns (cycles used, why)."""
    st[COUNT] = 0
    st[BUDGET] = max(1, budget)
    st[SCRATCH] = 0
    st[REGVAL] = 0
    buf = scratch.ctypes.data
    uc_reg_read(uch, UC_ARM_REG_PC, buf)
    uc_reg_read(uch, UC_ARM_REG_CPSR, buf + 4)
    start = np.uint64(scratch[0])
    if scratch[1] & T_BIT:
        start |= np.uint64(1)
    err = uc_emu_start(uch, start, UNTIL_NEVER, 0, 0)
    used = max(1, st[COUNT])
    if err:
        return used, FAULT_BASE + err
    if st[COUNT] >= st[BUDGET]:
        return used, WHY_BUDGET
    uc_reg_read(uch, UC_ARM_REG_PC, buf)
    pc = np.uint64(scratch[0])
    if pc >= 4 and uc_mem_read(uch, pc - 4, buf + 4, 4) == 0 and scratch[1] & WFI_MASK == WFI_WORD:
        return used, WHY_WFI
    return used, WHY_STOPPED


@njit(types.void(types.uint64, types.uint32[::1], types.uint32, types.uint32, types.uint32, types.boolean),
      cache=True)
def enter_exception(uch, scratch, vector, mode, lr_offset, mask_fiq):
    """ARM exception entry for an interrupt taken before the instruction at PC:
    SPSR_mode = CPSR, mode switch (unicorn swaps the banks), LR = PC + lr_offset,
    PC = vector; IRQs masked, FIQs too for an FIQ."""
    buf = scratch.ctypes.data
    uc_reg_read(uch, UC_ARM_REG_CPSR, buf)
    uc_reg_read(uch, UC_ARM_REG_PC, buf + 4)
    old = scratch[0]
    scratch[0] = (old & ~np.uint32(MODE_MASK | T_BIT)) | mode | I_BIT | (F_BIT if mask_fiq else 0)
    uc_reg_write(uch, UC_ARM_REG_CPSR, buf)
    scratch[0] = old
    uc_reg_write(uch, UC_ARM_REG_SPSR, buf)
    scratch[1] = scratch[1] + lr_offset
    uc_reg_write(uch, UC_ARM_REG_LR, buf + 4)
    scratch[1] = vector
    uc_reg_write(uch, UC_ARM_REG_PC, buf + 4)
