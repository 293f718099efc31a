"""Kernel side of the recording regions (format: regions.pack_recording_region).

Records are buffered in the kernel and written into SDRAM every FLUSH_TICKS
ticks and at PAUSE, so the host always finds complete records up to the pause.
The write pointer lives in the region header: the host reads
[data_offset, data_offset + write_offset) and may write 0 back to the pointer
(RECORDING_WRITE_OFFSET_BYTE) after extracting; the kernel re-reads it when the
run resumes, so nothing is lost or read twice. A full region drops whole
records and counts them in the header's overflow word.
"""
import numpy as np

from .fixed import to_s1615
from .regions import (REC_DATA_OFFSET, REC_HEADER_WORDS, REC_INTERVAL, REC_KIND,
                      REC_KIND_SPIKES, REC_N_RECORDED, REC_OVERFLOW, REC_WRITE_OFFSET,
                      REC_CAPACITY)

FLUSH_TICKS = 256


class RecordingChannel:
    def __init__(self, core, address):
        self.core = core
        self.addr = address
        self.n = 0
        self.pending = []
        if address:
            self.reload()

    def reload(self):
        self.pending = []
        if not self.addr:
            return
        h = np.frombuffer(self.core.read(self.addr, 4 * REC_HEADER_WORDS), dtype="<u4")
        self.capacity = int(h[REC_CAPACITY])
        self.offset = int(h[REC_WRITE_OFFSET])
        self.interval = max(1, int(h[REC_INTERVAL]))
        self.n = int(h[REC_N_RECORDED])
        self.kind = int(h[REC_KIND])
        self.overflow = int(h[REC_OVERFLOW])
        self.data_offset = int(h[REC_DATA_OFFSET])
        self.indices = np.frombuffer(self.core.read(self.addr + 4 * REC_HEADER_WORDS, 4 * self.n),
                                     dtype="<u4").astype(np.int64) if self.n else None
        nw = (self.n + 31) // 32
        self.record_words = 1 + (nw if self.kind == REC_KIND_SPIKES else self.n)

    @property
    def active(self):
        return self.n > 0

    def spikes(self, t, spiked):
        """spiked: bool array over the core's neurons, or spike counts: a neuron
        that sent k spikes in tick t is set in k records of tick t (sPyNNaker's
        Poisson source keeps one bitfield per spike of the tick the same way)."""
        spiked = np.asarray(spiked)
        counts = spiked[self.indices].astype(np.int64)
        top = int(counts.max()) if counts.size else 0
        for k in range(top):
            sel = counts > k
            rec = np.zeros(self.record_words, dtype="<u4")
            rec[0] = t
            bits = np.packbits(sel, bitorder="little")
            pad = np.zeros(4 * (self.record_words - 1), dtype=np.uint8)
            pad[:len(bits)] = bits
            rec[1:] = pad.view("<u4")
            self.pending.append(rec)

    def values(self, t, values):
        if t % self.interval:
            return
        rec = np.empty(self.record_words, dtype="<u4")
        rec[0] = t
        rec[1:] = to_s1615(np.asarray(values)[self.indices]).view("<u4")
        self.pending.append(rec)

    def flush(self):
        if not self.pending:
            return
        data = np.concatenate(self.pending)
        self.pending = []
        rec_bytes = 4 * self.record_words
        room = max(0, (self.capacity - self.offset) // rec_bytes)
        n = len(data) // self.record_words
        if n > room:
            self.overflow += n - room
            data = data[:room * self.record_words]
            self.core.write_word(self.addr + 4 * REC_OVERFLOW, self.overflow)
        if len(data):
            self.core.write(self.addr + self.data_offset + self.offset, data.tobytes())
            self.offset += 4 * len(data)
            self.core.write_word(self.addr + 4 * REC_WRITE_OFFSET, self.offset)
