"""Two host threads per chip (spinnaker_emu/board/arm/threads.py) against one: one JSON
line with the wall time for N busy ARM cores on chip 0,0 to run a fixed amount of work,
for SPINNAKER_EMU_ARM_THREADS=1 and =2, interleaved (--pairs).

Each core runs a bare APLX (no SARK): Timer1 periodic at 1 ms (its interrupt enabled in
the timer, not in the VIC, so the engine's quantum is the usual eighth of a tick),
then ``subs r0, r0, #1; bne`` --iterations times (2 ARM instructions, 4 virtual cycles
per iteration), then it writes 0x5A to its word in SDRAM and sleeps in WFI. The board
runs with SPINNAKER_EMU_ARM_PACE=free (as fast as the host allows). The time is from
the first core's load to the last marker, polled every 20 ms.

  python bench/arm_threads.py [--cores 4] [--iterations 50000000] [--pairs 2] [--ip 127.0.1.9]
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from spinnaker_emu.host.transceiver import Transceiver          # noqa: E402
from spinnaker_emu.protocol import constants as C               # noqa: E402
from spinnaker_emu.protocol.constants import Signal             # noqa: E402

APP_ID = 70
TIMER_CYCLES = 200000            # 1 ms at 200 MHz


def busy_aplx(iterations, marker):
    code = [
        0xE3A01421,              # 0x00 mov r1, #0x21000000      timers
        0xE59F2028,              # 0x04 ldr r2, [pc, #0x28]      =TIMER_CYCLES
        0xE5812000,              # 0x08 str r2, [r1]             T1 LOAD
        0xE3A030E2,              # 0x0C mov r3, #0xE2            enabled, periodic, interrupt, 32-bit
        0xE5813008,              # 0x10 str r3, [r1, #8]         T1 CONTROL
        0xE59F001C,              # 0x14 ldr r0, [pc, #0x1C]      =iterations
        0xE2500001,              # 0x18 subs r0, r0, #1
        0x1AFFFFFD,              # 0x1C bne 0x18
        0xE59F5014,              # 0x20 ldr r5, [pc, #0x14]      =marker
        0xE3A0605A,              # 0x24 mov r6, #0x5A
        0xE5856000,              # 0x28 str r6, [r5]
        0xEE070F90,              # 0x2C wfi
        0xEAFFFFFD,              # 0x30 b 0x2C
        TIMER_CYCLES, iterations, marker,
    ]
    body = struct.pack("<%dI" % len(code), *code)
    return struct.pack("<4I", 2, C.ITCM_BASE, 32, len(body)) + struct.pack("<4I", 4, C.ITCM_BASE, 0, 0) + body


def emu(*args, env=None):
    subprocess.run([sys.executable, "-m", "spinnaker_emu.cli"] + list(args), check=True,
                   stdout=subprocess.DEVNULL, env=env)


def one_run(ip, threads, cores, iterations, timeout=600):
    env = dict(os.environ, SPINNAKER_EMU_ARM_PACE="free", SPINNAKER_EMU_ARM_THREADS=str(threads))
    emu("up", "--ip", ip, env=env)
    try:
        tx = Transceiver(ip, version=5)
        try:
            base = tx.sv_value(0, 0, "sdram_base")
            marks = [base + 4 * p for p in range(1, cores + 1)]
            for m in marks:
                tx.write_word(0, 0, m, 0)
            t0 = time.monotonic()
            for p, m in zip(range(1, cores + 1), marks):
                tx.execute_flood({(0, 0): [p]}, busy_aplx(iterations, m), APP_ID, wait=False)
            while not all(tx.read_word(0, 0, m) == 0x5A for m in marks):
                if time.monotonic() - t0 > timeout:
                    raise RuntimeError("cores did not finish in %d s" % timeout)
                time.sleep(0.02)
            wall = time.monotonic() - t0
            tx.send_signal(APP_ID, Signal.STOP)
            return wall
        finally:
            tx.close()
    finally:
        emu("down", "--ip", ip)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cores", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=50_000_000)
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--ip", default="127.0.1.9")
    args = ap.parse_args()
    walls = {1: [], 2: []}
    for _ in range(args.pairs):
        for threads in (1, 2):
            walls[threads].append(round(one_run(args.ip, threads, args.cores, args.iterations), 3))
    one, two = min(walls[1]), min(walls[2])
    print(json.dumps({
        "cores": args.cores, "iterations": args.iterations,
        "virtual_s_per_core": 4 * args.iterations / C.CPU_CLOCK_HZ,
        "wall_s_one_thread": walls[1], "wall_s_two_threads": walls[2],
        "speedup_best": round(one / two, 2),
        "load_average": os.getloadavg()[0],
    }))


if __name__ == "__main__":
    main()
