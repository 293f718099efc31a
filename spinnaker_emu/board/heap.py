"""SARK's heap allocator, kept in the chip's own memory so that tools that walk
the heap (SpiNNMan's get_heap) see real structures.

heap_t {free, first, last, free_bytes} at the heap base; every block has an
8-byte header {next, free}: for a free block ``free`` points to the next free
block (0 at the end), for an allocated one it is 0xFFFF0000 | app << 8 | tag.
The last block is a zero-size sentinel 8 bytes below the top.
"""
from ..protocol.structs import HEAP_T, BLOCK_T

ALLOCATED = 0xFFFF0000


class Heap:
    def __init__(self, memory, base, top):
        self.mem, self.base, self.top = memory, base, top
        first = base + HEAP_T.size
        last = top - BLOCK_T.size
        self._set_block(first, last, 0)
        self._set_block(last, 0, 0)
        self._set_heap(first, first, last, last - first - BLOCK_T.size)
        self.tags = {}                 # (app, tag) -> block address (header)

    # raw structure access
    def _heap(self):
        return HEAP_T.unpack(self.mem.read(self.base, HEAP_T.size))

    # Hosts can write anywhere, including over these structures: every value read
    # back is treated as untrusted (bounded walks, masked writes).
    def _set_heap(self, free, first, last, free_bytes):
        m = 0xFFFFFFFF
        self.mem.write(self.base, HEAP_T.pack(free & m, first & m, last & m, max(0, free_bytes) & m))

    def _block(self, addr):
        return BLOCK_T.unpack(self.mem.read(addr, BLOCK_T.size))

    def _set_block(self, addr, nxt, free):
        self.mem.write(addr, BLOCK_T.pack(nxt & 0xFFFFFFFF, free & 0xFFFFFFFF))

    def _inside(self, addr):
        return self.base <= addr < self.top

    def _free_list(self):
        """Addresses of free blocks in address order."""
        out = []
        addr = self._heap()[0]
        guard = 0
        while addr and self._inside(addr) and guard < 1 << 16:
            nxt = self._block(addr)[0]
            if not addr < nxt <= self.top:
                break                          # corrupted: stop at what is consistent
            out.append(addr)
            addr = self._block(addr)[1]
            guard += 1
        return out

    def _relink(self, free_blocks, free_bytes):
        free_blocks = sorted(free_blocks)
        for i, a in enumerate(free_blocks):
            nxt = self._block(a)[0]
            self._set_block(a, nxt, free_blocks[i + 1] if i + 1 < len(free_blocks) else 0)
        _f, first, last, _fb = self._heap()
        self._set_heap(free_blocks[0] if free_blocks else 0, first, last, free_bytes)

    # API
    def largest_free(self):
        return max((self._block(a)[0] - a - BLOCK_T.size for a in self._free_list()), default=0)

    def free_bytes(self):
        return self._heap()[3]

    def alloc(self, size, app_id=0, tag=0):
        """First fit; returns the usable address or 0. Sizes round up to words."""
        size = (max(size, 0) + 3) & ~3
        free = self._free_list()
        fb = self._heap()[3]
        for a in free:
            nxt = self._block(a)[0]
            avail = nxt - a - BLOCK_T.size
            if avail < size:
                continue
            free.remove(a)
            if avail - size >= 2 * BLOCK_T.size:   # split: the rest stays free
                rest = a + BLOCK_T.size + size
                self._set_block(rest, nxt, 0)
                free.append(rest)
                self._set_block(a, rest, ALLOCATED | ((app_id & 0xFF) << 8) | (tag & 0xFF))
                fb -= size + BLOCK_T.size
            else:
                self._set_block(a, nxt, ALLOCATED | ((app_id & 0xFF) << 8) | (tag & 0xFF))
                fb -= avail
            self._relink(free, fb)
            if tag:
                self.tags[(app_id & 0xFF, tag & 0xFF)] = a
            return a + BLOCK_T.size
        return 0

    def owner(self, address):
        """(app, tag) of the allocated block whose data starts at ``address``, or None."""
        if not self.base < address < self.top:
            return None
        _nxt, free = self._block(address - BLOCK_T.size)
        if (free & 0xFFFF0000) != ALLOCATED:
            return None
        return (free >> 8) & 0xFF, free & 0xFF

    def size_of(self, address):
        nxt, _free = self._block(address - BLOCK_T.size)
        return nxt - address

    def free(self, address):
        """Free the block at ``address``; merges with free neighbours. False if not allocated."""
        own = self.owner(address)
        if own is None or not self._is_block(address - BLOCK_T.size):
            return False
        blk = address - BLOCK_T.size
        self.tags = {k: v for k, v in self.tags.items() if v != blk}
        free = self._free_list()
        fb = self._heap()[3] + self.size_of(address)
        free.append(blk)
        self._set_block(blk, self._block(blk)[0], 0)
        # merge adjacent free blocks (a block absorbs its successor)
        free.sort()
        merged = []
        for a in free:
            if merged and self._block(merged[-1])[0] == a:
                self._set_block(merged[-1], self._block(a)[0], 0)
                fb += BLOCK_T.size
            else:
                merged.append(a)
        self._relink(merged, fb)
        return True

    def _is_block(self, blk):
        addr = self._heap()[1]
        guard = 0
        while addr and self._inside(addr) and guard < 1 << 16:
            if addr == blk:
                return True
            addr = self._block(addr)[0]
            guard += 1
        return False

    def blocks(self):
        """All blocks as (data address, size, app or None, tag)."""
        out = []
        addr = self._heap()[1]
        guard = 0
        while addr and self._inside(addr) and guard < 1 << 16:
            nxt, free = self._block(addr)
            if not addr < nxt <= self.top:
                break
            if (free & 0xFFFF0000) == ALLOCATED:
                out.append((addr + BLOCK_T.size, nxt - addr - BLOCK_T.size, (free >> 8) & 0xFF, free & 0xFF))
            else:
                out.append((addr + BLOCK_T.size, nxt - addr - BLOCK_T.size, None, 0))
            addr = nxt
            guard += 1
        return out

    def free_app(self, app_id):
        n = 0
        for addr, _size, app, _tag in self.blocks():
            if app == app_id:
                self.free(addr)
                n += 1
        return n

    def tagged(self, app_id, tag):
        blk = self.tags.get((app_id & 0xFF, tag & 0xFF))
        return blk + BLOCK_T.size if blk else 0
