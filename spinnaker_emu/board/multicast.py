"""Multicast routing across chip processes.

Every chip keeps a copy of every chip's router table (each chip broadcasts its
own when it changes). A sender traces a key through those tables once (cached)
and delivers straight to the destination cores, while counting what hop-by-hop
routing would: local/external MC at each router passed, dropped MC where a
packet dies, and traffic per output link.

Matching is the router CAM's: the first entry with key & mask == entry key wins.
No match at the source chip: dropped there. No match at a later chip: default
routing, straight on through the link opposite the one it arrived by.
"""
from dataclasses import dataclass, field

from ..protocol.constants import N_CORES
from .router import DIAG_LOC_MC, DIAG_EXT_MC, DIAG_DUMP_MC



@dataclass
class Trace:
    deliveries: dict = field(default_factory=dict)     # (x, y) -> core bit mask
    links: list = field(default_factory=list)          # (x, y, link) used, one per hop
    counters: list = field(default_factory=list)       # (x, y, diag counter index)
    dropped_at: list = field(default_factory=list)     # (x, y) where a copy died
    targets: list = field(default_factory=list)        # [((x, y), (application cores...))]


def match(entries, key):
    for k, m, route in entries:
        if key & m == k:
            return route
    return None


def local_trace(xy, route):
    """The trace of a key that ``xy``'s own table routes to its cores only (no link): the
    same for every key that entry matches, so a caller may share it between keys."""
    t = Trace()
    t.counters.append((xy[0], xy[1], DIAG_LOC_MC))
    cores = (route >> 6) & 0x3FFFF
    if cores:
        t.deliveries[xy] = cores
    t.targets = [(xy, tuple(p for p in range(1, N_CORES) if cores & (1 << p)))] if cores else []
    return t


def trace(tables, machine, src, key, max_hops=4096):
    t = Trace()
    frontier = [(src, None)]
    seen = set()
    hops = 0
    while frontier and hops < max_hops:
        xy, in_link = frontier.pop()
        if (xy, in_link) in seen:
            continue                      # a routing loop: each router passes a key once per input
        seen.add((xy, in_link))
        hops += 1
        t.counters.append((xy[0], xy[1], DIAG_LOC_MC if in_link is None else DIAG_EXT_MC))
        route = match(tables.get(xy, ()), key)
        if route is None:
            if in_link is None:
                t.counters.append((xy[0], xy[1], DIAG_DUMP_MC))
                t.dropped_at.append(xy)
                continue
            route = 1 << ((in_link + 3) % 6)
        cores = (route >> 6) & 0x3FFFF
        if cores:
            t.deliveries[xy] = t.deliveries.get(xy, 0) | cores
        links = machine.links.get(xy, ())
        for link in range(6):
            if route & (1 << link):
                if link in links:
                    t.links.append((xy[0], xy[1], link))
                    frontier.append((machine.neighbour(xy, link), (link + 3) % 6))
                else:
                    t.counters.append((xy[0], xy[1], DIAG_DUMP_MC))
                    t.dropped_at.append(xy)
    # the delivery list the sender walks for every packet, worked out once per key
    t.targets = [(xy, tuple(p for p in range(1, N_CORES) if mask & (1 << p)))
                 for xy, mask in t.deliveries.items()]
    return t


def ranges_reach(tables, machine, src):
    """Chips a packet sent from ``src`` could reach under ``src``'s own table
    (over-approximate: every entry whose key range intersects is followed, and
    default routing where no single entry covers the range). Used to decide which
    chips wait for which in lockstep."""
    reached = set()
    for key, mask, _route in tables.get(src, ()):
        _reach_range(tables, machine, src, None, key, mask, reached, set())
    return reached


def _reach_range(tables, machine, xy, in_link, key, mask, reached, seen):
    stack = [(xy, in_link)]
    while stack:
        xy, in_link = stack.pop()
        if (xy, in_link) in seen or len(seen) > 20000:
            continue
        seen.add((xy, in_link))
        routes, covered = [], False
        for k, m, route in tables.get(xy, ()):
            if (k ^ key) & m & mask == 0:          # ranges intersect
                routes.append(route)
                if m & ~mask == 0 and key & m == k:
                    covered = True                 # this entry catches the whole range
                    break
        if not covered and in_link is not None:
            routes.append(1 << ((in_link + 3) % 6))
        links = machine.links.get(xy, ())
        for route in routes:
            if (route >> 6) & 0x3FFFF:
                reached.add(xy)
            for link in range(6):
                if route & (1 << link) and link in links:
                    stack.append((machine.neighbour(xy, link), (link + 3) % 6))
