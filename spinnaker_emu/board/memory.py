"""A chip's address space: SDRAM, System RAM, per-core TCMs, router and system
controller registers, boot ROM. Addresses follow the SpiNNaker memory map
(protocol/constants.py), including the aliases hosts use (0xF5.. for System
RAM, 0x7.. for SDRAM, 0xF1.. for the router).

SDRAM is an anonymous private mmap: 128 MiB of address space of which only the
pages written cost memory. Reads of unmapped space return zeros and writes to
it are dropped (counted), so no address a host sends can crash a chip.
"""
import ctypes
import mmap

from ..protocol import constants as C
from .sysctl import SystemController, SIZE as SYSCTL_SIZE

ITCM_SIZE = 0x8000
DTCM_SIZE = 0x10000


def _anonymous(size):
    """Zeroed memory at a fixed host address (the ARM engine maps it into unicorn)."""
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def host_address(buf):
    """The host address of an mmap buffer, for unicorn's mem_map_ptr."""
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


class ChipMemory:
    def __init__(self, router):
        self.sdram = _anonymous(C.SDRAM_SIZE)
        self.sysram = _anonymous(C.SYSRAM_SIZE)
        self.router = router
        self.itcm = {}
        self.dtcm = {}
        self.sysctl = SystemController()
        self.bad_accesses = 0

    def _tcm(self, table, size, core):
        buf = table.get(core)
        if buf is None:
            buf = table[core] = _anonymous(size)
        return buf

    def itcm_of(self, core):
        return self._tcm(self.itcm, ITCM_SIZE, core)

    def dtcm_of(self, core):
        return self._tcm(self.dtcm, DTCM_SIZE, core)

    def _region(self, address, core):
        """(buffer, offset, bytes available) for a plain-memory address, or None."""
        if C.SDRAM_BASE <= address < C.SDRAM_BASE + C.SDRAM_SIZE:
            off = address - C.SDRAM_BASE
            return self.sdram, off, C.SDRAM_SIZE - off
        if C.SDRAM_BASE_UNBUF <= address < C.SDRAM_BASE_UNBUF + C.SDRAM_SIZE:
            off = address - C.SDRAM_BASE_UNBUF
            return self.sdram, off, C.SDRAM_SIZE - off
        for base in (C.SYSRAM_BASE, C.SYSRAM_BASE_ALIAS):
            if base <= address < base + C.SYSRAM_SIZE:
                off = address - base
                return self.sysram, off, C.SYSRAM_SIZE - off
        if address < C.ITCM_BASE + ITCM_SIZE:
            return self.itcm_of(core), address, ITCM_SIZE - address
        if C.DTCM_BASE <= address < C.DTCM_BASE + DTCM_SIZE:
            off = address - C.DTCM_BASE
            return self.dtcm_of(core), off, DTCM_SIZE - off
        return None

    def _sysctl_offset(self, address):
        for base in (C.SYSCTL_BASE, C.SYSCTL_BASE_ALIAS):
            if base <= address < base + SYSCTL_SIZE:
                return address - base
        return None

    def _router_offset(self, address):
        for base in (C.ROUTER_BASE, C.ROUTER_BASE_ALIAS):
            if base <= address < base + 0x20000:
                return address - base
        return None

    def read(self, address, length, core=0):
        address &= 0xFFFFFFFF
        r = self._region(address, core)
        if r is not None:
            buf, off, avail = r
            n = min(length, avail)
            data = bytes(buf[off:off + n])
            if n < length:
                self.bad_accesses += 1
                data += bytes(length - n)
            return data
        off = self._router_offset(address)
        if off is not None:
            return self.router.read_registers(off, length)
        off = self._sysctl_offset(address)
        if off is not None:
            return self.sysctl.read_bytes(off, length)
        self.bad_accesses += 1
        return bytes(length)

    def write(self, address, data, core=0):
        address &= 0xFFFFFFFF
        r = self._region(address, core)
        if r is not None:
            buf, off, avail = r
            n = min(len(data), avail)
            buf[off:off + n] = data[:n]
            if n < len(data):
                self.bad_accesses += 1
            return
        off = self._router_offset(address)
        if off is not None:
            self.router.write_registers(off, bytes(data))
            return
        off = self._sysctl_offset(address)
        if off is not None and len(data) >= 4 and not off & 3:
            for i in range(0, len(data) - 3, 4):
                self.sysctl.write(off + i, int.from_bytes(data[i:i + 4], "little"))
            return
        self.bad_accesses += 1

    def copy(self, source, dest, length, core=0):
        """A DMA transfer: ``length`` bytes between plain-memory addresses. False
        (nothing copied) if either range is not wholly inside one memory."""
        src, dst = self._region(source & 0xFFFFFFFF, core), self._region(dest & 0xFFFFFFFF, core)
        if src is None or dst is None or src[2] < length or dst[2] < length:
            self.bad_accesses += 1
            return False
        dst[0][dst[1]:dst[1] + length] = src[0][src[1]:src[1] + length]
        return True

    def fill(self, address, word, nbytes, core=0):
        pattern = (word & 0xFFFFFFFF).to_bytes(4, "little")
        self.write(address, pattern * (nbytes // 4), core)

    # Convenience word access used by SC&MP handlers
    def read_word(self, address):
        return int.from_bytes(self.read(address, 4), "little")

    def read_word_of(self, core, address):
        """A word as ``core`` sees it (its own TCMs)."""
        return int.from_bytes(self.read(address, 4, core), "little")

    def write_word(self, address, value):
        self.write(address, (value & 0xFFFFFFFF).to_bytes(4, "little"))

    def sram_view(self):
        return self.sysram
