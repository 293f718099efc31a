"""A chip's address space: SDRAM, System RAM, per-core TCMs, router and system
controller registers, boot ROM. Addresses follow the SpiNNaker memory map
(protocol/constants.py), including the aliases hosts use (0xF5.. for System
RAM, 0x7.. for SDRAM, 0xF1.. for the router).

SDRAM is an anonymous private mmap: 128 MiB of address space of which only the
pages written cost memory. Reads of unmapped space return zeros and writes to
it are dropped (counted), so no address a host sends can crash a chip.
"""
import mmap

from ..protocol import constants as C


class ChipMemory:
    def __init__(self, router):
        self.sdram = mmap.mmap(-1, C.SDRAM_SIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.sysram = bytearray(C.SYSRAM_SIZE)
        self.router = router
        self.itcm = {}
        self.dtcm = {}
        self.sysctl = bytearray(0x100)
        self.bad_accesses = 0

    def _tcm(self, table, size, core):
        buf = table.get(core)
        if buf is None:
            buf = table[core] = bytearray(size)
        return buf

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
        if address < C.ITCM_BASE + 0x8000:
            return self._tcm(self.itcm, 0x8000, core), address, 0x8000 - address
        if C.DTCM_BASE <= address < C.DTCM_BASE + 0x10000:
            off = address - C.DTCM_BASE
            return self._tcm(self.dtcm, 0x10000, core), off, 0x10000 - off
        for base in (C.SYSCTL_BASE, C.SYSCTL_BASE_ALIAS):
            if base <= address < base + len(self.sysctl):
                off = address - base
                return self.sysctl, off, len(self.sysctl) - off
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
        self.bad_accesses += 1

    def fill(self, address, word, nbytes, core=0):
        pattern = (word & 0xFFFFFFFF).to_bytes(4, "little")
        self.write(address, pattern * (nbytes // 4), core)

    # Convenience word access used by SC&MP handlers
    def read_word(self, address):
        return int.from_bytes(self.read(address, 4), "little")

    def write_word(self, address, value):
        self.write(address, (value & 0xFFFFFFFF).to_bytes(4, "little"))

    def sram_view(self):
        return self.sysram
