"""Small timer-driven apps for testing the multicast fabric and run control.

All read their configuration through the region table (user0): region 0 is the
system region (apps/regions.py), region 1 is app specific:

- ``mc_source``: [n, (tick, key) * n] sorted by tick; sends each key at its tick.
- ``mc_relay``:  [n, (in_key, in_mask, out_base) * n]; a packet matching a rule is
  sent on at the next tick as out_base | (key & ~in_mask).
- ``mc_counter``: a recording region [capacity, count, (tick, key) * capacity]: every
  packet received, with the tick in which the core processed it (the sender's tick
  + 1 in lockstep). Recording continues across pause/resume; entries past the
  capacity are counted (count keeps growing) but not stored.
"""
import struct

import numpy as np

from .kernels import Kernel, kernel
from .regions import read_region_table, read_system_region


class TimerApp(Kernel):
    n_regions = 2

    def start(self):
        self.regions = read_region_table(self.core, self.n_regions)
        period, n_ticks, scale = read_system_region(self.core, self.regions[0])
        prov = struct.unpack("<I", self.core.read(self.regions[0] + 12, 4))[0]
        self.configure(self.regions[1])
        self.core.start_simulation(period, n_ticks, sync_wait=True, time_scale=scale,
                                   provenance_address=prov)

    def configure(self, address):
        pass


@kernel("mc_source")
class SourceApp(TimerApp):
    def configure(self, address):
        n = struct.unpack("<I", self.core.read(address, 4))[0]
        pairs = np.frombuffer(self.core.read(address + 4, 8 * n), dtype="<u4").reshape(n, 2)
        self.ticks, self.keys = pairs[:, 0].copy(), pairs[:, 1].copy()

    def tick(self, t):
        lo, hi = np.searchsorted(self.ticks, [t, t + 1])
        if hi > lo:
            self.core.send_mc(self.keys[lo:hi])


@kernel("mc_relay")
class RelayApp(TimerApp):
    def configure(self, address):
        n = struct.unpack("<I", self.core.read(address, 4))[0]
        self.rules = [struct.unpack_from("<III", self.core.read(address + 4 + 12 * i, 12)) for i in range(n)]
        self.pending = []

    def receive(self, packets):
        for _t, keys, _p in packets:
            for k in keys.tolist():
                for in_key, in_mask, out_base in self.rules:
                    if k & in_mask == in_key:
                        self.pending.append(out_base | (k & ~in_mask & 0xFFFFFFFF))
                        break

    def tick(self, t):
        if self.pending:
            self.core.send_mc(self.pending)
            self.pending = []


@kernel("mc_counter")
class CounterApp(TimerApp):
    def configure(self, address):
        self.base = address
        self.capacity, self.count = struct.unpack("<II", self.core.read(address, 8))

    def receive(self, packets):
        t = self.core.sim_tick
        rows = []
        for _sent, keys, _p in packets:
            for k in keys.tolist():
                if self.count + len(rows) < self.capacity:
                    rows.append((t, k))
                else:
                    rows.append(None)
        stored = [r for r in rows if r is not None]
        if stored:
            data = np.array(stored, dtype="<u4").tobytes()
            self.core.write(self.base + 8 + 8 * self.count, data)
        self.count += len(rows)
        self.core.write_word(self.base + 4, self.count)


@kernel("sdp_echo")
class EchoApp(Kernel):
    """Live I/O in miniature: every SDP message delivered to this core (e.g. EIEIO
    arriving through a reverse IP tag) is sent back out through IP tag ``user1``."""

    def start(self):
        self.tag = self.core.user(1)
        self.core.set_state("RUN")

    def on_sdp(self, sdp):
        self.core.send_sdp(self.tag, sdp[8:])
