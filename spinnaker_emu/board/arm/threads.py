"""A chip's ARM cores on two host threads.

sPyNNaker puts a whole network on chip 0,0 when it fits, and a chip is one host
process: its cores took turns on one host CPU while the machine's other CPU idled.
Since a quantum of a core runs entirely in native code without the GIL
(core_loop.run_cores), the cores can be split in two shares, one run by the chip's
own thread and one by a worker thread, at the same time.

What that changes: within a quantum the two shares run concurrently rather than
one core after another, so packets from one share to the other are delivered at the
quantum's end (local_routes.deliver), like packets from another chip, and SDRAM
that cores of both shares touch in the same quantum sees their accesses
interleaved as on hardware, in an order that depends on the host. A run is
therefore exactly repeatable only single-threaded: threads are used only when the
chip is paced by the wall clock (the default); SPINNAKER_EMU_ARM_PACE=free (lockstep)
and SPINNAKER_EMU_ARM_THREADS=1 keep one thread.

When: at least two running cores, enough work to pay for the hand-off between
threads (on average at least half a core busy, in virtual cycles, over the last
REBALANCE quanta), a split where the lighter share has at least MIN_SHARE of it,
and a host CPU to spare: the host's CPUs were idle for at least SPARE_CPU (MIN_SPARE
while the worker runs, whose own time counts as spare) since the last look. Two
threads that must meet every quantum on a host whose CPUs are all busy wait for each
other's turn on them, and ran slower than one (bench/arm_threads.py at load 5.7:
4.3 and 5.0 s against 3.9 and 3.4 s). The shares are rebalanced every REBALANCE quanta from each core's busy cycles
(largest first into the lighter share), each share kept in core order.
"""
import os
import threading
import time

import numpy as np
from numba import carray, njit, types

from . import core_loop, cycles
from .local_routes import RECEIVED
from .pointer import pointer
from ...protocol.constants import N_CORES

REBALANCE = 64                   # quanta between looks at the cores' load
MIN_BUSY = 0.5                   # cores' busy cycles per quantum cycle worth a second thread
MIN_SHARE = 0.25                 # of the busy cycles, for the lighter share
WAIT_S = 30.0                    # a worker that does not finish a quantum in this is broken
SPARE_CPU = 0.7                  # idle host CPUs (averaged) to start a second thread
MIN_SPARE = 0.5                  # idle CPUs plus the worker's own, to keep it


def threads_from_env():
    """SPINNAKER_EMU_ARM_THREADS: "1" one thread; "2" two, whatever the pacing (then
    even a lockstep run is not exactly repeatable); unset: two when paced by the wall
    clock."""
    v = os.environ.get("SPINNAKER_EMU_ARM_THREADS", "").strip()
    return {"1": 1, "2": 2}.get(v)


class Share:
    """Some of a chip's running cores, as the native quantum wants them."""

    def __init__(self, order, all_targets):
        self.order = order
        self.uchs = np.array([a.cpu.uch for a in order], dtype=np.int64)
        self.states = np.array([a.st.ctypes.data for a in order], dtype=np.int64)
        self.targets = np.zeros(N_CORES, dtype=np.int64)
        for a in order:
            self.targets[a.p] = all_targets[a.p]      # packets to the other share wait
        self.counts = np.zeros(RECEIVED + N_CORES, dtype=np.int64)


class CoreThreads:
    def __init__(self, engine):
        self.engine = engine
        wanted = threads_from_env()
        self.enabled = wanted == 2 or (wanted is None and engine.pacer.pace is not None)
        self.key = None                # (cores, targets) the shares were made for
        self.pair = None               # (mine, theirs) or None: one thread
        self.quanta = 0
        self.busy0 = {}
        self.idle0 = None              # (host idle CPU seconds, worker CPU seconds, wall) at the last look
        self.thread = None
        self.wakeup = threading.Event()
        self.ctrl = np.zeros(14, dtype=np.int64)
        self.job = None

    def shares(self, order, states):
        """(mine, theirs) for this quantum, or None to run all cores on this thread."""
        if not self.enabled or len(order) < 2:
            return None
        targets = self.engine.local_routes.targets
        key = (tuple(a.p for a in order), targets.tobytes())
        self.quanta += 1
        if key != self.key or self.quanta >= REBALANCE:
            self._split(order, targets, key)
        return self.pair

    def _split(self, order, targets, key):
        quanta, self.quanta = self.quanta, 0
        busy = {}
        for a in order:
            now = int(a.st[cycles.BUSY])
            busy[a.p] = max(0, now - self.busy0.get(a.p, now))
            self.busy0[a.p] = now
        total = sum(busy.values())
        window = max(1, quanta) * self.engine.quantum_length
        if key != self.key:            # new cores or routes: measure afresh, one thread meanwhile
            self.key, self.pair = key, None
            return
        if total < MIN_BUSY * window:
            self.pair = None
            return
        if not self._cpu_to_spare():
            self.pair = None
            return
        bins = ([], [])
        load = [0, 0]
        for a in sorted(order, key=lambda a: -busy[a.p]):
            k = 0 if load[0] <= load[1] else 1
            bins[k].append(a)
            load[k] += busy[a.p]
        if min(load) < MIN_SHARE * total:
            self.pair = None
            return
        mine, theirs = (sorted(b, key=lambda a: a.p) for b in bins)
        self.pair = (Share(mine, targets), Share(theirs, targets))

    def _cpu_to_spare(self):
        """Whether the host had a CPU to spare since the last look (see the module's
        docstring)."""
        now = (_host_idle_s(), self._worker_cpu(), time.monotonic())
        last, self.idle0 = self.idle0, now
        if last is None or now[2] <= last[2]:
            return False
        wall = now[2] - last[2]
        idle = (now[0] - last[0]) / wall
        if self.pair is None:
            return idle >= SPARE_CPU
        return idle + (now[1] - last[1]) / wall >= MIN_SPARE

    def _worker_cpu(self):
        if self.thread is None or self.thread.native_id is None:
            return 0.0
        try:
            with open("/proc/self/task/%d/stat" % self.thread.native_id) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    # ------------------------------------------------------------ the worker
    def start(self, share, now, horizon, table):
        """Hand ``share``'s quantum to the worker thread (native, no GIL, ~1 us)."""
        c = self.ctrl
        self.job = (share, table)      # keeps the arrays alive while the worker uses them
        c[UCHS], c[STATES], c[N] = share.uchs.ctypes.data, share.states.ctypes.data, len(share.order)
        c[TARGETS], c[COUNTS] = share.targets.ctypes.data, share.counts.ctypes.data
        c[TABLE], c[ROWS] = table.ctypes.data, table.shape[0]
        c[NOW], c[HORIZON] = now, horizon
        c[GO] += 1
        if self.thread is None:
            self.thread = threading.Thread(target=self._work, name="arm-cores", daemon=True)
            self.thread.start()
        if not c[LIVE]:
            self.wakeup.set()

    def wait(self):
        """The worker's (index, exit) for its share, as core_loop.run_cores returns it."""
        c = self.ctrl
        deadline = time.monotonic() + WAIT_S
        while not wait_done(c):
            if not c[LIVE]:
                self.wakeup.set()      # it went to sleep just as the quantum came
            if time.monotonic() > deadline:
                raise RuntimeError("the ARM engine's worker thread did not finish its quantum")
        return int(c[RES_I]), int(c[RES_WHY])

    def _work(self):
        c = self.ctrl
        while True:
            self.wakeup.wait()
            self.wakeup.clear()
            c[LIVE] = 1
            serve(c)                   # returns after a while with nothing to do


def _host_idle_s():
    """Seconds all the host's CPUs were idle since boot (/proc/stat: idle + iowait)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


# The worker's control words: quanta asked for and done, then the job (addresses of the
# share's arrays and the chip's table, its length, the quantum), the result, and whether
# the worker is inside serve()
GO, DONE, UCHS, STATES, N, TARGETS, COUNTS, TABLE, ROWS, NOW, HORIZON, RES_I, RES_WHY, LIVE = range(14)
SPIN = 3000                      # yields without work before the worker blocks (about a ms)
sched_yield = types.ExternalFunction("sched_yield", types.int32())


@njit(types.void(types.int64[::1]), cache=True, nogil=True)
def serve(c):
    """The worker thread's loop: run each quantum asked for (GO moves on), publish
    the result, then DONE. The stores are ordered (x86-64: TSO) and sched_yield keeps
    the compiler from caching the words across iterations."""
    idle = 0
    while idle < SPIN:
        go = c[GO]
        if go == c[DONE]:
            idle += 1
            sched_yield()
            continue
        n = c[N]
        uchs = carray(pointer(c[UCHS]), n, dtype=np.int64)
        states = carray(pointer(c[STATES]), n, dtype=np.int64)
        targets = carray(pointer(c[TARGETS]), N_CORES, dtype=np.int64)
        counts = carray(pointer(c[COUNTS]), RECEIVED + N_CORES, dtype=np.int64)
        table = carray(pointer(c[TABLE]), (c[ROWS], 3), dtype=np.int64)
        i, why = core_loop.run_cores(uchs, states, 0, c[NOW], c[HORIZON], table, targets, counts)
        c[RES_I] = i
        c[RES_WHY] = why
        c[DONE] = go
        idle = 0
    c[LIVE] = 0


@njit(types.boolean(types.int64[::1]), cache=True, nogil=True)
def wait_done(c):
    """Spin (yielding) until the worker finished the quantum asked for; False after a
    while without (the caller looks whether it fell asleep)."""
    for _ in range(SPIN):
        if c[DONE] == c[GO]:
            return True
        sched_yield()
    return c[DONE] == c[GO]
