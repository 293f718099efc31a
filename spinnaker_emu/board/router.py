"""The multicast router of one chip: 1024 (key, mask, route) entries, the SC&MP
entry allocator and copy table, the fixed-route register, diagnostic counters
and the P2P table, all readable through the router's registers."""
import struct

from ..protocol import constants as C
from ..protocol.structs import RTR_ENTRY, sv_address

N = C.N_ROUTER_ENTRIES
ALLOC_FIRST, ALLOC_LAST = 1, N          # sark_alloc.c: entry 0 is SC&MP's; N is the copy's extra entry
# Diagnostic counter indices (SpiNNMan RouterDiagnostics order)
DIAG_LOC_MC, DIAG_EXT_MC, DIAG_LOC_PP, DIAG_EXT_PP, DIAG_LOC_NN, DIAG_EXT_NN, \
    DIAG_LOC_FR, DIAG_EXT_FR, DIAG_DUMP_MC, DIAG_DUMP_PP, DIAG_DUMP_NN, DIAG_DUMP_FR = range(12)


class Router:
    def __init__(self):
        self.keys = [0xFFFFFFFF] * N
        self.masks = [0] * N
        self.routes = [C.ROUTE_UNUSED] * N
        self.owner = [0] * N           # copy-table "free" half-word (0x8000|cpu<<8|app) or 0
        self._local = bytearray(16 * (N + 1))    # the copy table while there is no chip memory
        self._local_head = ALLOC_FIRST
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
        self._init_allocator()

    # ----------------------------------------------------------- copy table
    # sv->rtr_copy is SARK's rtr_entry_t[1025] {next, free, route, key, mask}: the
    # readable copy of the table (route, key, mask; "free" of a set entry is
    # 0x8000 | cpu << 8 | app_id, as rtr_mc_set writes it) and, in the first entry of
    # each block, the entry allocator's links (as sark_alloc.c keeps them): "next" is
    # where the next block starts, "free" the next free block (free blocks) or 0x8000 |
    # app_id (allocated ones); sv->rtr_free is the first free block. SC&MP here and
    # SARK on an ARM core (rtr_alloc_id, rtr_free) work on the same words.
    def _copy(self, i, length=16):
        if self.memory is not None and self.copy_base:
            return self.memory.read(self.copy_base + 16 * i, length)
        return bytes(self._local[16 * i:16 * i + length])

    def _put(self, i, offset, fmt, *values):
        data = struct.pack(fmt, *values)
        if self.memory is not None and self.copy_base:
            self.memory.write(self.copy_base + 16 * i + offset, data)
        else:
            self._local[16 * i + offset:16 * i + offset + len(data)] = data

    def _links(self, i):
        return struct.unpack("<HH", self._copy(i, 4))

    def _set_next(self, i, value):
        self._put(i, 0, "<H", value)

    def _set_free(self, i, value):
        self._put(i, 2, "<H", value)

    def _head(self):
        if self.memory is not None and self.copy_base:
            return struct.unpack("<H", self.memory.read(sv_address("rtr_free"), 2))[0]
        return self._local_head

    def _set_head(self, value):
        if self.memory is not None and self.copy_base:
            self.memory.write(sv_address("rtr_free"), struct.pack("<H", value))
        else:
            self._local_head = value

    def _sync_copy(self, i):
        """An entry set or cleared by SC&MP: its route, key, mask and owner in the copy
        (never "next", which belongs to the allocator)."""
        self._put(i, 2, "<HIII", self.owner[i], self.routes[i], self.keys[i], self.masks[i])

    def reset(self, system_route):
        """Initialise as SC&MP does at boot: entry 0 is SC&MP's signal route."""
        self.link_packets = [0] * 6
        self.diag_counters = [0] * 16
        for i in range(N):
            self.keys[i], self.masks[i], self.routes[i], self.owner[i] = 0xFFFFFFFF, 0, C.ROUTE_UNUSED, 0
        self.keys[0], self.masks[0], self.routes[0], self.owner[0] = 0xFFFF5554, 0xFFFFFFFE, system_route, 0x8000
        rec = RTR_ENTRY.pack(0, 0, C.ROUTE_UNUSED, 0xFFFFFFFF, 0)
        if self.memory is not None and self.copy_base:
            self.memory.write(self.copy_base, rec * (N + 1))
        else:
            self._local[:] = rec * (N + 1)
        self._sync_copy(0)
        self._init_allocator()

    def _init_allocator(self):
        """rtr_mc_init's allocator: one free block, entries 1..1023."""
        self._set_head(ALLOC_FIRST)
        self._set_next(ALLOC_FIRST, ALLOC_LAST)
        self._set_free(ALLOC_FIRST, 0)
        self._set_next(ALLOC_LAST, 0)
        self._set_free(ALLOC_LAST, 0)

    def clear_entries(self, first=1, count=N - 1):
        self.dirty = True
        for i in range(first, first + count):
            self.keys[i], self.masks[i], self.routes[i], self.owner[i] = 0xFFFFFFFF, 0, C.ROUTE_UNUSED, 0
            self._put(i, 4, "<III", C.ROUTE_UNUSED, 0xFFFFFFFF, 0)

    def set_entry(self, i, key, mask, route, app_id=0, cpu=0):
        self.dirty = True
        self.keys[i], self.masks[i] = key & 0xFFFFFFFF, mask & 0xFFFFFFFF
        self.routes[i] = route & 0x00FFFFFF
        self.owner[i] = 0x8000 | ((cpu & 0x1F) << 8) | (app_id & 0xFF)
        self._sync_copy(i)

    # ------------------------------------------------------------ allocator
    def blocks(self):
        """The allocated blocks: (first entry, size, app id)."""
        out = []
        block = ALLOC_FIRST
        for _ in range(N):
            nxt, free = self._links(block)
            if nxt == 0:
                break
            if free & 0x8000:
                out.append((block, nxt - block, free & 0xFF))
            block = nxt
        return out

    def largest_free(self):
        """rtr_alloc_max: the largest free block."""
        best, block = 0, self._head()
        for _ in range(N):
            if block == 0:
                break
            nxt, free = self._links(block)
            if nxt:
                best = max(best, nxt - block)
            block = free
        return best

    def alloc(self, count, app_id):
        """rtr_alloc_id: first fit over the free list. Returns the first index or 0."""
        if count < 1:
            return 0
        prev, block = 0, self._head()
        for _ in range(N):
            if block == 0:
                break
            nxt, free = self._links(block)
            end = block + count
            if end > nxt:                               # too small
                prev, block = block, free
                continue
            if end < nxt:                               # split off the rest
                self._set_next(end, nxt)
                self._set_next(block, end)
                self._set_free(end, free)
                free = end
            if prev:
                self._set_free(prev, free)
            else:
                self._set_head(free)
            self._set_free(block, 0x8000 | (app_id & 0xFF))
            return block
        return 0

    def free(self, first, clear):
        """rtr_free: give a block back (merging with free neighbours). True if it was one."""
        if not ALLOC_FIRST <= first < ALLOC_LAST or first not in {b[0] for b in self.blocks()}:
            return False
        if clear:
            self.clear_entries(first, self._links(first)[0] - first)
        prev, nxt = 0, self._head()
        for _ in range(N):
            if nxt == 0 or first < nxt:
                break
            prev, nxt = nxt, self._links(nxt)[1]
        self._set_free(first, nxt)
        if prev:
            self._set_free(prev, first)
        else:
            self._set_head(first)
        if nxt and self._links(first)[0] == nxt:
            after_next, after_free = self._links(nxt)
            self._set_next(first, after_next)
            self._set_free(first, after_free)
        if prev and self._links(prev)[0] == first:
            first_next, first_free = self._links(first)
            self._set_next(prev, first_next)
            self._set_free(prev, first_free)
        return True

    def free_app(self, app_id, clear=True):
        """rtr_free_id (the owner's cpu bits ignored), then the app's entries set outside
        its blocks. Returns the number of blocks freed."""
        n = 0
        for first, _size, app in self.blocks():
            if app == app_id & 0xFF:
                self.free(first, clear)
                n += 1
        for i in range(1, N):
            if self.owner[i] and (self.owner[i] & 0xFF) == app_id and clear:
                self.clear_entries(i, 1)
        return n

    def init_all(self):
        """RTR op 0: clear entries 1..1023 and reset the allocator."""
        self.clear_entries(1, N - 1)
        self._init_allocator()

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
