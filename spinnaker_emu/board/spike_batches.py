"""Spike batches traced through the routers per distinct key and destination (the
scheduler's ``_trace_arrays``): the tick loop's cores send whole arrays of keys each
tick, and routing them packet by packet in Python was 87 % of a large network's tick
(docs/PERFORMANCE.md)."""
import numpy as np

SMALL_BATCH = 32          # trace_arrays: up to this many keys, no np.unique


def trace_arrays(sched, outbox):
    """Scheduler._trace_batches for whole arrays of keys, as the tick loop's cores send them:
    [(core, sent_tick, keys, payloads)] -> {xy: {core: [(tick, keys, payloads)]}}.
    The Python work is per distinct key and per destination, not per packet (per
    packet it was 87 % of the microcircuit's tick loop, docs/PERFORMANCE.md). Every
    destination core gets its packets in the order the per-packet loop gave them
    (the order of the outbox, then of the keys), so stochastic synapses draw alike;
    the counters get the same totals."""
    router = sched.chip.router
    per_dest = {}
    for core, sent_tick, keys, payloads in outbox:
        if len(keys) <= SMALL_BATCH:
            # a few keys (most ticks of a small network): dict lookups beat np.unique
            distinct = keys.tolist()
        else:
            distinct, inv = np.unique(keys, return_inverse=True)
            distinct = distinct.tolist()
        group_of, groups = {}, []
        gid = np.empty(len(distinct), dtype=np.int64)
        for u, k in enumerate(distinct):
            t = sched.trace(k)
            g = group_of.get(id(t))
            if g is None:
                g = group_of[id(t)] = len(groups)
                groups.append(t)
            gid[u] = g
        if len(groups) == 1:
            per_key, n_of = None, (len(keys),)
        else:
            per_key = gid if len(keys) <= SMALL_BATCH else gid[inv]
            n_of = np.bincount(per_key, minlength=len(groups))
        wanted = {}                              # (xy, core) -> groups that reach it
        for g, t in enumerate(groups):
            n = int(n_of[g])
            for (x, y, idx) in t.counters:
                sched._count((x, y), router.diag_counters, sched.remote_diag, idx, n)
            for (x, y, link) in t.links:
                sched._count((x, y), router.link_packets, sched.remote_links, link, n)
            if not t.targets:
                core.provenance["dropped"] += n
            for xy, cores in t.targets:
                for p in cores:
                    wanted.setdefault((xy, p), []).append(g)
        for (xy, p), gs in wanted.items():
            if len(gs) == len(groups):
                ks, pl = keys, payloads
            else:
                sel = np.isin(per_key, gs)
                ks = keys[sel]
                pl = None if payloads is None else payloads[sel]
            per_dest.setdefault(xy, {}).setdefault(p, []).append((sent_tick, ks, pl))
    return {xy: pack_arrays(d) for xy, d in per_dest.items()}


def pack_arrays(dest):
    """{core: [(sent_tick, keys, payloads)]} -> the same grouped by tick, in tick order,
    arrays of one tick concatenated in arrival order (as scheduler._pack; a tick whose first
    batch has no payloads has none)."""
    out = {}
    for p, items in dest.items():
        by_tick = {}
        for t, k, pl in items:
            by_tick.setdefault(t, []).append((k, pl))
        packed = []
        for t, parts in sorted(by_tick.items()):
            if len(parts) == 1:
                k, pl = parts[0]
            else:
                k = np.concatenate([k for k, _ in parts])
                pl = None if parts[0][1] is None else np.concatenate(
                    [np.zeros(len(k), np.uint32) if q is None else q for k, q in parts])
            packed.append((t, np.asarray(k, dtype=np.uint32),
                           None if pl is None else np.asarray(pl, dtype=np.uint32)))
        out[p] = packed
    return out
