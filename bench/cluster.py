"""One machine of 3 boards on 1 host vs the same machine split over 2 hosts. Prints
one JSON line:

  ring_ticks_per_s     lockstep ticks per second of a 2-chip ring across a board
                       boundary: chip (4,7) on board 1 and chip (4,8) on board 3 each
                       relay the other's key every tick (each waits for the other's
                       marker), so every tick crosses the boundary twice;
                       "1_host": boards on loopback in one supervisor (ipc://),
                       "2_hosts": a 3-board job of scripts/netns-cluster.sh up 2
                       (board 3 in another network namespace: tcp://)
  mc_packets_per_s     multicast packets per second from a source on (4,7) to a
                       counter on (4,8) (--keys keys per tick, --ticks ticks),
                       for both machines

    python bench/cluster.py [--keys 200] [--ticks 500] [--ring-ticks 1000]
                            [--spalloc 10.77.0.1:22244]   # a netns cluster already up

Needs root for the network namespaces (unless --spalloc names a running cluster).
Wall times run from the SYNC0 signal to the last core reaching PAUSE (COUNT on
every board, polled every 2 ms), so they include that polling.
"""
import argparse
import json
import os
import subprocess
import sys
import time

from spinnaker_emu.board.launcher import start_board
from spinnaker_emu.host.apps import (load_app, load_routes, source_config, counter_config,
                                     read_counter, wait_state)
from spinnaker_emu.host.scp import SCPConnection, boot_board
from spinnaker_emu.protocol import constants as C
from spinnaker_emu.protocol.constants import CPUState, Signal
from spinnaker_emu.spalloc.client import create_job

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(os.path.dirname(HERE), "scripts", "netns-cluster.sh")
ETHERNETS = ((0, 0), (8, 4), (4, 8))
A, B = (4, 7), (4, 8)            # neighbours: A on board 1 (host1), B on board 3 (host2)
NORTH, SOUTH = 2, 5


def timed_run(conn, app, n_cores, timeout=300):
    wait_state(conn, app, CPUState.SYNC0, n_cores, ethernets=ETHERNETS)
    t0 = time.perf_counter()
    conn.signal(app, Signal.SYNC0, C.SIG_TYPE_MC)
    wait_state(conn, app, CPUState.PAUSE, n_cores, timeout=timeout, poll=0.002, ethernets=ETHERNETS)
    return time.perf_counter() - t0


def throughput(conn, keys, ticks, app=60):
    load_routes(conn, *A, [(0x10000, 0xFFFF0000, 1 << NORTH)], app)
    load_routes(conn, *B, [(0x10000, 0xFFFF0000, 1 << (6 + 2))], app)
    sends = [(t, 0x10000 | k) for t in range(ticks) for k in range(keys)]
    load_app(conn, *A, 1, "mc_source", source_config(sends), app, ticks + 1)
    addr, _prov = load_app(conn, *B, 2, "mc_counter", counter_config(0), app, ticks + 1)
    wall = timed_run(conn, app, 2)
    delivered = read_counter(conn, *B, addr)[0]
    conn.signal(app, Signal.STOP)
    return delivered, wall


def ring(conn, ticks, app=61):
    """A relays key range 0 to B, B relays range 1 back to A (mc_relay rules as in
    bench/fabric.py's ring)."""
    for i, (xy, out_link) in enumerate(((A, NORTH), (B, SOUTH))):
        prev = 1 - i
        load_routes(conn, *xy, [(0x20000 + (i << 8), 0xFFFFFF00, 1 << out_link),
                                (0x20000 + (prev << 8), 0xFFFFFF00, 1 << 7)], app)
        rule = (1).to_bytes(4, "little") + (0x20000 + (prev << 8)).to_bytes(4, "little") + \
            (0xFFFFFF00).to_bytes(4, "little") + (0x20000 + (i << 8)).to_bytes(4, "little")
        load_app(conn, *xy, 1, "mc_relay", rule, app, ticks)
    wall = timed_run(conn, app, 2)
    conn.signal(app, Signal.STOP)
    return ticks / wall


def measure(ip, args):
    boot_board(ip, 5)
    conn = SCPConnection(ip)
    try:
        delivered, wall = throughput(conn, args.keys, args.ticks)
        return {"ring_ticks_per_s": round(ring(conn, args.ring_ticks)),
                "mc_packets_per_s": round(delivered / wall), "delivered": delivered}
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=200)
    ap.add_argument("--ticks", type=int, default=500)
    ap.add_argument("--ring-ticks", type=int, default=1000)
    ap.add_argument("--ip", default="127.0.3.61", help="the one-host machine's first board")
    ap.add_argument("--spalloc", help="ADDRESS:PORT of a running netns cluster's allocator")
    args = ap.parse_args()
    if not args.spalloc and os.geteuid() != 0:
        sys.exit("bench/cluster.py: needs root for the network namespaces (or --spalloc of a "
                 "running cluster)")
    one = start_board(args.ip, 5, boards=3)
    try:
        local = measure(args.ip, args)
    finally:
        one.stop()
    started = False
    if args.spalloc:
        host, _, port = args.spalloc.partition(":")
        port = int(port or 22244)
    else:
        out = subprocess.run([SCRIPT, "up", "2"], capture_output=True, text=True, timeout=180)
        if out.returncode != 0:
            sys.exit("bench/cluster.py: %s" % out.stderr.strip())
        started = True
        host, port = [l.split()[1:] for l in out.stdout.splitlines() if l.startswith("spalloc ")][0]
        port = int(port)
    try:
        job = create_job(host, port, 3, owner="bench/cluster.py")
        try:
            job.wait_until_ready(120)
            split = measure(job.hostname, args)
        finally:
            job.destroy()
    finally:
        if started:
            subprocess.run([SCRIPT, "down"], capture_output=True, timeout=120)
    print(json.dumps({"bench": "cluster", "keys_per_tick": args.keys, "ticks": args.ticks,
                      "ring_ticks": args.ring_ticks,
                      "ring_ticks_per_s": {"1_host": local["ring_ticks_per_s"],
                                           "2_hosts": split["ring_ticks_per_s"]},
                      "mc_packets_per_s": {"1_host": local["mc_packets_per_s"],
                                           "2_hosts": split["mc_packets_per_s"]},
                      "delivered": {"1_host": local["delivered"], "2_hosts": split["delivered"]}}))


if __name__ == "__main__":
    main()
