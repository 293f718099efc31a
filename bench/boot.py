"""Board start-up and idle cost. Prints one JSON line:

  up_s        from calling start_board to UDP ports bound (every chip listening)
  boot_s      from the first boot packet to the last chip's CMD_INFO answering
  idle_cpu_pct  CPU used by the whole board (supervisor + chips) over --idle seconds,
                in % of one core
  rss_mb / pss_mb  total resident / proportional set size of the board's processes

    python bench/boot.py [--version 5|3] [--ip 127.0.1.77] [--idle 10]

Targets (issue 2): boot of a SpiNN-5 under 1.5 s, idle under 1 % of one core.
"""
import argparse
import json
import os
import time

from spinnaker_emu.board.launcher import start_board
from spinnaker_emu.board.supervisor import read_pid_file
from spinnaker_emu.host.scp import SCPConnection, boot_board
from spinnaker_emu.machine.geometry import spinn5_board, spinn3_board

TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().split(")")[-1].split()
        return int(fields[11]) + int(fields[12])
    except OSError:
        return 0


def mem_kb(pid, key):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", type=int, default=5, choices=(3, 5))
    ap.add_argument("--ip", default="127.0.1.77")
    ap.add_argument("--idle", type=float, default=10.0)
    args = ap.parse_args()
    chips = (spinn5_board if args.version == 5 else spinn3_board)(args.ip).chips
    t0 = time.perf_counter()
    h = start_board(args.ip, args.version)
    up_s = time.perf_counter() - t0
    try:
        t1 = time.perf_counter()
        boot_board(args.ip, args.version)
        with SCPConnection(args.ip) as conn:
            for xy in chips:                       # the last chip's INFO answering
                conn.chip_info(*xy)
        boot_s = time.perf_counter() - t1
        pids = [h.pid] + list(read_pid_file(args.ip)["chip_pids"].values())
        time.sleep(1.0)                            # let start-up work settle
        c0 = sum(cpu_ticks(p) for p in pids)
        w0 = time.perf_counter()
        time.sleep(args.idle)
        c1 = sum(cpu_ticks(p) for p in pids)
        idle = 100.0 * (c1 - c0) / TICK / (time.perf_counter() - w0)
        rss = sum(mem_kb(p, "Rss") for p in pids) / 1024
        pss = sum(mem_kb(p, "Pss") for p in pids) / 1024
    finally:
        h.stop()
    print(json.dumps({"bench": "boot", "version": args.version, "chips": len(chips),
                      "processes": len(pids), "up_s": round(up_s, 3), "boot_s": round(boot_s, 3),
                      "idle_cpu_pct": round(idle, 2), "rss_mb": round(rss, 1), "pss_mb": round(pss, 1)}))


if __name__ == "__main__":
    main()
