"""The two timers of one core (SP804-style down counters at spinnaker.h's offsets,
Timer1 at +0, Timer2 at +0x20), kept in the core's state words (cycles.py) and run
by native code like the VIC: ``read``/``write`` serve their registers through
native.mmio_read/mmio_write, and the core's run loop (core_loop.py) asks when
they next expire. They count the core's virtual cycles (NOW + COUNT inside a
slice), so a tick is the same length however loaded the host is.

LOAD sets the reload value and restarts the count; BG_LOAD sets the reload value
only. CONTROL: bit 0 one-shot, bits 2-3 prescale (1, 16, 256), bit 5 interrupt
enable, bit 6 periodic, bit 7 enable.

A busy-wait on a running COUNT (sPyNNaker's split synapse cores spin on T2_COUNT
for the whole tick) is recognised here: POLL_READS reads, each within POLL_GAP
cycles of the last and with no other peripheral access between, end the slice and
set POLLING; the run loop then moves the core's clock to that timer's expiry (or
until something arrives for it) instead of emulating every read.
"""
from numba import njit

from .cycles import (BUDGET, COUNT, NOW, POLLING, POLLS, LAST_POLL, LAST_POLL_ACCESS, MMIO_ACCESSES,
                     TIMER1, TIMER_WORDS, NEVER)
from .peripherals import TIMER1_INT, TIMER2_INT

LOAD, CONTROL, RAW, EXPIRY, STOPPED = range(TIMER_WORDS)   # a timer's words
CONTROL_RESET = 0x20            # interrupt enabled, stopped
POLL_GAP, POLL_READS = 256, 4
MASK32 = 0xFFFFFFFF


@njit(cache=True)
def reset(st):
    for i in range(2):
        t = TIMER1 + i * TIMER_WORDS
        st[t + LOAD] = 0
        st[t + CONTROL] = CONTROL_RESET
        st[t + RAW] = 0
        st[t + EXPIRY] = NEVER
        st[t + STOPPED] = MASK32
    st[POLLING] = st[POLLS] = 0
    st[LAST_POLL] = -POLL_GAP - 1
    st[LAST_POLL_ACCESS] = -2


@njit(cache=True)
def _prescale(control):
    p = (control >> 2) & 3
    return 1 if p == 0 else (16 if p == 1 else 256)


@njit(cache=True)
def _count(st, t, now):
    if st[t + EXPIRY] == NEVER:
        return st[t + STOPPED]
    return max(0, (st[t + EXPIRY] - now) // _prescale(st[t + CONTROL])) & MASK32


@njit(cache=True)
def advance(st, now):
    """Raise each timer's interrupt for every expiry up to ``now`` and reload it (a
    core that slept through several periods misses none of the reloads)."""
    for i in range(2):
        t = TIMER1 + i * TIMER_WORDS
        expiry = st[t + EXPIRY]
        if expiry == NEVER or expiry > now:
            continue
        st[t + RAW] = 1
        control = st[t + CONTROL]
        if control & 1:                               # one shot: stops at zero
            st[t + STOPPED] = 0
            st[t + EXPIRY] = NEVER
            continue
        period = st[t + LOAD] if control & 0x40 else MASK32   # periodic or free running
        step = max(1, period) * _prescale(control)
        st[t + EXPIRY] = expiry + ((now - expiry) // step + 1) * step


@njit(cache=True)
def lines(st):
    """The timers' interrupt lines, as a mask of VIC sources."""
    m = 0
    if st[TIMER1 + RAW] and st[TIMER1 + CONTROL] & 0x20:
        m |= 1 << TIMER1_INT
    if st[TIMER1 + TIMER_WORDS + RAW] and st[TIMER1 + TIMER_WORDS + CONTROL] & 0x20:
        m |= 1 << TIMER2_INT
    return m


@njit(cache=True)
def next_event(st):
    """The next expiry of a timer whose interrupt is enabled (NEVER if none)."""
    best = NEVER
    for i in range(2):
        t = TIMER1 + i * TIMER_WORDS
        e = st[t + EXPIRY]
        if e != NEVER and st[t + CONTROL] & 0x20 and (best == NEVER or e < best):
            best = e
    return best


@njit(cache=True)
def next_expiry(st):
    """The next time either running timer reaches zero, interrupt enabled or not."""
    a, b = st[TIMER1 + EXPIRY], st[TIMER1 + TIMER_WORDS + EXPIRY]
    if a == NEVER:
        return b
    if b == NEVER:
        return a
    return min(a, b)


@njit(cache=True)
def period(st):
    """Cycles between the interrupts of the faster periodic timer (0: none)."""
    best = 0
    for i in range(2):
        t = TIMER1 + i * TIMER_WORDS
        c = st[t + CONTROL]
        if st[t + EXPIRY] != NEVER and c & 0x60 == 0x60:
            q = max(1, st[t + LOAD]) * _prescale(c)
            if best == 0 or q < best:
                best = q
    return best


@njit(cache=True)
def read(st, off):
    now = st[NOW] + st[COUNT]
    if off >= 0x40:
        return 0
    t = TIMER1 + ((off >> 5) & 1) * TIMER_WORDS
    advance(st, now)
    o = off & 0x1F
    if o == 0x00 or o == 0x18:
        return st[t + LOAD]
    if o == 0x04:
        value = _count(st, t, now)
        if value:                                     # still running: a busy-wait?
            accesses = st[MMIO_ACCESSES]              # this read is the latest one
            close = now - st[LAST_POLL] <= POLL_GAP and accesses == st[LAST_POLL_ACCESS] + 1
            st[POLLS] = st[POLLS] + 1 if close else 0
            st[LAST_POLL] = now
            st[LAST_POLL_ACCESS] = accesses
            if st[POLLS] >= POLL_READS:
                st[POLLS] = 0
                st[POLLING] = 1
                st[BUDGET] = 0                        # end the slice at this block
        return value
    if o == 0x08:
        return st[t + CONTROL]
    if o == 0x10:
        return st[t + RAW]
    if o == 0x14:
        return 1 if st[t + RAW] and st[t + CONTROL] & 0x20 else 0
    return 0


@njit(cache=True)
def write(st, off, value):
    """A register write; True if it may have moved an expiry (the slice must end,
    its budget was worked out from the old one)."""
    now = st[NOW] + st[COUNT]
    if off >= 0x40:
        return False
    value &= MASK32
    t = TIMER1 + ((off >> 5) & 1) * TIMER_WORDS
    advance(st, now)
    o = off & 0x1F
    if o == 0x00:
        st[t + LOAD] = value
        if st[t + CONTROL] & 0x80:
            st[t + EXPIRY] = now + max(1, value) * _prescale(st[t + CONTROL])
        else:
            st[t + STOPPED] = value
        return True
    if o == 0x08:
        current = _count(st, t, now)
        was = st[t + CONTROL] & 0x80
        st[t + CONTROL] = value & 0xFF
        if value & 0x80 and not was:
            st[t + EXPIRY] = now + max(1, current) * _prescale(value)
        elif was and not value & 0x80:
            st[t + STOPPED] = current
            st[t + EXPIRY] = NEVER
        return True
    if o == 0x0C:
        st[t + RAW] = 0
    elif o == 0x18:
        st[t + LOAD] = value
    return False
