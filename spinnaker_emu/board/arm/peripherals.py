"""The per-core peripherals a spin1_api / SARK application touches that run in
Python: the two timers, at the offsets of spinnaker_tools' spinnaker.h, and the
VIC's interrupt sources. (The VIC, the DMA controller and the comms controller
are accessed at every interrupt, row fetch and packet: they run in native code,
vic.py, dma.py, comms.py.)

Each block is a small class with ``read(offset, now)`` / ``write(offset, value,
now)`` (``now`` is the core's virtual cycle count) and the interrupt lines it
drives. Nothing here knows about unicorn: ``cpu.py`` maps the blocks, ``engine.py``
gives them the chip's memory, router and fabric.
"""
# VIC interrupt sources (spinnaker.h vic_irq_e)
SOFTWARE_INT, TIMER1_INT, TIMER2_INT = 1, 4, 5
CC_RDY_INT, CC_TMT_INT, DMA_DONE_INT, DMA_ERR_INT = 6, 11, 12, 13
CPU_INT, CC_TNF_INT, CC_MC_INT, CC_P2P_INT, CC_NN_INT, CC_FR_INT = 18, 23, 24, 25, 26, 27

MASK32 = 0xFFFFFFFF


class Timer:
    """One SP804-style down counter on the core's virtual cycle clock. LOAD sets the
    reload value and restarts the count; BG_LOAD sets the reload value only."""

    def __init__(self):
        self.load = 0
        self.control = 0x20        # reset value: interrupt enabled, stopped
        self.raw = 0
        self.expiry = None         # cycle at which the count next reaches zero
        self.stopped_value = 0xFFFFFFFF

    @property
    def prescale(self):
        return (1, 16, 256, 256)[(self.control >> 2) & 3]

    @property
    def enabled(self):
        return bool(self.control & 0x80)

    def line(self):
        return bool(self.raw and self.control & 0x20)

    def count(self, now):
        if self.expiry is None:
            return self.stopped_value
        return max(0, (self.expiry - now) // self.prescale) & MASK32

    def _period(self):
        return self.load if self.control & 0x40 else 0xFFFFFFFF   # periodic or free running

    def advance(self, now):
        """Raise the interrupt for every expiry up to ``now`` and reload."""
        if self.expiry is None or self.expiry > now:
            return
        self.raw = 1
        if self.control & 1:                          # one shot: stops at zero
            self.stopped_value, self.expiry = 0, None
            return
        step = max(1, self._period()) * self.prescale
        missed = (now - self.expiry) // step          # a core that slept through periods
        self.expiry += (missed + 1) * step

    def read(self, off, now):
        if off in (0x00, 0x18):
            return self.load
        if off == 0x04:
            return self.count(now)
        if off == 0x08:
            return self.control
        if off == 0x10:
            return self.raw
        if off == 0x14:
            return int(self.line())
        return 0

    def write(self, off, value, now):
        if off == 0x00:
            self.load = value
            if self.enabled:
                self.expiry = now + max(1, value) * self.prescale
            else:
                self.stopped_value = value
        elif off == 0x08:
            was, current = self.enabled, self.count(now)
            self.control = value & 0xFF
            if self.enabled and not was:
                self.expiry = now + max(1, current) * self.prescale
            elif was and not self.enabled:
                self.stopped_value, self.expiry = current, None
        elif off == 0x0C:
            self.raw = 0
        elif off == 0x18:
            self.load = value


class Timers:
    def __init__(self):
        self.t = (Timer(), Timer())

    def read(self, off, now):
        return self.t[(off >> 5) & 1].read(off & 0x1F, now) if off < 0x40 else 0

    def write(self, off, value, now):
        if off < 0x40:
            self.t[(off >> 5) & 1].write(off & 0x1F, value, now)

    def advance(self, now):
        for t in self.t:
            t.advance(now)

    def next_event(self):
        times = [t.expiry for t in self.t if t.expiry is not None and t.control & 0x20]
        return min(times) if times else None

    def next_expiry(self):
        """The next time either running timer reaches zero, interrupt enabled or not."""
        times = [t.expiry for t in self.t if t.expiry is not None]
        return min(times) if times else None

    def lines(self):
        return (TIMER1_INT if self.t[0].line() else 0, TIMER2_INT if self.t[1].line() else 0)


def lines_mask(*numbers):
    m = 0
    for n in numbers:
        if n:
            m |= 1 << n
    return m
