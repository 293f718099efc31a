"""The vectored interrupt controller (ARM PL190) of one core, kept in the core's
state words (cycles.py) so that native code runs it: the VIC's registers are
served by ``read``/``write`` below through native.mmio_read/mmio_write, and after
each access that can change what is pending they set the FIQ_DUE/IRQ_DUE/WATCH words
the block hook enters interrupts by. An interrupt's acknowledge and end of
service (two VIC accesses per interrupt) therefore cost no Python.

Python sees the same words through ``Vic``: the engine sets the hardware lines
(timers, comms, CPU_INT), the DMA controller its own, and asks what is due.

PL190 as spin1_api uses it: raw = hardware lines | soft bits; 16 vectored slots
(VECT_CNTL enable bit 5, source in bits 0-4), lower slot = higher priority; a
VADDR read acknowledges the highest-priority active IRQ and masks that priority
and lower until a VADDR write ends its service; FIQ_SELECT routes sources to FIQ.
"""
from numba import njit

from .arch import F_BIT, I_BIT
from .cycles import (FIQ_DUE, IRQ_DUE, WATCH, VIC_SELECT, VIC_ENABLE,
                     VIC_SOFT, VIC_LINES, VIC_DEFADDR, VIC_NSERV, VIC_VADDR, VIC_VCNTL, VIC_SERV)

MASK32 = 0xFFFFFFFF
NO_SLOT = 16                     # "the default vector": an active source in no enabled slot
MAX_NESTING = 17                 # slots 0-15 and the default


@njit(cache=True)
def _slot(st, status):
    """The highest-priority enabled slot whose source is active in ``status``
    (NO_SLOT if none is, -1 if ``status`` is 0)."""
    if status == 0:
        return -1
    for i in range(16):
        c = st[VIC_VCNTL + i]
        if c & 0x20 and (status >> (c & 31)) & 1:
            return i
    return NO_SLOT


@njit(cache=True)
def irq_status(st):
    return (st[VIC_LINES] | st[VIC_SOFT]) & st[VIC_ENABLE] & ~st[VIC_SELECT] & MASK32


@njit(cache=True)
def fiq_status(st):
    return (st[VIC_LINES] | st[VIC_SOFT]) & st[VIC_ENABLE] & st[VIC_SELECT] & MASK32


@njit(cache=True)
def irq_pending(st):
    slot = _slot(st, irq_status(st))
    if slot < 0:
        return False
    n = st[VIC_NSERV]
    return n == 0 or slot < st[VIC_SERV + n - 1]


@njit(cache=True)
def wake_pending(st):
    """WFI ends on any enabled source, masked in the CPSR or not."""
    return (st[VIC_LINES] | st[VIC_SOFT]) & st[VIC_ENABLE] != 0


@njit(cache=True)
def set_due(st):
    """The due words from the VIC's state (native code enters what they say where the
    CPSR allows: native._take_due)."""
    fiq = fiq_status(st) != 0
    irq = irq_pending(st)
    st[FIQ_DUE] = 1 if fiq else 0
    st[IRQ_DUE] = 1 if irq else 0
    st[WATCH] = (F_BIT if fiq else 0) | (I_BIT if irq else 0)


@njit(cache=True)
def read(st, off):
    if off == 0x00:
        return irq_status(st)
    if off == 0x04:
        return fiq_status(st)
    if off == 0x08:
        return (st[VIC_LINES] | st[VIC_SOFT]) & MASK32
    if off == 0x0C:
        return st[VIC_SELECT]
    if off == 0x10:
        return st[VIC_ENABLE]
    if off == 0x30:                                  # VADDR: acknowledge
        slot = _slot(st, irq_status(st))
        n = st[VIC_NSERV]
        if slot < 0 or (n > 0 and slot >= st[VIC_SERV + n - 1]):
            return st[VIC_DEFADDR]
        if n < MAX_NESTING:
            st[VIC_SERV + n] = slot
            st[VIC_NSERV] = n + 1
        set_due(st)                                  # this priority and lower now wait
        return st[VIC_DEFADDR] if slot == NO_SLOT else st[VIC_VADDR + slot]
    if off == 0x34:
        return st[VIC_DEFADDR]
    if 0x100 <= off < 0x140:
        return st[VIC_VADDR + ((off - 0x100) >> 2)]
    if 0x200 <= off < 0x240:
        return st[VIC_VCNTL + ((off - 0x200) >> 2)]
    if off == 0xFE0:                                 # peripheral id 0x90 (PL190)
        return 0x90
    return 0


@njit(cache=True)
def write(st, off, value):
    value &= MASK32
    if off == 0x0C:
        st[VIC_SELECT] = value
    elif off == 0x10:
        st[VIC_ENABLE] |= value
    elif off == 0x14:
        st[VIC_ENABLE] &= ~value & MASK32
    elif off == 0x18:
        st[VIC_SOFT] |= value
    elif off == 0x1C:
        st[VIC_SOFT] &= ~value & MASK32
    elif off == 0x30:                                # end of service
        if st[VIC_NSERV] > 0:
            st[VIC_NSERV] -= 1
    elif off == 0x34:
        st[VIC_DEFADDR] = value
    elif 0x100 <= off < 0x140:
        st[VIC_VADDR + ((off - 0x100) >> 2)] = value
    elif 0x200 <= off < 0x240:
        st[VIC_VCNTL + ((off - 0x200) >> 2)] = value
    if off in (0x0C, 0x10, 0x14, 0x18, 0x1C, 0x30):  # what is pending may have changed
        set_due(st)


class Vic:
    """The VIC as the engine sees it: a view of the state words ``st``. A new image
    gets a reset VIC (``Vic(st)`` clears it)."""

    def __init__(self, st):
        self.st = st
        st[VIC_SELECT:VIC_SERV + MAX_NESTING] = 0
        st[FIQ_DUE] = st[IRQ_DUE] = st[WATCH] = 0

    @property
    def lines(self):
        return int(self.st[VIC_LINES])

    @lines.setter
    def lines(self, value):
        self.st[VIC_LINES] = value

    def due(self):
        """Re-evaluate the due words; (FIQ pending, IRQ pending)."""
        set_due(self.st)
        return bool(self.st[WATCH] & F_BIT), bool(self.st[WATCH] & I_BIT)

    def irq_status(self):
        return int(irq_status(self.st))

    def fiq_status(self):
        return int(fiq_status(self.st))

    def irq_pending(self):
        return bool(irq_pending(self.st))

    def fiq_pending(self):
        return self.fiq_status() != 0

    def read(self, off):
        return int(read(self.st, off))

    def write(self, off, value):
        write(self.st, off, value)
