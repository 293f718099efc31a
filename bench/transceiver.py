"""Memory transfer rates of the host transceiver. Prints one JSON line:

  bulk_write_1chip_mbs / bulk_read_1chip_mbs   --size bytes (16 MiB) to/from chip (3,3)
                                               (not the Ethernet chip: the data crosses the fabric)
  bulk_write_eth_mbs / bulk_read_eth_mbs       the same to/from the Ethernet chip (0,0)
  bulk_write_8chips_mbs / bulk_read_8chips_mbs --size bytes spread evenly over 8 chips
  scp_w8_write_mbs / scp_w8_read_mbs           pipelined SCP (8 in flight), --scp-size bytes
  scp_w1_write_mbs / scp_w1_read_mbs           stop-and-wait SCP (window 1), --scp-size bytes
  load_avg                                     1-minute load average when the run ended

Each figure is the median of --repeat runs, timed from the first datagram to the
last ack / last data byte; every transfer is read back and compared (untimed).
MB = 10^6 bytes.

    python bench/transceiver.py [--ip 127.0.1.78] [--size 16777216] [--scp-size 1048576] [--repeat 3]

Target (issue 3): 100 MB/s write and read, to one chip and over 8 chips.
"""
import argparse
import json
import os
import statistics
import sys
import time

from spinnaker_emu.board.launcher import start_board
from spinnaker_emu.host.transceiver import Transceiver

EIGHT = [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7)]
ADDR = 0x61000000


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def rate(n, seconds):
    return round(n / seconds / 1e6, 1)


def bench_one(tx, xy, data, repeat, write, read):
    w, r = [], []
    for _ in range(repeat):
        dt, _ = timed(lambda: write(xy, data))
        w.append(rate(len(data), dt))
        dt, back = timed(lambda: read(xy, len(data)))
        r.append(rate(len(data), dt))
        if back != data:
            raise SystemExit("read-back mismatch on chip %s" % (xy,))
    return statistics.median(w), statistics.median(r)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--ip", default="127.0.1.78")
    ap.add_argument("--size", type=int, default=16 << 20)
    ap.add_argument("--scp-size", type=int, default=1 << 20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    data = os.urandom(args.size)
    scp_data = data[:args.scp_size]
    board = start_board(args.ip, 5)
    out = {"size": args.size, "scp_size": args.scp_size, "repeat": args.repeat}
    try:
        tx = Transceiver(args.ip, progress=False)
        if not tx.has_bulk:
            raise SystemExit("the board did not answer on the bulk port")

        def bw(xy, d):
            tx.write_memory(xy[0], xy[1], ADDR, d)

        def br(xy, n):
            return tx.read_memory(xy[0], xy[1], ADDR, n)
        out["bulk_write_1chip_mbs"], out["bulk_read_1chip_mbs"] = bench_one(tx, (3, 3), data, args.repeat, bw, br)
        out["bulk_write_eth_mbs"], out["bulk_read_eth_mbs"] = bench_one(tx, (0, 0), data, args.repeat, bw, br)

        per = args.size // len(EIGHT)
        parts = [data[i * per:(i + 1) * per] for i in range(len(EIGHT))]
        w, r = [], []
        for _ in range(args.repeat):
            dt, _ = timed(lambda: tx.write_memory_many([(x, y, ADDR, d) for (x, y), d in zip(EIGHT, parts)]))
            w.append(rate(per * len(EIGHT), dt))
            dt, back = timed(lambda: tx.read_memory_many([(x, y, ADDR, per) for (x, y) in EIGHT]))
            r.append(rate(per * len(EIGHT), dt))
            if back != parts:
                raise SystemExit("read-back mismatch over 8 chips")
        out["bulk_write_8chips_mbs"], out["bulk_read_8chips_mbs"] = statistics.median(w), statistics.median(r)

        conn = tx.conn
        for window in (8, 1):
            def sw(xy, d, window=window):
                conn.write(xy[0], xy[1], ADDR, d, window=window)

            def sr(xy, n, window=window):
                return conn.read(xy[0], xy[1], ADDR, n, window=window)
            w_, r_ = bench_one(tx, (3, 3), scp_data, 1, sw, sr)
            out["scp_w%d_write_mbs" % window], out["scp_w%d_read_mbs" % window] = w_, r_
        tx.close()
    finally:
        board.stop()
    out["load_avg"] = round(os.getloadavg()[0], 2)
    out["cpus"] = os.cpu_count()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
