"""Multicast packets between the ARM cores of one chip, routed in native code.

A network that sPyNNaker puts on one chip sends almost all of its packets from
one of the chip's cores to others (spikes to the synapse cores, Poisson sources
to the neurons). After a core's run loop returns (core_loop.run_cores), ``route``
goes through the packets it sent: a multicast packet whose entry in the chip's own
table routes it to ARM cores of this chip only (no link, no core run by a Python
kernel, no traced core) goes straight into each target's receive FIFO, the router's
local-multicast counter is kept, and the packet leaves the transmit ring. Everything else stays in
the ring, in order, for Python (engine._drain_sent, Scheduler.route_now): packets
to other chips, fixed-route, point-to-point and nearest-neighbour packets, keys
with no entry (dropped and counted there), and those for traced cores (whose
every packet is logged).
"""
import numpy as np
from numba import njit, carray, types

from ...protocol.constants import N_CORES
from .cycles import DIRTY, FOLD_CLEAN, TX_COUNT, TX_RING, TX_WORDS, STATE_WORDS
from .comms import MC, push
from .pointer import pointer as _pointer

# what route() counted: packets routed, packets a full FIFO dropped, then per core received
ROUTED, DROPPED, RECEIVED = 0, 1, 2


@njit(types.void(types.int64[::1], types.int64[:, ::1], types.int64[::1], types.int64[::1]), cache=True)
def route(st, table, targets, counts):
    """Deliver the sender's (state words ``st``) local packets. ``table``: the chip's
    entries (key, mask, route) in order; ``targets``: per physical core, the address
    of its state words if it may receive natively, else 0; ``counts``: see ROUTED."""
    n = st[TX_COUNT]
    kept = 0
    for i in range(n):
        rec = TX_RING + TX_WORDS * i
        word, key, payload = st[rec], st[rec + 1], st[rec + 2]
        route_word = -1
        if word & 3 == MC:
            for e in range(table.shape[0]):
                if key & table[e, 1] == table[e, 0]:
                    route_word = table[e, 2]
                    break
        cores = (route_word >> 6) & 0x3FFFF if route_word >= 0 and route_word & 0x3F == 0 else 0
        local = cores != 0
        for p in range(N_CORES):
            if cores >> p & 1 and targets[p] == 0:
                local = False
        if not local:                            # for Python, in order
            out = TX_RING + TX_WORDS * kept
            for w in range(TX_WORDS):
                st[out + w] = st[rec + w]
            kept += 1
            continue
        counts[ROUTED] += 1
        for p in range(N_CORES):
            if cores >> p & 1:
                dst = carray(_pointer(targets[p]), STATE_WORDS, dtype=np.int64)
                if push(dst, word, key, payload):
                    dst[DIRTY] = 1
                    dst[FOLD_CLEAN] = 0      # an arrival: the tick proves nothing (fold.py)
                    counts[RECEIVED + p] += 1
                else:
                    counts[DROPPED] += 1
    st[TX_COUNT] = kept


@njit(types.void(types.int64[::1], types.int64[:, ::1], types.int64[::1], types.int64[::1]), cache=True)
def deliver(states, table, targets, counts):
    """At a quantum's end: route what stayed in each core's transmit ring (``states``:
    the addresses of their state words, in core order), now that every core of the
    chip may receive; what is left is for Python."""
    for i in range(states.shape[0]):
        st = carray(_pointer(states[i]), STATE_WORDS, dtype=np.int64)
        if st[TX_COUNT]:
            route(st, table, targets, counts)


class LocalRoutes:
    """The chip's table as ``route`` wants it, rebuilt when the table changes (the
    scheduler installs a new entry list), and the cores that receive natively."""

    def __init__(self):
        self.entries = None
        self.table = np.zeros((0, 3), dtype=np.int64)
        self.targets = np.zeros(N_CORES, dtype=np.int64)
        self.counts = np.zeros(RECEIVED + N_CORES, dtype=np.int64)

    def update(self, entries, cores):
        """``entries``: the chip's [(key, mask, route)]; ``cores``: {p: ArmCore}."""
        if entries is not self.entries:
            self.entries = entries
            self.table = np.array([(k, m, r) for k, m, r in entries], dtype=np.int64).reshape(-1, 3)
        self.targets[:] = 0
        for p, arm in cores.items():
            if not arm.halted and not arm.trace_left:
                self.targets[p] = arm.st.ctypes.data

    def take_counts(self):
        """What ``route`` counted since the last call (see ROUTED), and clear it."""
        counts = self.counts.copy()
        self.counts[:] = 0
        return counts
