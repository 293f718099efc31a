"""Folding idle timer ticks: a core whose timer interrupt, while nothing else
happens, provably changes nothing, is not woken for it any more.

Why: sPyNNaker's extra monitor (SpiNNFrontEndCommon's extra_monitor_support, on
every chip unless ``enable_advanced_monitor_support = False``) takes a timer
interrupt every 10 us to look at its reinjection queue, which stays empty unless a
router drops packets. Emulated, those 100,000 interrupts per second on each of a
board's 48 chips cost far more than the host has (the chips ran ~400x slower than
real time); on hardware they cost nothing anyone can see.

How it is proven, per core (the state words FOLD..., cycles.py):
- IDLE -> ARMED: the core returned to WFI after a tick that only its timer woke
  and during which nothing arrived: its registers and TCM are copied (snapshot).
- ARMED -> VERIFY: the next such wake. unicorn's TLB is flushed, so every page the
  tick touches goes through native.tlb_fill, which marks the tick as not foldable
  if it reads or writes System RAM or SDRAM (memory others change or see); the MMIO
  handlers do the same for any access with an effect or a time-dependent value
  (check_mmio): sending or receiving packets, DMA, the system controller, timer
  counts and reloads. What is left are the VIC, the timers' acknowledge and the
  router's control/status, all of which only events change.
- VERIFY -> FOLDED: the tick ended in WFI with registers, TCM and peripheral state
  equal to the snapshot. The tick is then a function of that state alone, mapping
  it to itself: each further tick until something else happens would do exactly
  the same, so they are counted instead of run (the timer keeps its phase).
- FOLDED -> IDLE: anything arriving for the core (DIRTY: a packet, a mailbox
  message, CPU_INT, a signal) unfolds it at that cycle: the ticks up to then are
  accounted, the timer moves on to its next expiry, and the core runs as before.
A tick that fails the proof (it sent a packet, changed memory, read the clock)
backs off: the next try is 2^n periods later, so a busy core (a neuron core, a
Poisson source) pays for a snapshot only rarely.
"""
import numpy as np
from numba import carray, njit, types
from unicorn.arm_const import (UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3, UC_ARM_REG_R4,
                               UC_ARM_REG_R5, UC_ARM_REG_R6, UC_ARM_REG_R7, UC_ARM_REG_R8, UC_ARM_REG_R9,
                               UC_ARM_REG_R10, UC_ARM_REG_R11, UC_ARM_REG_R12, UC_ARM_REG_SP, UC_ARM_REG_LR,
                               UC_ARM_REG_PC, UC_ARM_REG_CPSR, UC_ARM_REG_SPSR)

from .cycles import (FOLD, FOLD_BAD, FOLD_CLEAN, FOLD_TIMER, FOLD_FAILS, FOLD_NEXT, FOLD_TICKS, FOLD_COST,
                     FOLD_TICK_START, FOLD_FLUSH, PTR_SNAP, FOLD_REGS, N_FOLD_REGS, FOLD_PERIPH, N_FOLD_PERIPH,
                     PTR_ITCM, PTR_DTCM, NOW, REGVAL, VIC_SELECT, DMA_PHYS, TIMER1, TIMER_WORDS, RX_COUNT,
                     TX_COUNT, NEVER)
from ..memory import ITCM_SIZE, DTCM_SIZE
from .pointer import pointer
from . import timers

IDLE, ARMED, VERIFY, FOLDED = range(4)
SNAP_WORDS = (ITCM_SIZE + DTCM_SIZE) // 8
MAX_BACKOFF = 12                  # at most 4096 periods between tries
REGS = (UC_ARM_REG_R0, UC_ARM_REG_R1, UC_ARM_REG_R2, UC_ARM_REG_R3, UC_ARM_REG_R4, UC_ARM_REG_R5,
        UC_ARM_REG_R6, UC_ARM_REG_R7, UC_ARM_REG_R8, UC_ARM_REG_R9, UC_ARM_REG_R10, UC_ARM_REG_R11,
        UC_ARM_REG_R12, UC_ARM_REG_SP, UC_ARM_REG_LR, UC_ARM_REG_PC, UC_ARM_REG_CPSR, UC_ARM_REG_SPSR)
assert len(REGS) == N_FOLD_REGS
# The peripheral state a folded tick must leave as it found it: the VIC's registers and
# the DMA controller's (words VIC_SELECT..DMA_PHYS), and each timer's load, control and
# raw interrupt (not its expiry, which moves on by a period)
PERIPHERAL_WORDS = np.array(list(range(VIC_SELECT, DMA_PHYS + 1))
                            + [TIMER1 + i * TIMER_WORDS + w for i in range(2) for w in range(3)],
                            dtype=np.int64)
assert PERIPHERAL_WORDS.shape[0] == N_FOLD_PERIPH
# MMIO blocks as check_mmio sees them (native.py MMIO_* plus the two Python ones)
BLOCK_VIC, BLOCK_DMA, BLOCK_CC, BLOCK_TIMER, BLOCK_ROUTER, BLOCK_SYSCTL = range(6)
ROUTER_CONTROL, ROUTER_STATUS = 0x00, 0x04
TIMER_COUNT, TIMER_INT_CLR = 0x04, 0x0C

uc_reg_read = types.ExternalFunction("uc_reg_read", types.int32(types.uint64, types.int32, types.uint64))
# uc_ctl(uc, UC_CTL_WRITE(UC_CTL_TLB_FLUSH, 0 arguments)): (1 << 30) | 11
uc_ctl = types.ExternalFunction("uc_ctl", types.int32(types.uint64, types.int32))
TLB_FLUSH = (1 << 30) | 11


def new_snapshot():
    """The buffer a core's TCM is copied into (its address goes into PTR_SNAP)."""
    return np.zeros(SNAP_WORDS, dtype=np.uint64)


@njit(cache=True)
def reset(st):
    st[FOLD] = IDLE
    st[FOLD_BAD] = st[FOLD_CLEAN] = st[FOLD_FAILS] = st[FOLD_TICKS] = st[FOLD_COST] = st[FOLD_FLUSH] = 0
    st[FOLD_NEXT] = 0
    st[FOLD_TIMER] = -1


@njit(cache=True)
def _timer_source(st):
    """The one timer whose interrupt is enabled and periodic (its index), or -1."""
    found = -1
    for i in range(2):
        t = TIMER1 + i * TIMER_WORDS
        c = st[t + 1]
        if st[t + 3] != NEVER and c & 0x20:
            if found >= 0 or c & 0x40 == 0 or c & 1:
                return -1
            found = i
    return found


@njit(cache=True)
def _tcm(st):
    itcm = carray(pointer(st[PTR_ITCM]), ITCM_SIZE // 8, dtype=np.uint64)
    dtcm = carray(pointer(st[PTR_DTCM]), DTCM_SIZE // 8, dtype=np.uint64)
    snap = carray(pointer(st[PTR_SNAP]), SNAP_WORDS, dtype=np.uint64)
    return itcm, dtcm, snap


@njit(cache=True)
def _reg(uch, st, reg):
    st[REGVAL] = 0
    uc_reg_read(uch, reg, st.ctypes.data + REGVAL * 8)
    return st[REGVAL]


@njit(cache=True)
def _snapshot(uch, st):
    itcm, dtcm, snap = _tcm(st)
    n = itcm.shape[0]
    snap[:n] = itcm
    snap[n:] = dtcm
    for i in range(N_FOLD_REGS):
        st[FOLD_REGS + i] = _reg(uch, st, REGS[i])
    for k in range(N_FOLD_PERIPH):
        st[FOLD_PERIPH + k] = st[PERIPHERAL_WORDS[k]]


@njit(cache=True)
def _unchanged(uch, st):
    for i in range(N_FOLD_REGS):
        if st[FOLD_REGS + i] != _reg(uch, st, REGS[i]):
            return False
    for k in range(N_FOLD_PERIPH):
        if st[FOLD_PERIPH + k] != st[PERIPHERAL_WORDS[k]]:
            return False
    itcm, dtcm, snap = _tcm(st)
    n = itcm.shape[0]
    for i in range(n):
        if snap[i] != itcm[i]:
            return False
    for i in range(dtcm.shape[0]):
        if snap[n + i] != dtcm[i]:
            return False
    return True


@njit(cache=True)
def woken(st, by_timer_only):
    """The core leaves WFI; ``by_timer_only``: nothing but its timer woke it."""
    st[FOLD_CLEAN] = 1 if by_timer_only else 0
    st[FOLD_TICK_START] = st[NOW]
    if st[FOLD] == ARMED:
        if by_timer_only:
            st[FOLD] = VERIFY
            st[FOLD_BAD] = 0
            st[FOLD_FLUSH] = 1
    elif st[FOLD] == VERIFY:
        st[FOLD] = IDLE               # the tick verified was not a clean one after all


@njit(cache=True)
def start_tick(uch, st):
    """Before the first slice of a tick being verified: every page it touches must go
    through the TLB fill hook again."""
    if st[FOLD_FLUSH]:
        st[FOLD_FLUSH] = 0
        uc_ctl(uch, TLB_FLUSH)


@njit(cache=True)
def disturbed(st):
    """Something arrived or Python had to step in during the tick: it proves nothing."""
    st[FOLD_CLEAN] = 0


@njit(cache=True)
def at_wfi(uch, st):
    """The core went back to WFI: arm, verify or give up (see the module's docstring)."""
    state = st[FOLD]
    clean = st[FOLD_CLEAN] != 0 and st[RX_COUNT] == 0 and st[TX_COUNT] == 0
    st[FOLD_CLEAN] = 0
    if not clean:
        if state != FOLDED:
            st[FOLD] = IDLE
        return
    source = _timer_source(st)
    if source < 0:
        st[FOLD] = IDLE
        return
    if state == VERIFY:
        if st[FOLD_BAD] == 0 and st[FOLD_TIMER] == source and _unchanged(uch, st):
            st[FOLD] = FOLDED
            st[FOLD_COST] = st[NOW] - st[FOLD_TICK_START]
            st[FOLD_FAILS] = 0
            return
        st[FOLD_FAILS] = min(MAX_BACKOFF, st[FOLD_FAILS] + 1)
        st[FOLD_NEXT] = st[NOW] + timers.period(st) * (1 << st[FOLD_FAILS])
        st[FOLD] = IDLE
        return
    if state == IDLE and st[NOW] >= st[FOLD_NEXT]:
        _snapshot(uch, st)
        st[FOLD_TIMER] = source
        st[FOLD] = ARMED


@njit(cache=True)
def unfold(st):
    """Something arrived for a folded core at its cycle NOW: the timer's interrupts up
    to then count as taken (their handler would have left everything as it was), and
    the core runs again from here."""
    t = TIMER1 + st[FOLD_TIMER] * TIMER_WORDS
    expiry = st[t + 3]
    now = st[NOW]
    if expiry != NEVER and expiry <= now:
        step = max(1, st[t]) * timers._prescale(st[t + 1])
        st[FOLD_TICKS] += (now - expiry) // step + 1
        timers.advance(st, now)
        st[t + 2] = 0                 # acknowledged by the ticks that were folded
    st[FOLD] = IDLE


@njit(cache=True)
def ticks(st):
    """The timer interrupts folded so far, including those of a fold still going on."""
    n = st[FOLD_TICKS]
    if st[FOLD] == FOLDED:
        t = TIMER1 + st[FOLD_TIMER] * TIMER_WORDS
        expiry = st[t + 3]
        if expiry != NEVER and expiry <= st[NOW]:
            n += (st[NOW] - expiry) // (max(1, st[t]) * timers._prescale(st[t + 1])) + 1
    return n


@njit(cache=True)
def check_mmio(st, block, off, write):
    """While a tick is verified: an MMIO access that has an effect beyond the state
    compared afterwards, or whose value depends on time, makes the tick not foldable."""
    if st[FOLD] != VERIFY:
        return
    o = off & 0x1F
    if block == BLOCK_VIC:
        return
    if block == BLOCK_TIMER and off < 0x40 and ((write and o == TIMER_INT_CLR) or (not write and o != TIMER_COUNT)):
        return
    if block == BLOCK_ROUTER and not write and (off == ROUTER_CONTROL or off == ROUTER_STATUS):
        return
    st[FOLD_BAD] = 1


@njit(cache=True)
def check_memory(st, address):
    """While a tick is verified: a System RAM or SDRAM page it touches (native.tlb_fill)."""
    if st[FOLD] == VERIFY:
        top = address >> 24
        if top >> 4 == 6 or top >> 4 == 7 or top == 0xE5 or top == 0xF5:
            st[FOLD_BAD] = 1


@njit(cache=True)
def next_event(st):
    """timers.next_event, except that a folded core waits for nothing but arrivals."""
    if st[FOLD] == FOLDED:
        return NEVER
    return timers.next_event(st)

