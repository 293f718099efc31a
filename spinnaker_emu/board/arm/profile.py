"""Where a binary spends its time: SPINNAKER_EMU_ARM_PROFILE ("all", or "x,y,p" triples
separated by ";", read when the board starts) samples the program counter of each named
core that is awake at the end of every quantum and writes, every REPORT_S seconds of
wall time, one board-log line per core with its most frequent addresses.

The samples are taken where a quantum ends, not at random instants, so a core that
parks in one place (a skipped busy-wait on a timer, a loop the quantum ends in) shows
that place; spread-out addresses are code that runs. Cores asleep in WFI are not
counted. Addresses are those of the core's ITCM image, to be read against a
disassembly of the APLX (docs/ARM.md, Debugging).
"""
import collections
import time

REPORT_S = 5.0
TOP = 12


def cores_from_env(value):
    """"all", or the set of (x, y, p) a SPINNAKER_EMU_ARM_* variable names, or None."""
    v = (value or "").strip().lower()
    if not v:
        return None
    if v in ("all", "1", "*"):
        return "all"
    cores = set()
    for part in v.split(";"):
        try:
            x, y, p = (int(n) for n in part.split(","))
        except ValueError:
            continue
        cores.add((x, y, p))
    return cores or None


class PcProfile:
    """The program-counter histogram of one chip's profiled cores."""

    def __init__(self, x, y, cores, log):
        self.x, self.y, self.cores, self.log = x, y, cores, log
        self.counts = {}
        self.last = time.perf_counter()

    def wants(self, p):
        return self.cores == "all" or (self.x, self.y, p) in self.cores

    def sample(self, order):
        """After a quantum: the PC of each awake profiled core; a report when due."""
        for arm in order:
            if self.wants(arm.p) and not arm.asleep():
                self.counts.setdefault(arm.p, collections.Counter())[arm.cpu.pc] += 1
        if time.perf_counter() - self.last >= REPORT_S:
            self.report()

    def report(self):
        self.last = time.perf_counter()
        for p, c in sorted(self.counts.items()):
            n = sum(c.values())
            self.log("chip %d,%d core %d: PCs at quantum ends (%d samples, WFI excluded): %s" % (
                self.x, self.y, p, n, " ".join("0x%x %.1f%%" % (a, 100.0 * k / n) for a, k in c.most_common(TOP))))
        self.counts = {}
