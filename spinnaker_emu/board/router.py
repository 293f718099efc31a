"""The multicast router of one chip: 1024 (key, mask, route) entries, the SC&MP
entry allocator and copy table, the fixed-route register, diagnostic counters
and the P2P table, all readable through the router's registers."""
import struct

from ..protocol import constants as C
from ..protocol.structs import RTR_ENTRY

N = C.N_ROUTER_ENTRIES
# Diagnostic counter indices (SpiNNMan RouterDiagnostics order)
DIAG_LOC_MC, DIAG_EXT_MC, DIAG_LOC_PP, DIAG_EXT_PP, DIAG_LOC_NN, DIAG_EXT_NN, \
    DIAG_LOC_FR, DIAG_EXT_FR, DIAG_DUMP_MC, DIAG_DUMP_PP, DIAG_DUMP_NN, DIAG_DUMP_FR = range(12)


class Router:
    def __init__(self):
        self.keys = [0xFFFFFFFF] * N
        self.masks = [0] * N
        self.routes = [C.ROUTE_UNUSED] * N
        self.owner = [0] * N           # copy-table "free" half-word (0x8000|cpu<<8|app) or 0
        self.blocks = []               # allocated [start, size, app_id]
        self.fixed_route = 0
        self.control = 0
        self.error_status = 0
        self.diag_filters = [0] * 16
        self.diag_counters = [0] * 16
        self.p2p_words = b""
        self.memory = None             # ChipMemory, for the copy table in SDRAM
        self.copy_base = 0             # sv->rtr_copy
        self.link_packets = [0] * 6    # per-link multicast traffic
        self.dropped = 0
        self.dirty = False             # MC table changed since the chip last shared it

    # ----------------------------------------------------------- copy table
    def _sync_copy(self, i):
        if self.memory is None or not self.copy_base:
            return
        self.memory.write(self.copy_base + 16 * i,
                          RTR_ENTRY.pack(0, self.owner[i], self.routes[i], self.keys[i], self.masks[i]))

    def reset(self, system_route):
        """Initialise as SC&MP does at boot: entry 0 is SC&MP's signal route."""
        self.link_packets = [0] * 6
        self.diag_counters = [0] * 16
        for i in range(N):
            self.keys[i], self.masks[i], self.routes[i], self.owner[i] = 0xFFFFFFFF, 0, C.ROUTE_UNUSED, 0
        self.keys[0], self.masks[0], self.routes[0], self.owner[0] = 0xFFFF5554, 0xFFFFFFFE, system_route, 0x8000
        self.blocks = []
        if self.memory is not None and self.copy_base:
            rec = RTR_ENTRY.pack(0, 0, C.ROUTE_UNUSED, 0xFFFFFFFF, 0)
            self.memory.write(self.copy_base, rec * (N + 1))
            self._sync_copy(0)

    def clear_entries(self, first=1, count=N - 1):
        self.dirty = True
        for i in range(first, first + count):
            self.keys[i], self.masks[i], self.routes[i], self.owner[i] = 0xFFFFFFFF, 0, C.ROUTE_UNUSED, 0
            self._sync_copy(i)

    def set_entry(self, i, key, mask, route, app_id=0, cpu=0):
        self.dirty = True
        self.keys[i], self.masks[i] = key & 0xFFFFFFFF, mask & 0xFFFFFFFF
        self.routes[i] = route & 0x00FFFFFF
        self.owner[i] = 0x8000 | ((cpu & 0x1F) << 8) | (app_id & 0xFF)
        self._sync_copy(i)

    # ------------------------------------------------------------ allocator
    def _free_ranges(self):
        used = sorted((b[0], b[0] + b[1]) for b in self.blocks)
        start, out = 1, []
        for a, b in used:
            if a > start:
                out.append((start, a - start))
            start = max(start, b)
        if start < N:
            out.append((start, N - start))
        return out

    def largest_free(self):
        return max((size for _s, size in self._free_ranges()), default=0)

    def alloc(self, count, app_id):
        """First fit over entries 1..1023. Returns the first index or 0."""
        if count < 1:
            return 0
        for start, size in self._free_ranges():
            if size >= count:
                self.blocks.append([start, count, app_id])
                return start
        return 0

    def free(self, first, clear):
        for b in self.blocks:
            if b[0] == first:
                self.blocks.remove(b)
                if clear:
                    self.clear_entries(b[0], b[1])
                return True
        return False

    def free_app(self, app_id, clear=True):
        n = 0
        for b in list(self.blocks):
            if b[2] == app_id:
                self.blocks.remove(b)
                if clear:
                    self.clear_entries(b[0], b[1])
                n += 1
        # Entries loaded by this app outside allocated blocks are wiped too
        for i in range(1, N):
            if self.owner[i] and (self.owner[i] & 0xFF) == app_id and clear:
                self.clear_entries(i, 1)
        return n

    def init_all(self):
        """RTR op 0: clear entries 1..1023 and reset the allocator."""
        self.blocks = []
        self.clear_entries(1, N - 1)

    # ------------------------------------------------------------ routing
    def lookup(self, key):
        """Route word for ``key`` (first match wins, as in the CAM), or None."""
        for i in range(N):
            if self.routes[i] != C.ROUTE_UNUSED and (key & self.masks[i]) == self.keys[i]:
                return self.routes[i]
        return None

    # ------------------------------------------------------------ registers
    def read_registers(self, off, length):
        out = bytearray()
        pos = off
        while len(out) < length:
            word_off = pos & ~3
            word = self._reg(word_off)
            b = word.to_bytes(4, "little")
            start = pos - word_off
            take = min(4 - start, length - len(out))
            out += b[start:start + take]
            pos += take
        return bytes(out)

    def _reg(self, off):
        if off == C.RTR_CONTROL:
            return self.control
        if off == C.RTR_ERROR_STATUS:
            return self.error_status
        if off == C.RTR_FIXED_ROUTE:
            return self.fixed_route
        if C.RTR_DIAG_FILTERS <= off < C.RTR_DIAG_FILTERS + 64:
            return self.diag_filters[(off - C.RTR_DIAG_FILTERS) >> 2]
        if C.RTR_DIAG_COUNTERS <= off < C.RTR_DIAG_COUNTERS + 64:
            return self.diag_counters[(off - C.RTR_DIAG_COUNTERS) >> 2] & 0xFFFFFFFF
        if C.RTR_EMU_LINK_COUNTERS <= off < C.RTR_EMU_LINK_COUNTERS + 4 * C.RTR_EMU_LINK_WORDS:
            return self.link_packets[(off - C.RTR_EMU_LINK_COUNTERS) >> 2] & 0xFFFFFFFF
        if C.RTR_MC_ROUTES <= off < C.RTR_MC_ROUTES + 4 * N:
            r = self.routes[(off - C.RTR_MC_ROUTES) >> 2]
            return 0 if r == C.ROUTE_UNUSED else r
        if C.RTR_MC_KEYS <= off < C.RTR_MC_KEYS + 4 * N:
            return self.keys[(off - C.RTR_MC_KEYS) >> 2]
        if C.RTR_MC_MASKS <= off < C.RTR_MC_MASKS + 4 * N:
            return self.masks[(off - C.RTR_MC_MASKS) >> 2]
        if C.RTR_P2P_TABLE <= off < C.RTR_P2P_TABLE + 4 * C.P2P_TABLE_WORDS:
            i = (off - C.RTR_P2P_TABLE) >> 2
            return struct.unpack_from("<I", self.p2p_words, 4 * i)[0] if self.p2p_words else 0
        return 0

    def write_registers(self, off, data):
        n = len(data) // 4
        for k in range(n):
            self._write_reg(off + 4 * k, struct.unpack_from("<I", data, 4 * k)[0])

    def _write_reg(self, off, value):
        if off == C.RTR_CONTROL:
            self.control = value
        elif off == C.RTR_DIAG_CLEAR:
            for i in range(16):
                if value & (1 << i):
                    self.diag_counters[i] = 0
        elif off == C.RTR_FIXED_ROUTE:
            self.fixed_route = value & 0xFFFFFF
        elif C.RTR_DIAG_FILTERS <= off < C.RTR_DIAG_FILTERS + 64:
            self.diag_filters[(off - C.RTR_DIAG_FILTERS) >> 2] = value
        elif C.RTR_DIAG_COUNTERS <= off < C.RTR_DIAG_COUNTERS + 64:
            self.diag_counters[(off - C.RTR_DIAG_COUNTERS) >> 2] = value
        elif C.RTR_MC_ROUTES <= off < C.RTR_MC_ROUTES + 4 * N:
            self.dirty = True
            self.routes[(off - C.RTR_MC_ROUTES) >> 2] = value & 0xFFFFFF
        elif C.RTR_MC_KEYS <= off < C.RTR_MC_KEYS + 4 * N:
            self.dirty = True
            self.keys[(off - C.RTR_MC_KEYS) >> 2] = value
        elif C.RTR_MC_MASKS <= off < C.RTR_MC_MASKS + 4 * N:
            self.dirty = True
            self.masks[(off - C.RTR_MC_MASKS) >> 2] = value
        # P2P table and others: read-only here (SC&MP owns them)
