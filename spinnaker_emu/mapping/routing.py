"""Multicast routing: a tree per source core over the machine's working links
(shortest paths along the source's breadth-first tree), routing entries per chip, and
table compression to the router's 1023 usable entries.

Route words as SpiNNaker's router has them: bits 0..5 links (E NE N W SW S), bit 6+p
core p.  Chips where a packet only passes straight through (in on link l, out on the
opposite link, no local core) get no entry: default routing does that.
"""
from collections import defaultdict

from ..machine.geometry import opposite
from .graph import MappingError

MAX_ENTRIES = 1023


def core_bit(p):
    return 1 << (6 + p)


def link_bit(link):
    return 1 << link


def _tree(machine, source_xy, dest_chips, bfs_cache):
    """{chip: route word without cores} and {chip: in-link} for a tree from source."""
    if source_xy not in bfs_cache:
        bfs_cache[source_xy] = machine.bfs(source_xy)
    found = bfs_cache[source_xy]
    routes = defaultdict(int)
    in_link = {source_xy: None}
    for dest in dest_chips:
        if dest not in found:
            raise MappingError("chip %s cannot be reached from %s over working links"
                               % (dest, source_xy))
        xy = dest
        while xy != source_xy:
            dist, link = found[xy]          # link from predecessor towards xy
            prev = machine.neighbour(xy, opposite(link))
            routes[prev] |= link_bit(link)
            in_link[xy] = link
            xy = prev
    return routes, in_link


def build_routes(sources, machine):
    """``sources``: list of (key, mask, (x, y) of the source, {(x, y, p) destinations}).
    Returns {(x, y): [(key, mask, route), ...]}."""
    tables = defaultdict(list)
    bfs_cache = {}
    for key, mask, src_xy, dests in sources:
        if not dests:
            continue
        chips = {(x, y) for (x, y, p) in dests}
        routes, in_link = _tree(machine, src_xy, chips, bfs_cache)
        for (x, y, p) in dests:
            routes[(x, y)] |= core_bit(p)
        for xy, route in routes.items():
            if xy != src_xy:
                arrived = in_link.get(xy)
                if arrived is not None and route == link_bit(arrived):
                    continue                # straight through: default routing
            tables[xy].append((key, mask, route))
        if src_xy not in routes:
            tables[src_xy].append((key, mask, 0))
    return dict(tables)


def _covers(key, mask, other_key):
    return (other_key & mask) == key


def _merge(a, b):
    """Smallest (key, mask) covering both entries' keys."""
    ka, ma = a
    kb, mb = b
    mask = ma & mb & ~(ka ^ kb) & 0xFFFFFFFF
    return ka & mask, mask


def compress(entries, target=MAX_ENTRIES):
    """Merge entries with the same route whose merged (key, mask) does not match a
    key of another route's entry (order-preserving, all keys are exact-mask disjoint).
    Returns the new list (more specific first is not needed: merged entries never
    overlap entries of other routes)."""
    if len(entries) <= target:
        return list(entries)
    by_route = defaultdict(list)
    for key, mask, route in entries:
        by_route[route].append((key, mask))
    others_for = {}
    out = []
    all_entries = list(entries)
    for route, group in by_route.items():
        others = [(k, m) for k, m, r in all_entries if r != route]
        group = sorted(group)
        merged = True
        while merged and len(group) > 1:
            merged = False
            new, i = [], 0
            while i < len(group):
                if i + 1 < len(group):
                    cand = _merge(group[i], group[i + 1])
                    if not any(_overlap(cand, o) for o in others):
                        new.append(cand)
                        i += 2
                        merged = True
                        continue
                new.append(group[i])
                i += 1
            group = new
        out.extend((k, m, route) for k, m in group)
    return out


def _overlap(a, b):
    (ka, ma), (kb, mb) = a, b
    common = ma & mb
    return (ka & common) == (kb & common)


def compress_tables(tables, limit=MAX_ENTRIES):
    out = {}
    for xy, entries in tables.items():
        comp = compress(entries, limit)
        if len(comp) > limit:
            raise MappingError(
                "chip %s needs %d multicast routing entries after compression; the router "
                "has %d. Spread the network (fewer neurons per core makes fewer, larger key "
                "spaces worse; more neurons per core reduces sources) or reduce the number "
                "of source populations." % (xy, len(comp), limit))
        out[xy] = comp
    return out
