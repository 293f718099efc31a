"""Partitioning: split each population into slices of at most max_atoms_per_core
(one slice = one core), and add a delay-extension slice for every source slice
that has connections delayed beyond what a neuron core's ring buffer holds."""
from dataclasses import dataclass

import numpy as np

from .graph import MappingError

RING_BUFFER_TICKS = 16        # delay slots a neuron core holds (sPyNNaker: 16)
DELAY_STAGES = 8              # a delay extension adds up to 8 stages of 16 ticks
MAX_DELAY_TICKS = RING_BUFFER_TICKS * (DELAY_STAGES + 1)   # 144
MAX_ATOMS_BITS = 16           # neuron field of a key


@dataclass(eq=False)
class MachineVertex:
    app: object                   # AppVertex
    lo: int
    hi: int                       # slice [lo, hi)
    kind: str = "app"             # "app" or "delay"
    source: object = None         # for a delay vertex: the MachineVertex it delays
    index: int = -1               # position in the machine graph

    @property
    def n_atoms(self):
        return self.hi - self.lo

    @property
    def label(self):
        tag = "delay " if self.kind == "delay" else ""
        return "%s%s[%d:%d]" % (tag, self.app.label, self.lo, self.hi)

    @property
    def n_keys(self):
        return self.n_atoms * (DELAY_STAGES if self.kind == "delay" else 1)


def check_delays(edges):
    for e in edges:
        if len(e) and int(np.max(e.delay_ticks)) > MAX_DELAY_TICKS:
            raise MappingError(
                "Projection %r has a delay of %d timesteps; SpiNNaker supports at most %d "
                "(16-slot ring buffer x 9 with delay extensions). Use delays <= %d "
                "timesteps or a larger timestep." % (e.label, int(np.max(e.delay_ticks)),
                                                     MAX_DELAY_TICKS, MAX_DELAY_TICKS))


def partition(graph):
    """Machine vertices in graph order: app slices, then delay extensions."""
    check_delays(graph.edges)
    mvs, by_app = [], {}
    for v in graph.vertices:
        per_core = max(1, int(v.max_atoms_per_core))
        if per_core > (1 << MAX_ATOMS_BITS) // DELAY_STAGES:
            raise MappingError("%d neurons per core for %r: at most %d fit a core's key space"
                               % (per_core, v.label, (1 << MAX_ATOMS_BITS) // DELAY_STAGES))
        slices = []
        for lo in range(0, v.n_atoms, per_core):
            mv = MachineVertex(v, lo, min(v.n_atoms, lo + per_core))
            slices.append(mv)
            mvs.append(mv)
        by_app[v] = slices
    delays = {}
    for e in graph.edges:
        if not len(e) or int(np.max(e.delay_ticks)) <= RING_BUFFER_TICKS:
            continue
        for mv in by_app[e.pre]:
            sel = (e.pre_idx >= mv.lo) & (e.pre_idx < mv.hi) & (e.delay_ticks > RING_BUFFER_TICKS)
            if sel.any() and mv not in delays:
                delays[mv] = MachineVertex(mv.app, mv.lo, mv.hi, kind="delay", source=mv)
    mvs.extend(delays[mv] for mv in mvs if mv in delays)
    for i, mv in enumerate(mvs):
        mv.index = i
    return mvs, by_app, delays


def split_delay(delay_ticks):
    """(stage, remaining ticks): stage 0 = direct; stage s >= 1 goes through the delay
    extension, which re-sends the spike s*16 ticks later."""
    d = np.asarray(delay_ticks, dtype=np.int64)
    stage = np.maximum(0, (d - 1) // RING_BUFFER_TICKS)
    return stage, d - stage * RING_BUFFER_TICKS
