"""Memory, SDRAM allocation, user words and IOBUF (the memory part of
host/transceiver.Transceiver): over the bulk channel when the board has one and the
transfer is larger than one SCP packet, else pipelined SCP."""
import struct

from ..protocol import constants as C
from ..protocol import words as W
from ..protocol.constants import SCPCommand as CMD
from ..protocol.structs import vcpu_address
from .progress import make as make_progress
from .tx_model import TransceiverError, norm_cores

BULK_THRESHOLD = C.SDP_BUF_SIZE       # more than one SCP packet: use the bulk channel


class MemoryMixin:
    def _bar(self, label, total):
        return make_progress(label, total, self.progress)

    def read_memory(self, x, y, address, length, p=0):
        if length <= 0:
            return b""
        bar = self._bar("read %d,%d" % (x, y), length)
        try:
            if self.bulk is not None and length > BULK_THRESHOLD:
                return bytes(self.bulk.read([(x, y, p, address, length)], bar)[0])
            return self.conn.read(x, y, address, length, p, self.window, bar)
        finally:
            if bar:
                bar.finish()

    def write_memory(self, x, y, address, data, p=0):
        if not len(data):
            return
        bar = self._bar("write %d,%d" % (x, y), len(data))
        try:
            if self.bulk is not None and len(data) > BULK_THRESHOLD:
                self.bulk.write([(x, y, p, address, data)], bar)
            else:
                self.conn.write(x, y, address, data, p, self.window, bar)
        finally:
            if bar:
                bar.finish()

    def read_memory_many(self, regions, p=0):
        """Read [(x, y, address, length)...] with every chip busy at once; list of bytes."""
        regions = [tuple(r) for r in regions]
        total = sum(r[3] for r in regions)
        bar = self._bar("read %d regions" % len(regions), total)
        try:
            if self.bulk is not None:
                return [bytes(b) for b in self.bulk.read([(x, y, p, a, n) for (x, y, a, n) in regions], bar)]
            return self.conn.read_many(regions, p, self.window, bar)
        finally:
            if bar:
                bar.finish()

    def write_memory_many(self, regions, p=0):
        """Write [(x, y, address, data)...] with every chip busy at once."""
        regions = [tuple(r) for r in regions]
        total = sum(len(r[3]) for r in regions)
        bar = self._bar("write %d regions" % len(regions), total)
        try:
            if self.bulk is not None:
                self.bulk.write([(x, y, p, a, d) for (x, y, a, d) in regions], bar)
            else:
                self.conn.write_many(regions, p, self.window, bar)
        finally:
            if bar:
                bar.finish()

    def read_word(self, x, y, address, p=0):
        return self.conn.read_word(x, y, address, p)

    def write_word(self, x, y, address, value, p=0):
        self.conn.write_word(x, y, address, value, p)

    def fill_memory(self, x, y, address, word, length):
        """CMD_FILL: ``length`` bytes (multiple of 4) of the 32-bit ``word``."""
        self.conn.send(x, y, 0, CMD.FILL, (address, word & 0xFFFFFFFF, length))

    def read_user(self, x, y, p, n):
        return self.read_word(x, y, vcpu_address(p, "user%d" % n))

    def write_user(self, x, y, p, n, value):
        self.write_word(x, y, vcpu_address(p, "user%d" % n), value)

    def malloc_sdram(self, x, y, size, app_id, tag=0):
        """Allocate from the chip's SDRAM heap (SpiNNMan's form: tag retry flag set)."""
        a1 = W.pack_alloc_arg(C.ALLOC_SDRAM, app_id, C.ALLOC_FLAG_TAG_RETRY)
        _rc, p, _h = self.conn.send(x, y, 0, CMD.ALLOC, (a1, size, tag))
        addr = struct.unpack_from("<I", p)[0] if len(p) >= 4 else 0
        if not addr:
            raise TransceiverError("chip %d,%d: cannot allocate %d bytes of SDRAM for app %d%s"
                                   % (x, y, size, app_id, " (tag %d)" % tag if tag else ""))
        return addr

    def free_sdram(self, x, y, address):
        self.conn.send(x, y, 0, CMD.ALLOC, (C.FREE_SDRAM, address))

    def free_sdram_by_app(self, x, y, app_id):
        _rc, p, _h = self.conn.send(x, y, 0, CMD.ALLOC, (W.pack_alloc_arg(C.FREE_SDRAM_ID, app_id),))
        return struct.unpack_from("<I", p)[0] if len(p) >= 4 else 0

    def get_iobuf(self, cores):
        """{(x, y, p): IOBUF text} for [(x, y, p)...] or {(x, y): cores} (SCPConnection.iobufs,
        the text over the bulk channel when the board has one)."""
        targets = norm_cores(cores)
        sizes = {(x, y): self.sv_value(x, y, "iobuf_size") for (x, y) in targets}
        return self.conn.iobufs([(x, y, p) for (x, y), ps in sorted(targets.items()) for p in ps], sizes,
                                self.read_memory_many, self.window)
