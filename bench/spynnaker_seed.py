"""Seed 004's E-I balanced network (500 exc + 125 inh IF_curr_exp, 250 Poisson + 250
array sources, 5 s at dt = 1 ms), the acceptance seed script itself, run by UNMODIFIED
sPyNNaker 1!7.4.1 on an emulated board (its own mapping, binaries on the ARM engine,
extraction) and by pyNN.nest, in one bench run. Prints one JSON line:

  spynnaker.wall_s      the seed script end to end (interpreter start .. exit), on the
                        smallest time_scale_factor from --tsf that completes (tsf)
  spynnaker.phases_s    sPyNNaker's own stage timings from its provenance database
                        (Mapping, Loading, Running, ...) and its Application runner
  spynnaker.exc_hz/inh_hz   mean rates, to compare with NEST's
  spynnaker.tries       tsf -> "ok" or the error line
  spynnaker.busiest_chip_cpu_s   CPU seconds of the board's busiest chip process (chip
                        0,0, where sPyNNaker puts all five cores) from board start to the
                        script's end: boot, expanders and the run. The host's load does
                        not change it much, so it compares engine versions better than
                        wall times on a shared machine
  nest.wall_s, nest.*   the same script on pyNN.nest
  target_s, meets_target    the issue's reference: real SpiNNaker hardware took about
                        52 s for this script
  ratio                 spynnaker.wall_s / nest.wall_s

    python bench/spynnaker_seed.py [--tsf 1,2,3,4,6] [--ip 127.0.1.6] [--pace free]
                                   [--spynnaker-python PATH] [--nest-python PATH]

The board (`spinnaker-emu up --ip IP`) is started and stopped here, once per tsf tried;
sPyNNaker runs with HOME set to a temporary folder whose .spynnaker.cfg names the board
with the extra monitors and reinjection off and `time_scale_factor = N`.

Measured on the 2-core dev machine, idle (2026-12-03, `.venv/bin/python bench/spynnaker_seed.py`):
  {"bench": "spynnaker_seed", "seed": "seed004_ei_balanced --nest-branch", "spynnaker": {"exc_hz": 8.442, "inh_hz": 9.344, "wall_s": 31.63, "tsf": 2, "phases_s": {"Mapping Stage": 9.493, "Loading Stage": 3.539, "Running Stage": 11.747, "Application runner": 11.28}, "tries": {"2": "ok"}}, "nest": {"exc_hz": 9.0368, "inh_hz": 10.584, "wall_s": 8.89}, "target_s": 52.0, "meets_target": true, "ratio": 3.6}
32 s end to end against the 52 s target, boot of the fresh board included. The five cores
sPyNNaker puts on chip (0,0) share one host CPU and need time_scale_factor 2, so the run
phase alone takes 12 s (docs/ARM.md, Speed). At the start of the same day it was 95 s at
time_scale_factor 15.
"""
import argparse
import glob
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

CACHE = os.path.expanduser("~/.cache/spinnaker-emu-acceptance")
SPYNNAKER_PYTHON = os.path.join(CACHE, "venv-spynnaker", "bin", "python")
NEST_PYTHON = os.path.join(CACHE, "venv", "bin", "python")
SEED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "acceptance",
                    "seeds", "seed004_ei_balanced.py")
TARGET_S = 52.0
CFG = """[Machine]
machine_name = {ip}
version = 5
enable_advanced_monitor_support = False
enable_reinjection = False
time_scale_factor = {tsf}
"""


def emu(*args, env=None):
    exe = os.path.join(os.path.dirname(sys.executable), "spinnaker-emu")
    return subprocess.run([exe] + list(args), capture_output=True, text=True, env=env)


def seed_result(stdout):
    """The seed's own JSON result line (rates), or None."""
    for line in reversed(stdout.splitlines()):
        if line.startswith('{"backend"'):
            r = json.loads(line)["results"]
            return {"exc_hz": r["exc_spikes"]["mean_rate_hz"], "inh_hz": r["inh_spikes"]["mean_rate_hz"]}
    return None


def phases(workdir):
    """sPyNNaker's stage timings (seconds) from the provenance database it wrote."""
    dbs = sorted(glob.glob(os.path.join(workdir, "reports", "*", "global_provenance.sqlite3")))
    if not dbs:
        return {}
    con = sqlite3.connect(dbs[-1])
    try:
        out = {}
        for _cid, name, ms in con.execute(
                "SELECT category_id, category, time_taken FROM category_timer_provenance"):
            if name.endswith("Stage"):
                out[name] = round(out.get(name, 0.0) + (ms or 0) / 1000.0, 3)
        runner = con.execute("SELECT time_taken FROM full_timer_view WHERE algorithm = "
                             "'Application runner' ORDER BY timer_id DESC LIMIT 1").fetchone()
        if runner:
            out["Application runner"] = round(runner[0] / 1000.0, 3)
        return out
    finally:
        con.close()


def chip_cpu_seconds(supervisor_pid):
    """CPU seconds (user + system) of each child of the board's supervisor (one per chip)."""
    out = []
    try:
        with open("/proc/%d/task/%d/children" % (supervisor_pid, supervisor_pid)) as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        return out
    tick = os.sysconf("SC_CLK_TCK")
    for pid in children:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out.append((int(fields[11]) + int(fields[12])) / tick)    # utime, stime
    return out


def run_spynnaker(python, ip, tsf, timeout, pace=None):
    work = tempfile.mkdtemp(prefix="bench-spynnaker-")
    try:
        with open(os.path.join(work, ".spynnaker.cfg"), "w") as f:
            f.write(CFG.format(ip=ip, tsf=tsf))
        up = emu("up", "--ip", ip, env=dict(os.environ, SPINNAKER_EMU_ARM_PACE=pace) if pace else None)
        if up.returncode:
            raise SystemExit("bench/spynnaker_seed.py: spinnaker-emu up --ip %s failed: %s"
                             % (ip, (up.stderr or up.stdout).strip()))
        pid = re.search(r"supervisor pid (\d+)", up.stdout + up.stderr)
        try:
            t0 = time.perf_counter()
            proc = subprocess.run([python, SEED, "pyNN.spiNNaker", "--nest-branch"], cwd=work,
                                  env=dict(os.environ, HOME=work), capture_output=True, text=True,
                                  timeout=timeout)
            wall = time.perf_counter() - t0
            cpu = chip_cpu_seconds(int(pid.group(1))) if pid else []
        finally:
            emu("down", "--ip", ip)
        result = seed_result(proc.stdout)
        if proc.returncode or result is None:
            err = [ln for ln in proc.stderr.splitlines() if "Exception" in ln or "Error" in ln]
            return None, (err[-1] if err else "exit %d" % proc.returncode)[:300]
        return dict(result, wall_s=round(wall, 2), tsf=tsf, phases_s=phases(work),
                    busiest_chip_cpu_s=round(max(cpu), 2) if cpu else None), "ok"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_nest(python, timeout):
    work = tempfile.mkdtemp(prefix="bench-nest-")
    try:
        t0 = time.perf_counter()
        proc = subprocess.run([python, SEED, "pyNN.nest", "--nest-branch"], cwd=work, capture_output=True, text=True,
                              timeout=timeout)
        wall = time.perf_counter() - t0
        result = seed_result(proc.stdout)
        if result is None:
            return {"error": proc.stderr.strip().splitlines()[-1:] or ["exit %d" % proc.returncode]}
        return dict(result, wall_s=round(wall, 2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tsf", default="1,2,3,4,6", help="time_scale_factors to try, smallest first")
    ap.add_argument("--ip", default="127.0.1.6")
    ap.add_argument("--spynnaker-python", default=SPYNNAKER_PYTHON)
    ap.add_argument("--nest-python", default=NEST_PYTHON)
    ap.add_argument("--timeout", type=float, default=1200)
    ap.add_argument("--pace", help="SPINNAKER_EMU_ARM_PACE for the board (free: busiest_chip_cpu_s "
                                   "is then the chip's work alone, to compare engine versions)")
    args = ap.parse_args()
    for what, path in (("sPyNNaker", args.spynnaker_python), ("NEST", args.nest_python)):
        if not os.path.exists(path):
            raise SystemExit("bench/spynnaker_seed.py: no %s interpreter at %s (run "
                             "../shared/acceptance/run.sh spynnaker --setup-only, or pass its path)"
                             % (what, path))
    if not os.path.exists(SEED):
        raise SystemExit("bench/spynnaker_seed.py: the seed script is not at %s" % SEED)
    tries, spyn = {}, None
    for tsf in [int(t) for t in args.tsf.split(",")]:
        print("sPyNNaker on the emulator, time_scale_factor %d ..." % tsf, file=sys.stderr)
        spyn, tries[str(tsf)] = run_spynnaker(args.spynnaker_python, args.ip, tsf, args.timeout, args.pace)
        print("  %s" % tries[str(tsf)], file=sys.stderr)
        if spyn is not None:
            break
    print("NEST ...", file=sys.stderr)
    nest = run_nest(args.nest_python, args.timeout)
    out = {"bench": "spynnaker_seed", "seed": "seed004_ei_balanced --nest-branch",
           "pace": args.pace or "realtime", "spynnaker": dict(spyn or {}, tries=tries),
           "nest": nest, "target_s": TARGET_S,
           "meets_target": bool(spyn and spyn["wall_s"] <= TARGET_S)}
    if spyn and "wall_s" in nest:
        out["ratio"] = round(spyn["wall_s"] / nest["wall_s"], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
