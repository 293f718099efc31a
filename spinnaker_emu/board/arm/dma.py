"""The DMA controller of one core, kept in the core's state words (cycles.py) and
run by native code like the VIC (vic.py): its registers are served by ``read``
and ``write`` below through native.mmio_read/mmio_write. A descriptor write does
the whole transfer at once, SDRAM or System RAM to or from the core's TCM, with
the chip's memory copied in place (the host addresses of the buffers are state
words), raises the done line in the VIC and
re-evaluates the due interrupts. sPyNNaker fetches one synaptic row per incoming
spike this way, so a transfer must cost no Python.

What Python still needs comes through state words and is read after the slice:
transfers that failed (to log them) and, for a traced core, the transfers done
(to trace them).
"""
import numpy as np
from numba import njit, types

from ...protocol import constants as C
from ..memory import ITCM_SIZE, DTCM_SIZE
from .cycles import (COUNT, TRACED, VIC_LINES, DMA_ADRS, DMA_ADRT, DMA_DESC, DMA_DONE,
                     DMA_ERRORS, DMA_GCTL, DMA_TRANSFERS, DMA_PHYS, PTR_SDRAM, PTR_SYSRAM, PTR_ITCM, PTR_DTCM,
                     DMA_FAILED, DMA_FAIL, DMA_LOGGED, DMA_LOG, DMA_LOG_LEN)
from .peripherals import DMA_DONE_INT, DMA_ERR_INT
from .vic import set_due

DMA_LINES = (1 << DMA_DONE_INT) | (1 << DMA_ERR_INT)
MASK32 = 0xFFFFFFFF

memmove = types.ExternalFunction("memmove", types.uint64(types.uint64, types.uint64, types.uint64))


@njit(cache=True)
def _host(st, address, length):
    """The host address of ``length`` bytes of plain memory at ``address`` as this core
    sees it, or 0 if they are not wholly inside one memory."""
    if C.SDRAM_BASE <= address < C.SDRAM_BASE + C.SDRAM_SIZE:
        off, size, ptr = address - C.SDRAM_BASE, C.SDRAM_SIZE, st[PTR_SDRAM]
    elif C.SDRAM_BASE_UNBUF <= address < C.SDRAM_BASE_UNBUF + C.SDRAM_SIZE:
        off, size, ptr = address - C.SDRAM_BASE_UNBUF, C.SDRAM_SIZE, st[PTR_SDRAM]
    elif C.SYSRAM_BASE <= address < C.SYSRAM_BASE + C.SYSRAM_SIZE:
        off, size, ptr = address - C.SYSRAM_BASE, C.SYSRAM_SIZE, st[PTR_SYSRAM]
    elif C.SYSRAM_BASE_ALIAS <= address < C.SYSRAM_BASE_ALIAS + C.SYSRAM_SIZE:
        off, size, ptr = address - C.SYSRAM_BASE_ALIAS, C.SYSRAM_SIZE, st[PTR_SYSRAM]
    elif C.ITCM_BASE <= address < C.ITCM_BASE + ITCM_SIZE:
        off, size, ptr = address - C.ITCM_BASE, ITCM_SIZE, st[PTR_ITCM]
    elif C.DTCM_BASE <= address < C.DTCM_BASE + DTCM_SIZE:
        off, size, ptr = address - C.DTCM_BASE, DTCM_SIZE, st[PTR_DTCM]
    else:
        return 0
    if size - off < length:
        return 0
    return ptr + off


@njit(cache=True)
def update_lines(st):
    """The DMA's share of the VIC's lines, and what is due after it."""
    lines = st[VIC_LINES] & ~DMA_LINES
    if st[DMA_DONE] and st[DMA_GCTL] & (1 << 10):
        lines |= 1 << DMA_DONE_INT
    if st[DMA_ERRORS] and st[DMA_GCTL] & (1 << 13):
        lines |= 1 << DMA_ERR_INT
    st[VIC_LINES] = lines
    set_due(st)


@njit(cache=True)
def _transfer(st, desc):
    length = desc & 0x1FFFF
    to_system = (desc >> 19) & 1                     # 1: TCM -> system memory
    system, tcm = st[DMA_ADRS] & MASK32, st[DMA_ADRT] & MASK32
    if length:
        src = _host(st, tcm if to_system else system, length)
        dst = _host(st, system if to_system else tcm, length)
        if src == 0 or dst == 0:
            st[DMA_ERRORS] += 1
            st[DMA_FAILED] += 1                      # Python logs it after the slice
            st[DMA_FAIL] = desc
            st[DMA_FAIL + 1] = system
            st[DMA_FAIL + 2] = tcm
            return
        memmove(np.uint64(dst), np.uint64(src), np.uint64(length))
    st[DMA_TRANSFERS] += 1
    st[DMA_DONE] += 1
    if st[TRACED]:
        n = st[DMA_LOGGED]
        if n < DMA_LOG_LEN:
            base = DMA_LOG + 4 * n
            st[base] = st[COUNT]
            st[base + 1] = desc
            st[base + 2] = system
            st[base + 3] = tcm
            st[DMA_LOGGED] = n + 1


@njit(cache=True)
def read(st, off):
    if off == 0x04:
        return st[DMA_ADRS]
    if off == 0x08:
        return st[DMA_ADRT]
    if off == 0x0C:
        return st[DMA_DESC]
    if off == 0x14:      # STAT: physical core id in the top byte (sark_init reads it)
        return (st[DMA_PHYS] << 24) | ((1 << 10) if st[DMA_DONE] else 0) | ((1 << 13) if st[DMA_ERRORS] else 0)
    if off == 0x18:
        return st[DMA_GCTL]
    if off == 0x40:
        return st[DMA_TRANSFERS] & MASK32
    return 0


@njit(cache=True)
def write(st, off, value):
    value &= MASK32
    if off == 0x04:
        st[DMA_ADRS] = value
    elif off == 0x08:
        st[DMA_ADRT] = value
    elif off == 0x0C:
        st[DMA_DESC] = value
        _transfer(st, value)
        update_lines(st)
    elif off == 0x10:
        if value & 1:                      # abort
            st[DMA_DONE] = 0
        if value & 8 and st[DMA_DONE] > 0:  # clear "transfer done"
            st[DMA_DONE] -= 1
        if value & 4:                      # clear error / restart
            st[DMA_ERRORS] = 0
        update_lines(st)
    elif off == 0x18:
        st[DMA_GCTL] = value
        update_lines(st)


class Dma:
    """The DMA controller as the engine sees it: a view of the state words ``st``,
    reset for a new image, with the memories it copies between."""

    def __init__(self, st, phys_cpu, sdram, sysram, itcm, dtcm):
        self.st = st
        st[DMA_ADRS:DMA_LOG + 4 * DMA_LOG_LEN] = 0
        st[DMA_PHYS] = phys_cpu
        st[PTR_SDRAM], st[PTR_SYSRAM], st[PTR_ITCM], st[PTR_DTCM] = sdram, sysram, itcm, dtcm

    def read(self, off):
        return int(read(self.st, off))

    def write(self, off, value):
        write(self.st, off, value)

    def failures(self):
        """(transfers that failed since the last call, (descriptor, system address, TCM
        address) of the last of them or None)."""
        st = self.st
        n = int(st[DMA_FAILED])
        if not n:
            return 0, None
        st[DMA_FAILED] = 0
        return n, (int(st[DMA_FAIL]), int(st[DMA_FAIL + 1]), int(st[DMA_FAIL + 2]))

    def transfers_logged(self):
        """[(cycle in its slice, descriptor, system address, TCM address)] a traced core
        did since the last call."""
        st = self.st
        n = int(st[DMA_LOGGED])
        st[DMA_LOGGED] = 0
        return [tuple(int(x) for x in st[DMA_LOG + 4 * i:DMA_LOG + 4 * i + 4]) for i in range(n)]
