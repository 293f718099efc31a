"""Multicast fabric throughput and lockstep overhead. Prints one JSON line:

  mc_packets_per_s     multicast packets delivered per second of wall time, lockstep:
                       a source on chip (0,0) sends --keys keys per tick for --ticks ticks,
                       each routed to counter cores on 3 other chips (4 chips in all)
  tick_overhead_us     wall time per lockstep tick with 1, 4 and 16 active chips that
                       send nothing: each chip runs a relay that waits on its neighbour in a
                       ring (the per-tick cost of the barrier itself)

    python bench/fabric.py [--ip 127.0.1.78] [--keys 200] [--ticks 500]

Wall times run from the SYNC0 signal to the last core reaching PAUSE (polled every
2 ms over SCP), so they include that polling.
"""
import argparse
import json
import struct
import time

from spinnaker_emu.board.launcher import start_board
from spinnaker_emu.host.apps import (load_app, load_routes, source_config, counter_config,
                                     read_counter, wait_state)
from spinnaker_emu.host.scp import SCPConnection, boot_board
from spinnaker_emu.machine.geometry import spinn5_board, LINK_DELTAS
from spinnaker_emu.protocol import constants as C
from spinnaker_emu.protocol.constants import CPUState, Signal


def timed_run(conn, app, n_cores, timeout=300):
    wait_state(conn, app, CPUState.SYNC0, n_cores)
    t0 = time.perf_counter()
    conn.signal(app, Signal.SYNC0, C.SIG_TYPE_MC)
    wait_state(conn, app, CPUState.PAUSE, n_cores, timeout=timeout, poll=0.002)
    return time.perf_counter() - t0


def throughput(conn, keys_per_tick, ticks, app=60):
    # (0,0) -> N (0,1) -> core; (0,0) -> E (1,0) -> core; (0,0) -> NE (1,1) -> core
    targets = {(0, 1): 2, (1, 0): 2, (1, 1): 2}
    load_routes(conn, 0, 0, [(0x10000, 0xFFFF0000, (1 << 0) | (1 << 1) | (1 << 2))], app)
    for (x, y), p in targets.items():
        load_routes(conn, x, y, [(0x10000, 0xFFFF0000, 1 << (6 + p))], app)
    sends = [(t, 0x10000 | k) for t in range(ticks) for k in range(keys_per_tick)]
    load_app(conn, 0, 0, 1, "mc_source", source_config(sends), app, ticks + 1)
    addrs = {xy: load_app(conn, xy[0], xy[1], p, "mc_counter", counter_config(0), app, ticks + 1)[0]
             for xy, p in targets.items()}
    wall = timed_run(conn, app, 4)
    delivered = sum(read_counter(conn, x, y, a)[0] for (x, y), a in addrs.items())
    conn.signal(app, Signal.STOP)
    return delivered, wall


def ring_overhead(conn, chips, ticks, app):
    """Each chip relays key range i to chip i+1: in lockstep it waits for its predecessor."""
    ring = chips + chips[:1]
    m = spinn5_board()
    for i, (x, y) in enumerate(chips):
        nxt = ring[i + 1]
        if len(chips) == 1:
            route = 1 << (6 + 1)
        else:
            route = 1 << _link_towards(m, (x, y), nxt)
        load_routes(conn, x, y, [(0x20000 + (i << 8), 0xFFFFFF00, route)], app)
        if len(chips) > 1:
            prev = (i - 1) % len(chips)
            load_routes(conn, x, y, [(0x20000 + (prev << 8), 0xFFFFFF00, 1 << 7)], app)
        rule = struct.pack("<IIII", 1, 0x20000 + (((i - 1) % len(chips)) << 8), 0xFFFFFF00, 0x20000 + (i << 8))
        load_app(conn, x, y, 1, "mc_relay", rule, app, ticks)
    wall = timed_run(conn, app, len(chips))
    conn.signal(app, Signal.STOP)
    return 1e6 * wall / ticks


def _link_towards(m, a, b):
    for link in m.links[a]:
        if m.neighbour(a, link) == b:
            return link
    raise ValueError("%s and %s are not neighbours" % (a, b))


RINGS = {  # closed walks of neighbouring chips on a SpiNN-5 board
    1: [(0, 0)],
    4: [(0, 0), (1, 0), (1, 1), (0, 1)],
    16: [(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (4, 1), (4, 2), (4, 3), (4, 4), (3, 4), (3, 3),
         (2, 3), (1, 3), (0, 3), (0, 2), (0, 1)],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ip", default="127.0.1.78")
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--ticks", type=int, default=500)
    ap.add_argument("--ring-ticks", type=int, default=1000)
    args = ap.parse_args()
    h = start_board(args.ip, 5)
    try:
        boot_board(args.ip, 5)
        conn = SCPConnection(args.ip)
        delivered, wall = throughput(conn, args.keys, args.ticks)
        overhead = {}
        for i, n in enumerate((1, 4, 16)):
            overhead[str(n)] = round(ring_overhead(conn, RINGS[n], args.ring_ticks, 70 + i), 1)
        conn.close()
    finally:
        h.stop()
    print(json.dumps({"bench": "fabric", "chips": 4, "keys_per_tick": args.keys, "ticks": args.ticks,
                      "delivered": delivered, "wall_s": round(wall, 3),
                      "mc_packets_per_s": round(delivered / wall), "tick_overhead_us": overhead}))


if __name__ == "__main__":
    main()
