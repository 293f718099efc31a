"""The chip's system controller (spinnaker.h SC_*), shared by all 18 cores:
CPU interrupt lines (SET_IRQ / CLR_IRQ, each core's CPU_INT), the SYNC flag
word SC_FLAG (SETFLAG / CLRFLAG), the monitor's id, and the 32 test-and-set
locks SARK uses (a read of TAS[n] returns the old value and sets it; a read of
TAC[n] clears it). Reads of other registers give their last written value.

The CPU_INT lines live in a one-word array so that the ARM cores' native run loop
reads them where they are (``irq_address``), not a copy."""
import numpy as np

SC_CODE_MASK = 0xFFFC0000          # writes carry SC_CODE (0x5ec00000) in the top bits
CHIP_ID_VALUE = 0x59111000         # "Spinnaker 1" chip id register

CHIP_ID, CPU_DIS, SET_IRQ, CLR_IRQ, SET_OK, CLR_OK = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x14
MON_ID, FLAG, CLRFLAG = 0x34, 0x58, 0x5C
TAS_BASE, TAC_BASE, N_LOCKS = 0x100, 0x180, 32
SIZE = 0x1000


class SystemController:
    def __init__(self):
        self._irq = np.zeros(1, dtype=np.int64)   # physical cores whose CPU_INT is raised
        self.irq_address = self._irq.ctypes.data
        self.flag = 0
        self.monitor = 0
        self.locks = [0] * N_LOCKS
        self.regs = {}
        self.on_irq = None            # callback(mask of newly raised cores)

    @property
    def irq(self):
        return int(self._irq[0])

    @irq.setter
    def irq(self, value):
        self._irq[0] = value

    def raise_irq(self, mask):
        new = mask & ~self.irq
        self.irq |= mask
        if new and self.on_irq is not None:
            self.on_irq(new)

    def read(self, off):
        if off == CHIP_ID:
            return CHIP_ID_VALUE
        if off == SET_IRQ or off == CLR_IRQ:
            return self.irq
        if off == MON_ID:
            return self.monitor
        if off == FLAG:
            return self.flag
        if TAS_BASE <= off < TAS_BASE + 4 * N_LOCKS:
            n = (off - TAS_BASE) >> 2
            old = self.locks[n]
            self.locks[n] = 0x80000000
            return old
        if TAC_BASE <= off < TAC_BASE + 4 * N_LOCKS:
            n = (off - TAC_BASE) >> 2
            old = self.locks[n]
            self.locks[n] = 0
            return old
        return self.regs.get(off, 0)

    def write(self, off, value):
        value &= 0xFFFFFFFF
        if off == SET_IRQ:
            self.raise_irq(value & ~SC_CODE_MASK)
        elif off == CLR_IRQ:
            self.irq &= ~(value & ~SC_CODE_MASK)
        elif off == FLAG:
            self.flag |= value
        elif off == CLRFLAG:
            self.flag &= ~value
        elif off == MON_ID:
            self.monitor = value & 0x1F
        else:
            self.regs[off] = value

    def lock_held(self, n):
        return bool(self.locks[n])

    # byte-level access for SCP READ/WRITE of the register block
    def read_bytes(self, off, n):
        out = bytearray()
        for a in range(off & ~3, off + n, 4):
            out += self.regs.get(a, 0).to_bytes(4, "little") if a >= TAS_BASE else \
                self.read(a).to_bytes(4, "little")
        start = off & 3
        return bytes(out[start:start + n])
