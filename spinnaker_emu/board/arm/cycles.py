"""Virtual time for an ARM core: a unicorn block hook compiled by numba counts
"cycles" and stops the CPU when a budget is spent.

Unicorn cannot say how many instructions a call executed, and its ``count=``
limit costs a helper call per instruction (~70 M/s measured here). A block hook
costs one call per translated block; compiled to native code it keeps the CPU
near 200 M instructions/s. One virtual cycle is counted per 2 bytes of code
executed (one Thumb instruction; an ARM instruction counts two), a deterministic
stand-in for ARM968 timing: the same binary and inputs always take the same
virtual time, however busy the host is.

The state is an int64 array per core (see the words below; most of it is the comms
controller's receive FIFO), shared by the hook, the slice runner and the native
peripherals. The hook is called at the start of a block, so a slice overshoots
its budget by at most one block. Interrupts: the engine keeps FIQ_DUE / IRQ_DUE true while the VIC has one
pending (it re-evaluates them whenever an MMIO access can change the VIC's lines
or priorities) and WATCH holds their CPSR mask bits. While a due interrupt is
masked the hook reads the CPSR at each block (QEMU ends a block at every write to
the CPSR) and enters the interrupt itself at the first block where the CPSR
unmasks it, as hardware takes it at the next instruction boundary, without
leaving emu_start.
"""
import ctypes

import numpy as np

from unicorn.unicorn_py3.unicorn import uclib
from unicorn.unicorn_const import UC_HOOK_BLOCK

# The state words: cycles this slice, the slice's budget, the CPSR mask bits of the
# interrupts that are due, scratch for the hook, whether an FIQ / an IRQ is due, the
# FIQs / IRQs the native code entered so far, a word to pass register values
# through, unicorn's TLB refills so far (native.tlb_fill), whether the core is traced
# (its interrupts, WFIs and skipped busy-waits are then logged in the trace ring), and
# the peripheral accesses so far (native and Python: tells a busy-wait apart)
COUNT, BUDGET, WATCH, SCRATCH, FIQ_DUE, FIQ_TAKEN, REGVAL, IRQ_DUE, IRQ_TAKEN, TLB_FILLS, TRACED, \
    MMIO_ACCESSES = range(12)
# The VIC's registers (vic.py): select, enable, soft, hardware lines, default vector,
# nesting depth, then the 16 vector addresses, the 16 vector controls and the stack of
# slots in service
VIC_SELECT, VIC_ENABLE, VIC_SOFT, VIC_LINES, VIC_DEFADDR, VIC_NSERV = range(12, 18)
VIC_VADDR, VIC_VCNTL, VIC_SERV = 18, 34, 50
# The DMA controller's registers and counts (dma.py), the host addresses of the memories it
# copies between, and what Python reads after a slice: failed transfers (count, then the
# last one's descriptor, system and TCM address) and a traced core's transfers (count, then
# DMA_LOG_LEN records of cycle, descriptor, system and TCM address)
DMA_ADRS, DMA_ADRT, DMA_DESC, DMA_DONE, DMA_ERRORS, DMA_GCTL, DMA_TRANSFERS, DMA_PHYS = range(67, 75)
PTR_SDRAM, PTR_SYSRAM, PTR_ITCM, PTR_DTCM = range(75, 79)
DMA_FAILED, DMA_FAIL, DMA_LOGGED, DMA_LOG, DMA_LOG_LEN = 79, 80, 83, 84, 16
# The core's run loop (core_loop.py): its clock (cycle at the start of the current
# slice), asleep in WFI, something arrived since its lines were last worked out, a
# busy-wait on a timer to skip (and the detector's count, last poll cycle and access
# number), busy-waits skipped, slices run, cycles executed, exception entries without
# progress, the physical core number, the host address of the system controller's
# CPU_INT word (sysctl.py), a fault's unicorn error, and the exception number + 1 of an
# SVC, undefined instruction or abort unicorn reported through its interrupt hook
NOW, WFI, DIRTY, POLLING, POLLS, LAST_POLL, LAST_POLL_ACCESS, POLL_SKIPS, SLICES, BUSY, FAULTS, \
    CORE_P, PTR_IRQ, EXIT_DETAIL, INTERRUPT = range(148, 163)
# The two timers (timers.py), TIMER_WORDS each: load, control, raw interrupt, the cycle
# at which the count next reaches zero (NEVER: stopped), the count while stopped
TIMER1, TIMER_WORDS = 163, 5
# A traced core's events for Python to log (core_loop.py): count, then TRACE_DEPTH
# records of kind, cycle, and two words
TRACE_COUNT, TRACE_RING, TRACE_DEPTH = 173, 174, 64
# The comms controller (comms.py): TCR, TXDATA, the receive FIFO (head, count, then
# RX_DEPTH records of type|payload flag, key, payload: the router and links hold packets a
# busy core has not read) and the packets sent (count, overflows, then TX_WORDS per packet:
# type|payload flag, key, payload, the cycle it was sent at)
CC_TCR, CC_TXDATA, RX_HEAD, RX_COUNT, TX_COUNT, TX_DROPPED = range(430, 436)
RX_RING, RX_DEPTH = 436, 4096
TX_RING, TX_DEPTH, TX_WORDS = RX_RING + 3 * RX_DEPTH, 256, 4
# Folding idle timer ticks (fold.py): its state, whether the tick being verified did
# something that rules it out, whether the tick so far was woken by the timer alone with
# nothing arriving, the timer folded, failed tries and the cycle before which there is no
# new try, the ticks folded so far and what one cost, the cycle the tick began, a TLB flush
# owed, the host address of the TCM snapshot; then the registers and the peripheral words
# as the snapshot found them
FOLD, FOLD_BAD, FOLD_CLEAN, FOLD_TIMER, FOLD_FAILS, FOLD_NEXT, FOLD_TICKS, FOLD_COST, FOLD_TICK_START, \
    FOLD_FLUSH, PTR_SNAP = range(TX_RING + TX_WORDS * TX_DEPTH, TX_RING + TX_WORDS * TX_DEPTH + 11)
FOLD_REGS, N_FOLD_REGS = PTR_SNAP + 1, 18
FOLD_PERIPH, N_FOLD_PERIPH = FOLD_REGS + N_FOLD_REGS, (74 - 12 + 1) + 6     # VIC..DMA words, 2 timers x 3
# The core raised the monitor's CPU_INT (an SDP message in its mailbox, sark_msg_send):
# its native run returns to Python after a few more instructions, so that the monitor
# takes the message within microseconds of virtual time, as SC&MP would, not at the
# quantum's end (a core sending one message after another, the fast data out gatherer,
# waited a quantum for each)
MONITOR_CALL = FOLD_PERIPH + N_FOLD_PERIPH
STATE_WORDS = MONITOR_CALL + 1


def _compile():
    from .native import block_hook
    return block_hook


_HOOK = None


def hook_address():
    global _HOOK
    if _HOOK is None:
        _HOOK = _compile()
    return _HOOK.address


NEVER = -1                       # "no such cycle" in NOW-like words (a stopped timer)
assert TIMER1 + 2 * TIMER_WORDS == TRACE_COUNT and TRACE_RING + 4 * TRACE_DEPTH == CC_TCR


def new_state():
    return np.zeros(STATE_WORDS, dtype=np.int64)


def install(uc, state):
    """Attach the counting hook to ``uc`` (a unicorn.Uc) with ``state`` as its data."""
    handle = ctypes.c_size_t()
    err = uclib.uc_hook_add(uc._uch, ctypes.byref(handle), UC_HOOK_BLOCK,
                            ctypes.c_void_p(hook_address()), ctypes.c_void_p(state.ctypes.data),
                            ctypes.c_uint64(1), ctypes.c_uint64(0))
    if err:
        raise RuntimeError("unicorn: cannot add the cycle hook (error %d)" % err)
    return handle
