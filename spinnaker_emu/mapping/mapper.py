"""map_network: partition, place, allocate keys, split synapses per core, route."""
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .graph import MappingError
from .keys import allocate_keys
from .partition import partition, split_delay, RING_BUFFER_TICKS
from .placer import place
from .routing import build_routes, compress_tables, MAX_ENTRIES

MAX_SYNAPSES_PER_CORE = 256 * 8000 * 2     # beyond this a core's synaptic matrix is absurd


@dataclass(eq=False)
class IncomingBlock:
    """Connections from one source key space onto one target core."""
    source: object              # MachineVertex sending the keys (app slice or delay ext.)
    edge: object                # AppEdge
    pre_local: np.ndarray       # atom index within the source slice
    post_local: np.ndarray      # neuron index within the target slice
    weight: np.ndarray
    delay: np.ndarray           # ticks still to wait on the target core (1..16)
    stage: np.ndarray           # 0 direct, 1..8 via the delay extension
    conn_idx: np.ndarray = None  # positions of these connections in the projection's
    #                              arrays (the edge's, mapped through edge.conn_sel if set)

    def __len__(self):
        return len(self.pre_local)


@dataclass
class Mapping:
    machine: object
    machine_vertices: list
    slices: dict                          # AppVertex -> [MachineVertex]
    delay_vertices: dict                  # app MachineVertex -> delay MachineVertex
    placements: dict                      # MachineVertex -> (x, y, p)
    keys: dict                            # MachineVertex -> KeySpace
    incoming: dict = field(default_factory=dict)     # target MachineVertex -> [IncomingBlock]
    delay_stages: dict = field(default_factory=dict)  # delay MachineVertex -> (n_atoms, 8) bool
    tables: dict = field(default_factory=dict)       # (x, y) -> [(key, mask, route)]
    uncompressed_sizes: dict = field(default_factory=dict)

    def chips_used(self):
        return sorted({(x, y) for (x, y, p) in self.placements.values()})

    def summary(self):
        return {
            "cores": len(self.placements),
            "chips": len(self.chips_used()),
            "delay_extensions": len(self.delay_vertices),
            "routing_entries": {"%d,%d" % xy: len(t) for xy, t in self.tables.items()},
            "routing_entries_uncompressed": {"%d,%d" % xy: n
                                             for xy, n in self.uncompressed_sizes.items()},
            "synapses": int(sum(len(b) for bl in self.incoming.values() for b in bl)),
        }


def map_network(graph, machine, reserved=None, spread=1, host_cpus=1):
    mvs, slices, delays = partition(graph)
    placements = place(mvs, machine, reserved, spread, host_cpus)
    keys = allocate_keys(mvs)
    m = Mapping(machine, mvs, slices, delays, placements, keys)
    m.incoming = defaultdict(list)
    stages = {dv: np.zeros((dv.n_atoms, 8), bool) for dv in delays.values()}
    dests = defaultdict(set)       # source MachineVertex -> {(x, y, p)}
    for e in graph.edges:
        if not len(e):
            continue
        stage, remaining = split_delay(e.delay_ticks)
        for post_mv in slices[e.post]:
            in_post = (e.post_idx >= post_mv.lo) & (e.post_idx < post_mv.hi)
            if not in_post.any():
                continue
            for pre_mv in slices[e.pre]:
                sel = in_post & (e.pre_idx >= pre_mv.lo) & (e.pre_idx < pre_mv.hi)
                if not sel.any():
                    continue
                st = stage[sel]
                for direct in (True, False):
                    part = (st == 0) if direct else (st > 0)
                    if not part.any():
                        continue
                    idx = np.nonzero(sel)[0][part]
                    source = pre_mv if direct else delays[pre_mv]
                    block = IncomingBlock(source, e, e.pre_idx[idx] - pre_mv.lo,
                                          e.post_idx[idx] - post_mv.lo, e.weight[idx],
                                          remaining[idx], stage[idx],
                                          idx if getattr(e, "conn_sel", None) is None
                                          else e.conn_sel[idx])
                    m.incoming[post_mv].append(block)
                    dests[source].add(placements[post_mv])
                    if not direct:
                        stages[source][block.pre_local, block.stage - 1] = True
                        dests[pre_mv].add(placements[source])
    for post_mv, blocks in m.incoming.items():
        n = sum(len(b) for b in blocks)
        if n > MAX_SYNAPSES_PER_CORE:
            raise MappingError(
                "%s receives %d synapses; a core handles at most %d. Lower the neurons per "
                "core for its cell type (sim.set_number_of_neurons_per_core)."
                % (post_mv.label, n, MAX_SYNAPSES_PER_CORE))
    m.incoming = dict(m.incoming)
    m.delay_stages = stages
    sources = [(keys[mv].base, keys[mv].mask, placements[mv][:2], dests[mv]) for mv in mvs]
    tables = build_routes(sources, machine)
    m.uncompressed_sizes = {xy: len(t) for xy, t in tables.items()}
    m.tables = compress_tables(tables, MAX_ENTRIES)
    return m
