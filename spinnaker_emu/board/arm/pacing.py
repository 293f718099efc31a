"""A chip's virtual time against the wall clock (SPINNAKER_EMU_ARM_PACE).

By default virtual time never runs ahead of the wall clock, as on hardware: the
engine asks ``ahead`` before each quantum and sleeps while it is ahead. A host
that cannot keep up is not made to burst to catch up (the debt is capped at
0.25 s), and when it has lagged for SLOW_WARN_S the pacer says how much slower
than real time the chip runs, for the engine to report once per image.
"""
import os
import time

from ...protocol import constants as C

SLOW_WARN_S = 2.0              # seconds behind real time before the lag is reported
MAX_DEBT_S = 0.25              # wall-clock lag the chip may still make up by running flat out


def pace_from_env():
    """Wall-clock seconds per virtual second (None: free running)."""
    v = os.environ.get("SPINNAKER_EMU_ARM_PACE", "realtime").strip().lower()
    if v in ("free", "lockstep", "0"):
        return None
    if v in ("", "realtime", "1"):
        return 1.0
    try:
        return max(0.0, float(v)) or None
    except ValueError:
        return 1.0


class WallPacer:
    def __init__(self, pace):
        self.pace = pace               # wall seconds per virtual second, None: free
        self.wall0 = None              # (wall, virtual cycle) the pacing counts from
        self.lag0 = None               # (wall, virtual cycle) when virtual time began to lag

    def restart(self):
        """After idle: time spent idle is not owed to anyone."""
        self.wall0 = None

    def ahead(self, now):
        """Seconds the virtual time ``now`` (cycles) is ahead of the paced wall clock
        (negative: behind), and the factor by which the chip runs slower than real time
        if it has lagged for SLOW_WARN_S (else None; reported once per lagging spell)."""
        if self.pace is None:
            return 0.0, None
        t = time.perf_counter()
        if self.wall0 is None:
            self.wall0 = (t, now)
            self.lag0 = None
            return 0.0, None
        w0, v0 = self.wall0
        behind = (t - w0) - (now - v0) / C.CPU_CLOCK_HZ * self.pace
        slow = None
        if behind > MAX_DEBT_S:
            self.wall0 = (t - MAX_DEBT_S, now - int(MAX_DEBT_S / self.pace * C.CPU_CLOCK_HZ))
            slow = self._lagging(t, now)
        elif behind < 0:
            self.lag0 = None
        return -behind, slow

    def _lagging(self, t, now):
        if self.lag0 is None:
            self.lag0 = (t, now)
            return None
        w0, v0 = self.lag0
        if t - w0 < SLOW_WARN_S:
            return None
        virtual = max(1e-9, (now - v0) / C.CPU_CLOCK_HZ * self.pace)
        return (t - w0) / virtual
