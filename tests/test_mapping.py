"""Mapping (pure): partitioning, placement, keys, routes, compression, limits."""
import numpy as np
import pytest

from spinnaker_emu.machine.geometry import spinn5_board, opposite
from spinnaker_emu.mapping import Graph, AppVertex, AppEdge, MappingError, map_network
from spinnaker_emu.mapping.routing import compress, compress_tables, build_routes, MAX_ENTRIES


def _edge(pre, post, n, delay=1, seed=0):
    rng = np.random.default_rng(seed)
    return AppEdge(pre, post, rng.integers(0, pre.n_atoms, n), rng.integers(0, post.n_atoms, n),
                   np.ones(n), np.full(n, delay) if np.isscalar(delay) else delay, label="e")


def trace(mapping, key, src):
    """Follow a key through the loaded tables hop by hop like the router does;
    returns the set of (x, y, p) it reaches."""
    machine, reached = mapping.machine, set()
    todo, seen = [(src, None)], set()
    while todo:
        xy, came = todo.pop()
        if (xy, came) in seen:
            continue
        seen.add((xy, came))
        route = None
        for k, m, r in mapping.tables.get(xy, []):
            if key & m == k:
                route = r
                break
        if route is None:
            assert came is not None, "dropped at source chip %s" % (xy,)
            route = 1 << opposite(came)          # default routing
        for link in range(6):
            if route & (1 << link):
                todo.append((machine.neighbour(xy, link), link))
        for p in range(18):
            if route & (1 << (6 + p)):
                reached.add((xy[0], xy[1], p))
    return reached


def test_partition_and_placement_fill_few_chips():
    g = Graph()
    a = g.add_vertex(AppVertex("a", 1000, "SpikeSourcePoisson"))
    b = g.add_vertex(AppVertex("b", 800, "IF_curr_exp", max_atoms_per_core=100))
    g.add_edge(_edge(a, b, 3000))
    m = map_network(g, spinn5_board())
    assert [mv.n_atoms for mv in m.slices[a]] == [256, 256, 256, 232]
    assert len(m.slices[b]) == 8
    assert len(m.placements) == 12
    assert m.chips_used() == [(0, 0)]          # 12 cores fit on one chip
    assert len(set(m.placements.values())) == 12
    assert all(p >= 1 for (_, _, p) in m.placements.values())   # core 0 is the monitor
    total = sum(len(b) for bl in m.incoming.values() for b in bl)
    assert total == 3000


def test_keys_disjoint_and_routes_reach_every_target_across_chips():
    g = Graph()
    vs = [g.add_vertex(AppVertex("p%d" % i, 300, "IF_curr_exp")) for i in range(30)]
    for i in range(30):
        g.add_edge(_edge(vs[i], vs[(i * 7 + 3) % 30], 500, seed=i))
    m = map_network(g, spinn5_board())
    assert len(m.chips_used()) > 1
    bases = [ks.base for ks in m.keys.values()]
    assert len(set(bases)) == len(bases)
    for post_mv, blocks in m.incoming.items():
        for b in blocks:
            src = b.source
            key = m.keys[src].key(int(b.pre_local[0]))
            assert m.placements[post_mv] in trace(m, key, m.placements[src][:2])


def test_delay_extension_vertices_for_long_delays():
    g = Graph()
    a = g.add_vertex(AppVertex("a", 10, "SpikeSourceArray"))
    b = g.add_vertex(AppVertex("b", 10, "IF_curr_exp"))
    delays = np.array([1, 16, 17, 40, 144])
    g.add_edge(AppEdge(a, b, np.arange(5), np.arange(5), np.ones(5), delays))
    m = map_network(g, spinn5_board())
    assert len(m.delay_vertices) == 1
    (dv,) = m.delay_vertices.values()
    blocks = m.incoming[m.slices[b][0]]
    direct = [bl for bl in blocks if bl.source.kind == "app"][0]
    delayed = [bl for bl in blocks if bl.source.kind == "delay"][0]
    assert sorted(direct.delay.tolist()) == [1, 16]
    # 17 = 16 + 1, 40 = 32 + 8, 144 = 128 + 16
    assert sorted(zip(delayed.stage.tolist(), delayed.delay.tolist())) == [(1, 1), (2, 8), (8, 16)]
    st = m.delay_stages[dv]
    assert st[2, 0] and st[3, 1] and st[4, 7] and st.sum() == 3
    # the source reaches its delay extension, which reaches the target
    src = m.slices[a][0]
    assert m.placements[dv] in trace(m, m.keys[src].key(2), m.placements[src][:2])


def test_delay_beyond_144_names_the_limit():
    g = Graph()
    a = g.add_vertex(AppVertex("a", 2, "SpikeSourceArray"))
    b = g.add_vertex(AppVertex("b", 2, "IF_curr_exp"))
    g.add_edge(AppEdge(a, b, np.array([0]), np.array([0]), np.ones(1), np.array([145])))
    with pytest.raises(MappingError, match="144"):
        map_network(g, spinn5_board())


def test_too_many_neurons_for_the_machine():
    g = Graph()
    g.add_vertex(AppVertex("huge", 48 * 17 * 256 + 1, "IF_curr_exp"))
    with pytest.raises(MappingError, match="neurons per core|bigger machine"):
        map_network(g, spinn5_board())


def test_placement_constraint():
    g = Graph()
    g.add_vertex(AppVertex("c", 5, "IF_curr_exp", constraint=(1, 1)))
    m = map_network(g, spinn5_board())
    assert list(m.placements.values())[0][:2] == (1, 1)


def test_compression_merges_same_route_and_keeps_others_apart():
    entries = [((i + 1) << 16, 0xFFFF0000, 1 << 7) for i in range(1500)]
    entries += [(5000 << 16, 0xFFFF0000, 1 << 8)]
    out = compress(entries)
    assert len(out) <= MAX_ENTRIES
    for i in range(1500):
        key = (i + 1) << 16
        routes = [r for k, m, r in out if key & m == k]
        assert routes == [1 << 7]
    key = 5000 << 16
    assert [r for k, m, r in out if key & m == k] == [1 << 8]


def test_routing_table_overflow_names_the_limit():
    # 1100 keys, each with its own route: nothing can be merged
    entries = [((i + 1) << 16, 0xFFFF0000, (i + 1) << 6) for i in range(1100)]
    with pytest.raises(MappingError, match="1023|routing entries"):
        compress_tables({(0, 0): entries})


def test_large_networks_are_dealt_over_chips_small_ones_stay_on_one():
    from spinnaker_emu.machine.geometry import spinn5_board
    from spinnaker_emu.mapping.placer import place

    class MV:
        def __init__(self, i):
            self.kind, self.label = "app", "v%d" % i

            class App:
                constraint = None
            self.app = App()
    m = spinn5_board()
    small = place([MV(i) for i in range(5)], m, spread="auto", host_cpus=2)
    assert {xy[:2] for xy in small.values()} == {(0, 0)}
    # one chip's 17 application cores: still one chip (a tick costs less than the
    # lockstep hand-off between chip processes)
    fits = place([MV(i) for i in range(17)], m, spread="auto", host_cpus=2)
    assert {xy[:2] for xy in fits.values()} == {(0, 0)}
    big = [MV(i) for i in range(30)]
    placed = place(big, m, spread="auto", host_cpus=2)
    chips = [placed[mv][:2] for mv in big]
    assert set(chips) == {(0, 0), (0, 1)} and chips.count((0, 0)) == 15
    assert len(set(placed.values())) == 30
    one = place(big, m, spread=1, host_cpus=2)
    assert [xy[:2] for xy in one.values()].count((0, 0)) == 17
