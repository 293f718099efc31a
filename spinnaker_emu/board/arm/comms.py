"""The comms controller of one core, kept in the core's state words (cycles.py)
and run by native code like the VIC and the DMA controller: received packets wait
in a FIFO ring the core reads through RSR, RXDATA and RXKEY (every packet is an
FIQ, read in two or three accesses), and packets the core sends through TCR,
TXDATA and TXKEY go into a second ring that the engine drains after each slice
into the chip's router. Reading RXKEY takes the packet and re-evaluates the lines
and due interrupts, so the next packet's FIQ follows without Python. (``read``
and ``write`` below serve the registers through native.mmio_read/mmio_write.)

Python puts packets in (``Comms.receive``, between slices) and takes sent ones
out (``Comms.sent``).
"""
from numba import njit

from .cycles import (BUDGET, VIC_LINES, CC_TCR, CC_TXDATA, RX_HEAD, RX_COUNT,
                     RX_RING, RX_DEPTH, TX_COUNT, TX_DROPPED, TX_RING, TX_DEPTH, TX_WORDS, NOW, COUNT)
from .peripherals import CC_RDY_INT, CC_MC_INT
from .vic import set_due

MC, P2P, NN, FR = 0, 1, 2, 3       # packet types; each has its own receive line, CC_MC_INT + type
PKT_TYPE_SHIFT = 22                # TCR / RSR packet control bits
PKT_PL = 1 << 17
RX_RECEIVED = 1 << 31              # RSR: a packet waits
TX_EMPTY = 1 << 31                 # TCR: the transmit buffer is empty (sPyNNaker's send_mc waits for it)
TX_FULL = 1 << 30
TX_NOT_FULL = 1 << 28              # TCR: room for another packet (sPyNNaker's wait_for_cc)
TX_STATUS = TX_EMPTY | TX_FULL | 1 << 29 | TX_NOT_FULL
COMMS_RX_LINES = (1 << CC_RDY_INT) | (0xF << CC_MC_INT)
HAS_PAYLOAD = 1 << 8               # in a ring record's first word, next to the type
MASK32 = 0xFFFFFFFF


@njit(cache=True)
def rx_lines(st):
    if st[RX_COUNT] == 0:
        return 0
    kind = st[RX_RING + 3 * st[RX_HEAD]] & 3
    return (1 << CC_RDY_INT) | (1 << (CC_MC_INT + kind))


@njit(cache=True)
def push(st, word, key, payload):
    """Queue a packet for the core (``word``: type | HAS_PAYLOAD, as in both rings);
    False if the FIFO is full and the packet is dropped."""
    n = st[RX_COUNT]
    if n >= RX_DEPTH:
        return False
    rec = RX_RING + 3 * ((st[RX_HEAD] + n) % RX_DEPTH)
    st[rec] = word
    st[rec + 1] = key & MASK32
    st[rec + 2] = payload & MASK32
    st[RX_COUNT] = n + 1
    return True


@njit(cache=True)
def _update_lines(st):
    st[VIC_LINES] = (st[VIC_LINES] & ~COMMS_RX_LINES) | rx_lines(st)
    set_due(st)


@njit(cache=True)
def read(st, off):
    if off == 0x00:                # a sent packet leaves at once: never full, always empty
        return (st[CC_TCR] & ~TX_STATUS | TX_EMPTY | TX_NOT_FULL) & MASK32
    if st[RX_COUNT] == 0:
        return 0
    rec = RX_RING + 3 * st[RX_HEAD]
    if off == 0x0C:                # RSR
        kind = st[rec] & 3
        return RX_RECEIVED | kind << PKT_TYPE_SHIFT | (PKT_PL if st[rec] & HAS_PAYLOAD else 0)
    if off == 0x10:                # RXDATA
        return st[rec + 2]
    if off == 0x14:                # RXKEY: the packet is taken
        key = st[rec + 1]
        st[RX_HEAD] = (st[RX_HEAD] + 1) % RX_DEPTH
        st[RX_COUNT] -= 1
        _update_lines(st)
        return key
    return 0


@njit(cache=True)
def write(st, off, value):
    value &= MASK32
    if off == 0x00:
        st[CC_TCR] = value
    elif off == 0x04:
        st[CC_TXDATA] = value
    elif off == 0x08:              # TXKEY: the packet goes
        n = st[TX_COUNT]
        if n >= TX_DEPTH:
            st[TX_DROPPED] += 1
            return
        rec = TX_RING + TX_WORDS * n
        tcr = st[CC_TCR]
        st[rec] = ((tcr >> PKT_TYPE_SHIFT) & 3) | (HAS_PAYLOAD if tcr & PKT_PL else 0)
        st[rec + 1] = value
        st[rec + 2] = st[CC_TXDATA]
        st[rec + 3] = st[NOW] + st[COUNT]          # when: another chip holds it until then
        st[TX_COUNT] = n + 1
        if n + 1 >= TX_DEPTH:
            st[BUDGET] = 0         # end the slice: the engine drains the ring
    # RSR write (0x0C) clears error flags: none are modelled


class Comms:
    """The comms controller as the engine sees it: a view of the state words ``st``,
    reset for a new image."""

    def __init__(self, st):
        self.st = st
        st[CC_TCR:TX_RING + TX_WORDS * TX_DEPTH] = 0
        self.dropped = 0           # packets that found the receive FIFO full

    def lines(self):
        return int(rx_lines(self.st))

    def room(self):
        """How many more packets the receive FIFO takes."""
        return RX_DEPTH - int(self.st[RX_COUNT])

    def receive(self, kind, key, payload):
        """Queue a packet for the core (False: the FIFO is full, the packet is dropped)."""
        if payload is None:
            ok = push(self.st, kind, key, 0)
        else:
            ok = push(self.st, kind | HAS_PAYLOAD, key, payload)
        if not ok:
            self.dropped += 1
        return ok

    def sent(self):
        """[(kind, key, payload or None, cycle)] the core sent since the last call, in
        order, and how many found the transmit ring full."""
        st = self.st
        n = int(st[TX_COUNT])
        out = []
        for i in range(n):
            k, key, pl, cycle = (int(x) for x in st[TX_RING + TX_WORDS * i:TX_RING + TX_WORDS * (i + 1)])
            out.append((k & 3, key, pl if k & HAS_PAYLOAD else None, cycle))
        dropped = int(st[TX_DROPPED])
        st[TX_COUNT] = st[TX_DROPPED] = 0
        return out, dropped

    def read(self, off):
        return int(read(self.st, off))

    def write(self, off, value):
        write(self.st, off, value)
