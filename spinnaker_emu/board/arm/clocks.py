"""The virtual clocks of a machine's chips, in memory that all its chip processes
share, so that chips running ARM code keep together in virtual time.

Each chip runs its cores on its own virtual clock (engine.py). Paced by the wall
clock they stay together only while every chip keeps up; a chip that cannot
(more busy cores than another, a loaded host) falls behind, and the spikes it
receives from the others arrive ticks late in its time: sPyNNaker counts them as
late and drops them, so a run's result would depend on how loaded the host was.
So a chip with running ARM cores publishes its clock here at every quantum, and
does not start a quantum more than one quantum length ahead of the slowest other
chip that has running cores (conservative synchronisation, as parallel
simulators do with a lookahead). A chip whose cores all wait for nothing (idle)
publishes IDLE and holds no one back. When it gets work again it starts from the
slowest running chip's time, or, if none runs, from the latest time any chip
reached: so all chips keep one time axis, and cores that a signal starts on
several chips (sPyNNaker's SYNC0) start their timers together, not as far apart as
the chips' earlier work (the data expanders) happened to leave their clocks.
Packets between chips then arrive at most about two quanta late (a quarter of a
tick), as between the cores of one chip.

In lockstep (SPINNAKER_EMU_ARM_PACE=free) the coupling is exact, so that a run
spread over several chips gives the same result every time, however loaded the
host: a chip starts a quantum only when every other chip with running cores has
finished the quanta before it (its clock has reached this quantum's start), and
when it holds every batch of packets the others sent it so far. For the latter each
chip counts the batches it sent to each other chip in the shared memory (``sent``,
written before the clock that follows them) and those it received from each
(``ChipClock.received``, its own): packets between chips are delivered at the start
of the quantum after the one they were sent in, whatever the host did meanwhile.

The memory is an anonymous shared mapping made by the supervisor before it forks
the chips: two aligned int64 per chip, its clock (IDLE when idle) and the last
clock it published, then an n x n matrix of batches sent (sender, receiver); aligned
int64 stores and loads are atomic and, on x86-64, seen in the order they were made.
A chip made without it (tests) runs on its own clock.
"""
import mmap

import numpy as np
from numba import njit

IDLE = -1


@njit(cache=True)
def slowest_other(times, mine):
    """The earliest clock among the other chips that run ARM cores (IDLE if none)."""
    best = IDLE
    for i in range(times.shape[0]):
        t = times[i]
        if i != mine and t >= 0 and (best == IDLE or t < best):
            best = t
    return best


@njit(cache=True)
def all_received(sent, received, mine):
    """True if this chip holds every batch the others sent it so far."""
    for i in range(received.shape[0]):
        if i != mine and received[i] < sent[i, mine]:
            return False
    return True


@njit(cache=True)
def latest(times):
    """The latest clock any chip published (0 if none)."""
    best = 0
    for i in range(times.shape[0]):
        best = max(best, times[i])
    return best


class ChipClocks:
    def __init__(self, chips):
        self.index = {xy: i for i, xy in enumerate(sorted(chips))}
        n = max(1, len(self.index))
        self._memory = mmap.mmap(-1, 8 * (2 * n + n * n))     # MAP_SHARED: survives fork
        words = np.frombuffer(self._memory, dtype=np.int64)
        self.times, self.last = words[:n], words[n:2 * n]
        self.sent = words[2 * n:].reshape(n, n)
        self.times[:] = IDLE

    def of(self, xy):
        """The view one chip uses."""
        return ChipClock(self.times, self.last, self.index[xy], self.sent, self.index)


class ChipClock:
    """One chip's slots, and the others' clocks as it sees them."""

    def __init__(self, times, last, index, sent=None, indices=None):
        self.times, self.last, self.index = times, last, index
        n = times.shape[0]
        self.sent = sent if sent is not None else np.zeros((n, n), dtype=np.int64)
        self.indices = indices or {}
        self.received = np.zeros(n, dtype=np.int64)

    def count_sent(self, xy):
        """A batch of packets went to chip ``xy`` (before the clock that follows it)."""
        j = self.indices.get(xy)
        if j is not None:
            self.sent[self.index, j] += 1

    def count_received(self, xy):
        """A batch of packets came from chip ``xy``."""
        i = self.indices.get(xy)
        if i is not None:
            self.received[i] += 1

    def all_received(self):
        return bool(all_received(self.sent, self.received, self.index))

    def publish(self, now):
        self.times[self.index] = now
        self.last[self.index] = now

    def idle(self):
        self.times[self.index] = IDLE

    def slowest_other(self):
        """The earliest clock of another chip with running ARM cores, or None."""
        t = int(slowest_other(self.times, self.index))
        return None if t == IDLE else t

    def resume_time(self):
        """Where a chip back from idle starts: the slowest running chip's clock, or the
        latest any chip reached if none runs."""
        t = self.slowest_other()
        return int(latest(self.last)) if t is None else t
