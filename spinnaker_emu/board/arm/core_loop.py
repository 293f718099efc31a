"""A chip's cores in native code: one core's run loop from the engine's quantum start
to its end (the horizon), slice after slice, without Python between them; the
quantum of all the chip's running cores (run_cores) and its planning
(plan_quantum).

Before each slice the loop works out the VIC's lines and what is due, but only if
something arrived (DIRTY) or a timer expired; the slice's budget stops at the
horizon or the next timer expiry, whichever comes first. A core in WFI sleeps
until something arrives for it or its timer expires (an enabled source wakes it,
masked or not); a busy-wait on a timer (timers.py) is skipped the same way. So
per slice the only costs are unicorn's.

The loop returns to Python (the engine, engine.py ArmCore.run_until) when the core
reaches the horizon, or when Python has something to do: a fault or an exception
unicorn raised (SVC, undefined instruction), the packets sent filling the transmit
ring, a DMA failure or a traced core's events to log. Python drains those
and calls again; what is in the state words is the whole state, so nothing is lost
between calls.
"""
import numpy as np
from numba import carray, njit, types

from .cycles import (MONITOR_CALL, NOW, WFI, DIRTY, FOLD, POLLING, POLL_SKIPS, SLICES, BUSY, FAULTS, EXIT_DETAIL, INTERRUPT,
                     COUNT, TX_COUNT, TX_DROPPED, TX_DEPTH, DMA_FAILED, DMA_LOGGED, TRACED, TRACE_COUNT,
                     REGVAL, NEVER, STATE_WORDS)
from . import fold, native, timers, vic
from .local_routes import route
from .pointer import pointer as _pointer
from unicorn.arm_const import UC_ARM_REG_PC

# The engine advances a chip's cores in quanta of an eighth of the shortest timer period on
# the chip, between 20 us and 250 us of virtual time: packets to other chips, SDP and
# signals are exchanged between quanta. Each quantum costs a little Python per chip, so a
# 1 ms tick runs in 8 quanta rather than 50.
QUANTUM_MIN, QUANTUM_MAX, QUANTA_PER_TICK = 4000, 50000, 8
# Within a quantum the cores run in ROUNDS rounds of at least ROUND_MIN cycles (run_cores)
ROUNDS, ROUND_MIN, MAX_ROUNDS = 4, 2000, 64

# Why run_core returned: the core reached the horizon (or sleeps past it); it faulted
# (EXIT_DETAIL: unicorn's error); unicorn raised an exception (EXIT_DETAIL: its number);
# something waits for Python (sent packets, a DMA failure, trace events); the loop's bound
EXIT_HORIZON, EXIT_FAULT, EXIT_INTERRUPT, EXIT_DRAIN, EXIT_LIMIT = range(5)
MAX_SLICES = 4096
TX_DRAIN = TX_DEPTH - 32          # leave room for the next slice's packets


@njit(cache=True)
def still_asleep(st):
    """For a core in WFI: its lines can only have changed if something arrived or a
    timer expired; only then are they looked at, and an enabled active source wakes
    it. A sleeping core costs almost nothing."""
    if not st[WFI]:
        return False
    if st[FOLD] == fold.FOLDED:
        if not st[DIRTY]:
            return True               # its timer's interrupts change nothing (fold.py)
        fold.unfold(st)
    nxt = timers.next_event(st)
    dirty = st[DIRTY]
    if dirty or (nxt != NEVER and nxt <= st[NOW]):
        st[DIRTY] = 0
        native.update_lines(st, st[NOW])
        if vic.wake_pending(st):
            st[WFI] = 0
            st[DIRTY] = 1             # the next slice works out what is due
            fold.woken(st, dirty == 0)
    return st[WFI] != 0


@njit(cache=True)
def _sleep_until(st, nxt, horizon):
    """Move a core that does nothing until cycle ``nxt`` to it, or to the horizon if it
    comes later (then True: the quantum is done for this core)."""
    if nxt == NEVER or nxt >= horizon:
        st[NOW] = horizon
        return True
    st[NOW] = max(st[NOW], nxt)
    return False


@njit(cache=True)
def _run_core(uch, st, horizon):
    for _ in range(MAX_SLICES):
        now = st[NOW]
        if now >= horizon:
            return EXIT_HORIZON
        if st[WFI]:
            if still_asleep(st):
                if _sleep_until(st, fold.next_event(st), horizon):
                    return EXIT_HORIZON
                continue
        if st[POLLING]:
            # A loop polling a timer's COUNT sees nothing new until that timer expires or
            # something arrives (packets and messages come between quanta): skip the
            # spinning. The loop then reads the later COUNT.
            nxt = timers.next_expiry(st)
            if not st[DIRTY] and (nxt == NEVER or nxt > now) and _sleep_until(st, nxt, horizon):
                return EXIT_HORIZON
            st[POLLING] = 0
            st[POLL_SKIPS] += 1
            now = st[NOW]
            if st[TRACED]:
                st[COUNT] = 0             # between slices: the event's cycle is NOW
                native.log_event(st, native.EV_POLL_SKIP, native._read(uch, st, REGVAL, UC_ARM_REG_PC), 0)
        # The lines and due words stay as the last slice left them unless something
        # arrived or a timer expired
        nxt = timers.next_event(st)
        if st[DIRTY] or (nxt != NEVER and nxt <= now):
            native.update_lines(st, now)
            nxt = timers.next_event(st)
        budget = horizon - now
        if nxt != NEVER and nxt > now:
            budget = min(budget, nxt - now)
        st[DIRTY] = 0                 # what arrived so far, this slice sees
        fold.start_tick(uch, st)
        used, why = native.run_slice(uch, st, budget)
        st[SLICES] += 1
        st[BUSY] += used
        st[NOW] = now + used
        if why >= native.FAULT_BASE:
            st[EXIT_DETAIL] = why - native.FAULT_BASE
            return EXIT_FAULT
        if why == native.WHY_WFI:
            st[WFI] = 1
            st[DIRTY] = 1             # its lines are looked at once more
            if still_asleep(st):      # nothing pending: it sleeps
                fold.at_wfi(uch, st)
            if st[TRACED]:
                st[COUNT] = 0
                native.log_event(st, native.EV_WFI, native._read(uch, st, REGVAL, UC_ARM_REG_PC), used)
        elif why == native.WHY_STOPPED:
            if st[INTERRUPT]:
                st[EXIT_DETAIL] = st[INTERRUPT] - 1
                st[INTERRUPT] = 0
                return EXIT_INTERRUPT
            # otherwise the hook ended the slice where a mask cleared: go on
        else:
            st[FAULTS] = 0
        if st[TX_COUNT] >= TX_DRAIN or st[DMA_FAILED] or st[DMA_LOGGED] or st[TRACE_COUNT] or st[MONITOR_CALL]:
            return EXIT_DRAIN
    return EXIT_LIMIT


@njit(types.int64(types.uint64, types.int64[::1], types.int64), cache=True)
def run_core(uch, st, horizon):
    """Run the core until its clock reaches ``horizon`` or Python is needed (EXIT_*)."""
    why = _run_core(uch, st, horizon)
    if why != EXIT_HORIZON:
        fold.disturbed(st)            # Python steps in
    return why


@njit(types.UniTuple(types.int64, 2)(types.int64[::1], types.int64, types.boolean), cache=True)
def plan_quantum(states, now, python_busy):
    """The next quantum of a chip whose running cores have the state words at the
    addresses ``states``: (its start, its length). When every core sleeps and Python
    has nothing for them (``python_busy``: a mailbox message, the monitor's CPU_INT),
    the quantum starts at the earliest timer expiry instead of ``now``. The length is
    an eighth of the shortest periodic timer's period, within QUANTUM_MIN..QUANTUM_MAX
    (a spike sent early in a tick still arrives within it)."""
    asleep = not python_busy
    earliest = NEVER
    period = 0
    for i in range(states.shape[0]):
        st = carray(_pointer(states[i]), STATE_WORDS, dtype=np.int64)
        if asleep and not still_asleep(st):
            asleep = False
        e = fold.next_event(st)
        if e != NEVER and (earliest == NEVER or e < earliest):
            earliest = e
        q = timers.period(st) if st[FOLD] != fold.FOLDED else 0     # a folded timer asks for nothing
        if q and (period == 0 or q < period):
            period = q
    if states.shape[0] and asleep and earliest != NEVER and earliest > now:
        now = earliest
    length = QUANTUM_MIN if period == 0 else max(QUANTUM_MIN, min(QUANTUM_MAX, period // QUANTA_PER_TICK))
    return now, length


@njit(types.UniTuple(types.int64, 2)(types.int64[::1], types.int64[::1], types.int64, types.int64, types.int64,
                                     types.int64[:, ::1], types.int64[::1], types.int64[::1]),
      cache=True, nogil=True)
def run_cores(uchs, states, start, now, horizon, table, targets, counts):
    """One quantum of a chip's running cores (or of one thread's share of them,
    engine.py), in rounds: in each, every core in order runs to the round's end
    (run_core), and the packets it sent to cores in ``targets`` are delivered at
    once (local_routes.route); the others stay in its transmit ring until the
    quantum's end (local_routes.deliver, then Python). A round is a ROUNDS-th of the
    quantum, so a packet to a core that ran earlier in the order waits at most that
    long, not the whole quantum (sPyNNaker counted such packets, delivered just
    before its timer tick, as late). Returns (n, EXIT_HORIZON) when all are done,
    or (index, exit) of a core that needs Python first (a nearly full transmit
    ring, a DMA failure, trace events, a fault); the engine then calls again, and
    the round goes on where it stopped (``start`` is where the first call begins;
    the cores' clocks say where each is). Runs without the GIL: it touches only
    these cores' state words and the memories they share with the chip."""
    n = states.shape[0]
    for i in range(n):
        st = carray(_pointer(states[i]), STATE_WORDS, dtype=np.int64)
        if st[NOW] < now:
            st[NOW] = now
    step = max(ROUND_MIN, (horizon - now) // ROUNDS)
    for _ in range(MAX_ROUNDS):
        t = horizon
        for i in range(n):
            t = min(t, carray(_pointer(states[i]), STATE_WORDS, dtype=np.int64)[NOW])
        if t >= horizon:
            return n, EXIT_HORIZON
        end = min(horizon, now + ((t - now) // step + 1) * step)     # a grid from the quantum's start
        for i in range(start, n):
            st = carray(_pointer(states[i]), STATE_WORDS, dtype=np.int64)
            if st[NOW] >= end:
                continue
            for _ in range(MAX_SLICES):
                why = run_core(uchs[i], st, end)
                if st[TX_COUNT]:
                    route(st, table, targets, counts)
                if st[TX_COUNT] >= TX_DRAIN or st[TX_DROPPED] or st[DMA_FAILED] or st[DMA_LOGGED] \
                        or st[TRACE_COUNT] or st[MONITOR_CALL] or why == EXIT_FAULT or why == EXIT_INTERRUPT:
                    return i, why
                if why != EXIT_DRAIN:
                    break
        start = 0
    return n, EXIT_HORIZON
