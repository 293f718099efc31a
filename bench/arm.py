"""Speed of the ARM engine (spinnaker_emu/board/arm/): unmodified sPyNNaker 7.4.1 runs a
256-neuron IF_curr_exp population driven by 256 Poisson sources on an emulated board,
and the same network runs on pyNN.nest in the same bench run. Prints one JSON line
(progress goes to stderr):

  instructions_per_s        ARM instructions the emulated cores executed during
                            sPyNNaker's run phase (its Application runner: the
                            IF_curr_exp and Poisson binaries ticking) per second of wall
                            time spent executing them (inside ArmCpu.run: unicorn plus the
                            MMIO callbacks), over all cores and chips. The engine counts
                            virtual cycles, one per 2 bytes of code executed (cycles.py):
                            a Thumb instruction is 1, an ARM one 2; the Thumb share is
                            sampled from CPSR.T at every 16th slice start, weighted by
                            cycles (sPyNNaker 7.4.1's binaries are ARM code: share ~0)
  cycles_per_s              the same as executed virtual cycles per second
  instructions_per_cpu_s    the same per second of the chip processes' CPU time inside
                            ArmCpu.run (process_time): what the host's load does not change
  instructions_per_wall_s   run-phase instructions per second of the run phase's wall
                            time (what the cores got, WFI sleep and host load included)
  if_curr_exp_256_ticks_per_s   simulated 1 ms ticks per second of sPyNNaker's run phase
                            (Application runner, from its provenance database) at the
                            smallest time_scale_factor from --tsf that succeeds (tsf)
  ticks_per_s_run_call      the same over the whole run() call (mapping, data
                            generation, loading with the ARM expanders, run, extraction)
  ticks_per_chip_cpu_s      ticks per CPU second of the busiest chip process during the
                            run phase: what one chip could do if it never waited
  arm                       run-phase totals: window, cycles, seconds in ArmCpu.run,
                            CPU seconds there, slices, Thumb share, chips and cores that ran code, busiest
                            chip's seconds in ArmCpu.run and CPU seconds (process times)
  spynnaker                 run_s (the run() call), spikes, rate, run_phase (sPyNNaker's
                            timers), arm_run_call (as arm, over the whole run() call),
                            tries (tsf -> ok or the error line)
  nest                      run_s (the run() call), wall_s (import..end), spikes
  ratio, ratio_run_call     sPyNNaker run phase / NEST run(), sPyNNaker run() / NEST run()

The network: 256 SpikeSourcePoisson at --rate Hz -> FixedProbabilityConnector(0.1),
weight 1 nA, delay 1 ms -> 256 IF_curr_exp (defaults), spikes recorded; dt 1 ms,
--simtime ms. NEST draws its own connections and Poisson trains, so spike counts agree
only statistically (~50 Hz per neuron at 10 Hz input).

How the cycles are counted without touching the engine: the board is started with
PYTHONPATH pointing at a temporary sitecustomize.py that wraps ArmCpu.run (in the
supervisor, before it forks the chips) and appends each chip's running totals (cycles,
seconds inside run, slices, os.times, CPU seconds inside run) to a file every 0.2 s of busy time. The sPyNNaker
worker prints the run() call's wall-clock start and end; the run phase is placed at the
end of that call minus what sPyNNaker's timers say followed its Application runner. The
totals are read at the window's ends (0.2 s resolution). The wrapper costs a
perf_counter and a process_time call at each end of a slice (a slice is ~5000 cycles here).

    python bench/arm.py [--simtime 1000] [--tsf 1,10,30,100] [--rate 10] [--ip 127.0.1.5]
                        [--spynnaker-python PATH] [--nest-python PATH] [--pace free]
                        [--only spynnaker|nest] [--timeout 900]

The board (`spinnaker-emu up --ip IP`, this interpreter's spinnaker-emu) is started and
stopped by the bench, once per time_scale_factor tried; sPyNNaker runs with HOME set to a
temporary folder whose .spynnaker.cfg names the board with the extra monitors and
reinjection off (as ../shared/acceptance/spynnaker_e2e.py --no-monitors writes it).
--pace sets SPINNAKER_EMU_ARM_PACE for the board (default: the engine's, real time).

Measured on the 2-core dev machine while other work kept its load at 7..10 (the command,
then its JSON line, wrapped here). tsf 1 is at the edge: in two of five tries that day the
cores were still RUNNING when sPyNNaker gave up (SpiNNManCoresNotInStateException) and
tsf 10 was used (in one of them, at load 17: 9.8e6 instructions/s, 76 ticks/s).

    .venv/bin/python bench/arm.py
    {"bench": "arm", "neurons": 256, "sources": 256, "rate_hz": 10.0, "simtime_ms":
    1000.0, "pace": "realtime", "instructions_per_s": 15703640, "cycles_per_s":
    31407281, "instructions_per_cpu_s": 33792644, "instructions_per_wall_s": 9549701,
    "if_curr_exp_256_ticks_per_s": 178.86, "ticks_per_s_run_call": 51.73,
    "ticks_per_chip_cpu_s": 404.9, "tsf": 1.0, "arm": {"window_s": 5.591, "cycles":
    106784754, "emu_s": 3.4, "emu_cpu_s": 1.58, "slices": 19595, "thumb_fraction": 0.0,
    "chips": 1, "cores": 2, "busiest_chip_emu_s": 3.4, "busiest_chip_cpu_s": 2.47},
    "spynnaker": {"run_s": 19.33, "spikes": 11372, "rate_hz": 44.42, "run_phase":
    {"application_runner_s": 5.591, "after_runner_s": 0.05, "stages_s": {"Mapping
    Stage": 9.737, "Loading Stage": 3.606, "Running Stage": 5.877}}, "wall_s": 25.903,
    "arm_run_call": {"window_s": 19.33, "cycles": 123266269, "emu_s": 3.787,
    "emu_cpu_s": 1.797, "slices": 23615, "thumb_fraction": 0.004, "chips": 1, "cores":
    2, "busiest_chip_emu_s": 3.787, "busiest_chip_cpu_s": 3.07}, "tsf": 1.0, "tries":
    {"1": "ok"}}, "nest": {"run_s": 0.143, "spikes": 13064, "rate_hz": 51.03, "wall_s":
    2.057}, "ratio": 39.1, "ratio_run_call": 135.2}
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.environ.get("ACCEPTANCE_CACHE") or os.path.expanduser(
    "~/.cache/spinnaker-emu-acceptance")
SPYNNAKER_PYTHON = os.path.join(CACHE, "venv-spynnaker", "bin", "python")
NEST_PYTHON = os.environ.get("NEST_PYTHON") or os.path.join(CACHE, "venv", "bin", "python")
N = 256
# failures a larger time_scale_factor may cure (the cores did not keep up)
RETRY_ON = ("NotInState", "waiting for cores", "imeout", "overran", "RTE")

# Wraps ArmCpu.run in the board's processes; written to a temporary folder put first on
# the board's PYTHONPATH. Each process appends "wall cycles emu_s slices thumb_cycles
# sampled_cycles cores cpu_s emu_cpu_s" lines to $BENCH_ARM_COUNTERS/<pid>.txt.
SITECUSTOMIZE = r'''
import os
_DIR = os.environ.get("BENCH_ARM_COUNTERS")
if _DIR:
    import time
    from spinnaker_emu.board.arm import cpu as _cpu

    _run = _cpu.ArmCpu.run
    _pc = time.perf_counter
    _cpu_t = time.process_time
    _tot = [0, 0.0, 0, 0, 0, 0.0]  # cycles, seconds, slices, thumb, sampled cycles, CPU s
    _last = [0.0, None, 0]        # last write, file, pid it belongs to
    _cores = set()

    def _flush(now):
        pid = os.getpid()
        if _last[2] != pid:               # forked: a chip of its own
            _last[1] = open(os.path.join(_DIR, "%d.txt" % pid), "a", buffering=1)
            _last[2] = pid
        _last[0] = now
        t = os.times()
        _last[1].write("%.6f %d %.6f %d %d %d %d %.3f %.6f\n" % (
            time.time(), _tot[0], _tot[1], _tot[2], _tot[3], _tot[4], len(_cores), t[0] + t[1],
            _tot[5]))

    def run(self, budget):
        t0 = _pc()
        c0 = _cpu_t()
        sample = not _tot[2] & 15
        thumb = sample and self.cpsr & 0x20
        r = _run(self, budget)
        t1 = _pc()
        _tot[5] += _cpu_t() - c0
        _tot[0] += r[0]
        _tot[1] += t1 - t0
        _tot[2] += 1
        if sample:
            _tot[4] += r[0]
            if thumb:
                _tot[3] += r[0]
            _cores.add(self.p)
        if t1 - _last[0] > 0.2:
            _flush(t1)
        return r

    _cpu.ArmCpu.run = run
'''


# ---------------------------------------------------------------- the network (workers)
def worker(backend, simtime, rate, tsf):
    """Runs in the backend's interpreter: builds the network, times run(), prints JSON."""
    import importlib
    import warnings
    warnings.simplefilter("ignore")
    t_setup = time.perf_counter()
    sim = importlib.import_module(backend)
    if backend == "pyNN.spiNNaker":
        sim.setup(timestep=1.0, time_scale_factor=tsf)
    else:
        sim.setup(timestep=1.0)
    src = sim.Population(N, sim.SpikeSourcePoisson(rate=rate), label="poisson")
    pop = sim.Population(N, sim.IF_curr_exp(), label="if_curr_exp")
    # sPyNNaker 7.4.1 refuses an rng here ("use seed=<seed> in the target Population")
    rng = {} if backend == "pyNN.spiNNaker" else {"rng": sim.NumpyRNG(seed=4242)}
    sim.Projection(src, pop, sim.FixedProbabilityConnector(p_connect=0.1, **rng),
                   synapse_type=sim.StaticSynapse(weight=1.0, delay=1.0),
                   receptor_type="excitatory")
    pop.record("spikes")
    w0, t0 = time.time(), time.perf_counter()
    sim.run(simtime)
    run_s, w1 = time.perf_counter() - t0, time.time()
    trains = pop.get_data("spikes").segments[0].spiketrains
    spikes = int(sum(len(st) for st in trains))
    out = {"run_s": round(run_s, 3), "run_wall": [w0, w1], "spikes": spikes,
           "rate_hz": round(spikes / N / (simtime / 1000.0), 2)}
    if backend == "pyNN.spiNNaker":
        out["run_phase"] = spynnaker_run_phase()
    sim.end()
    out["wall_s"] = round(time.perf_counter() - t_setup, 3)
    print(json.dumps(out), flush=True)


def spynnaker_run_phase():
    """sPyNNaker's own timers (its provenance database under ./reports), in seconds:
    the Application runner (the cores running), the stages, and the time from the
    runner's end to the end of the Running stage (to place the runner in wall time)."""
    try:
        import sqlite3
        dbs = sorted(glob.glob(os.path.join("reports", "*", "global_provenance.sqlite3")))
        con = sqlite3.connect(dbs[-1])
        rows = con.execute("SELECT timer_id, category, algorithm, time_taken FROM "
                           "full_timer_view ORDER BY timer_id").fetchall()
        cats = con.execute("SELECT category_id, category, time_taken FROM "
                           "category_timer_provenance ORDER BY category_id").fetchall()
        con.close()
        runner = [r for r in rows if r[2] == "Application runner"][-1]
        after = sum(r[3] for r in rows if r[0] > runner[0] and r[1] == runner[1])
        stages = {}
        for _cid, name, ms in cats:
            if name.endswith("Stage"):
                stages[name] = round(stages.get(name, 0.0) + (ms or 0) / 1000.0, 3)
        return {"application_runner_s": round(runner[3] / 1000.0, 3),
                "after_runner_s": round(after / 1000.0, 3), "stages_s": stages}
    except Exception as e:              # provenance is a bonus, never a failure
        return {"error": "%s: %s" % (type(e).__name__, e)}


# ---------------------------------------------------------------- the board
def emu(*args, env=None):
    exe = os.path.join(os.path.dirname(sys.executable), "spinnaker-emu")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "spinnaker_emu.cli"]
    return subprocess.run(cmd + list(args), env=env, capture_output=True, text=True)


def counters_at(counter_dir, when):
    """Per chip: the last counter line written at or before ``when`` (wall clock)."""
    out = {}
    for path in glob.glob(os.path.join(counter_dir, "*.txt")):
        best = None
        with open(path) as f:
            for line in f:
                v = line.split()
                if len(v) == 9 and float(v[0]) <= when:
                    best = [float(x) for x in v]
        out[os.path.basename(path)] = best or [when] + [0.0] * 8
    return out


def arm_totals(counter_dir, w0, w1):
    """What the chips did between wall-clock times w0 and w1 (from the counter files)."""
    a, b = counters_at(counter_dir, w0), counters_at(counter_dir, w1)
    tot = [0.0] * 5                         # cycles, emu_s, slices, thumb, sampled
    chips = cores = 0
    busiest_emu = busiest_cpu = emu_cpu = 0.0
    for k, e in b.items():
        s = a.get(k, [w0] + [0.0] * 8)
        d = [e[i] - s[i] for i in range(1, 6)]
        if d[0] <= 0:
            continue
        chips += 1
        cores += int(e[6])
        tot = [x + y for x, y in zip(tot, d)]
        busiest_emu = max(busiest_emu, d[1])
        busiest_cpu = max(busiest_cpu, e[7] - s[7])
        emu_cpu += e[8] - s[8]
    cycles, emu_s, slices, thumb, sampled = tot
    span = w1 - w0
    return {"window_s": round(span, 3), "cycles": int(cycles), "emu_s": round(emu_s, 3),
            "emu_cpu_s": round(emu_cpu, 3),
            "slices": int(slices),
            "thumb_fraction": round(thumb / sampled, 3) if sampled else None,
            "chips": chips, "cores": cores,
            "busiest_chip_emu_s": round(busiest_emu, 3),
            "busiest_chip_cpu_s": round(busiest_cpu, 3)}


def instructions(arm):
    """Cycles -> instructions with the sampled Thumb share (Thumb 1 cycle, ARM 2)."""
    f = arm["thumb_fraction"]
    return None if f is None else arm["cycles"] * (f + (1 - f) / 2)


def run_spynnaker(args, tsf):
    """One sPyNNaker run on a fresh board; returns (result or None, error text)."""
    work = tempfile.mkdtemp(prefix="bench-arm-")
    home = os.path.join(work, "home")
    counters = os.path.join(work, "counters")
    site = os.path.join(work, "site")
    for d in (home, counters, site):
        os.makedirs(d)
    with open(os.path.join(home, ".spynnaker.cfg"), "w") as f:
        f.write("[Machine]\nmachine_name = %s\nversion = 5\n"
                "enable_advanced_monitor_support = False\nenable_reinjection = False\n"
                % args.ip)
    with open(os.path.join(site, "sitecustomize.py"), "w") as f:
        f.write(SITECUSTOMIZE)
    benv = dict(os.environ, BENCH_ARM_COUNTERS=counters,
                PYTHONPATH=os.pathsep.join([site, ROOT] + [p for p in [
                    os.environ.get("PYTHONPATH")] if p]))
    if args.pace:
        benv["SPINNAKER_EMU_ARM_PACE"] = args.pace
    emu("down", "--ip", args.ip)                      # a board left over by a killed bench
    proc = None
    try:
        up = emu("up", "--ip", args.ip, env=benv)
        if up.returncode != 0:
            raise SystemExit("bench/arm.py: spinnaker-emu up --ip %s failed: %s"
                             % (args.ip, (up.stderr or up.stdout).strip().splitlines()[-1:]))
        senv = dict(os.environ, HOME=home)
        senv.pop("PYTHONPATH", None)
        cmd = [args.spynnaker_python, os.path.abspath(__file__), "--worker", "pyNN.spiNNaker",
               "--simtime", str(args.simtime), "--rate", str(args.rate), "--tsf", str(tsf)]
        log = open(os.path.join(work, "spynnaker.log"), "w")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                                env=senv, cwd=work)
        try:
            stdout, _ = proc.communicate(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None, "timeout after %ds" % args.timeout
        finally:
            log.close()
        lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            tail = open(os.path.join(work, "spynnaker.log")).read().strip().splitlines()
            exc = [ln for ln in tail if "Exception" in ln or "Error" in ln]
            exc = [ln for ln in exc if "NotInState" in ln][-1:] or exc
            return None, (exc[-1] if exc else (tail[-1] if tail else "exit %d" % proc.returncode))[:300]
        res = json.loads(lines[-1])
        time.sleep(0.5)                              # the chips' last counter lines
        w0, w1 = res.pop("run_wall")
        res["arm_run_call"] = arm_totals(counters, w0, w1)
        phase = res.get("run_phase") or {}
        if "application_runner_s" in phase:
            end = w1 - phase["after_runner_s"]
            res["arm"] = arm_totals(counters, end - phase["application_runner_s"], end)
        else:
            res["arm"] = res["arm_run_call"]
        return res, None
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        emu("down", "--ip", args.ip)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("bench/arm.py: kept %s" % work, file=sys.stderr)


def run_nest(args):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    out = subprocess.run([args.nest_python, os.path.abspath(__file__), "--worker", "pyNN.nest",
                          "--simtime", str(args.simtime), "--rate", str(args.rate)],
                         capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit("bench/arm.py: NEST worker failed (exit %d): %s"
                         % (out.returncode, out.stderr.strip().splitlines()[-1:]))
    res = json.loads(lines[-1])
    res.pop("run_wall", None)
    return res


def note(*a):
    print("bench/arm.py:", *a, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--simtime", type=float, default=1000.0)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--tsf", default="1,10,30,100",
                    help="time_scale_factors to try, smallest first (comma separated)")
    ap.add_argument("--ip", default="127.0.1.5")
    ap.add_argument("--spynnaker-python", default=SPYNNAKER_PYTHON)
    ap.add_argument("--nest-python", default=NEST_PYTHON)
    ap.add_argument("--pace", help="SPINNAKER_EMU_ARM_PACE for the board (e.g. free)")
    ap.add_argument("--only", choices=("spynnaker", "nest"))
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per sPyNNaker run")
    ap.add_argument("--keep", action="store_true", help="keep the work folders (HOME, logs)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.simtime, args.rate, float(args.tsf.split(",")[0]))
        return 0
    if args.only != "nest" and not os.access(args.spynnaker_python, os.X_OK):
        print("bench/arm.py: no sPyNNaker interpreter at %s (make it with "
              "../shared/acceptance/run.sh spynnaker --setup-only, or pass --spynnaker-python)"
              % args.spynnaker_python, file=sys.stderr)
        return 2
    result = {"bench": "arm", "neurons": N, "sources": N, "rate_hz": args.rate,
              "simtime_ms": args.simtime, "pace": args.pace or os.environ.get(
                  "SPINNAKER_EMU_ARM_PACE", "realtime")}
    if args.only != "nest":
        tries = {}
        for tsf in [float(t) for t in args.tsf.split(",")]:
            note("sPyNNaker, time_scale_factor %g ..." % tsf)
            t0 = time.perf_counter()
            res, err = run_spynnaker(args, tsf)
            note("  %s (%.0f s)" % ("ok" if res else err, time.perf_counter() - t0))
            tries["%g" % tsf] = "ok" if res else err
            if res:
                res["tsf"] = tsf
                break
            if not any(w in err for w in RETRY_ON):
                break                              # not a matter of speed: no larger tsf
        if res is None:
            result["spynnaker"] = {"tries": tries}
            print(json.dumps(result))
            note("sPyNNaker failed at every time_scale_factor tried")
            return 1
        arm = res.pop("arm")
        res["tries"] = tries
        run_s = res["run_s"]
        runner_s = (res.get("run_phase") or {}).get("application_runner_s") or run_s
        instr = instructions(arm)
        emu_s = arm["emu_s"] or None
        result["instructions_per_s"] = round(instr / emu_s) if instr and emu_s else None
        result["cycles_per_s"] = round(arm["cycles"] / emu_s) if emu_s else None
        ecpu = arm["emu_cpu_s"] or None
        result["instructions_per_cpu_s"] = round(instr / ecpu) if instr and ecpu else None
        result["instructions_per_wall_s"] = (round(instr / arm["window_s"])
                                             if instr and arm["window_s"] else None)
        result["if_curr_exp_256_ticks_per_s"] = round(args.simtime / runner_s, 2)
        result["ticks_per_s_run_call"] = round(args.simtime / run_s, 2)
        cpu = arm["busiest_chip_cpu_s"]
        result["ticks_per_chip_cpu_s"] = round(args.simtime / cpu, 1) if cpu else None
        result["tsf"] = res["tsf"]
        result["arm"] = arm
        result["spynnaker"] = res
        note("ARM (run phase, %.1f s): %d cycles in %.2f s inside ArmCpu.run on %d chip(s), "
             "%d core(s): %.3g cycles/s, ~%.3g instructions/s (%.3g per CPU s; "
             "Thumb share %s); busiest chip "
             "%.2f s of CPU" % (arm["window_s"], arm["cycles"], arm["emu_s"], arm["chips"],
                                arm["cores"], result["cycles_per_s"] or 0,
                                result["instructions_per_s"] or 0,
                                result["instructions_per_cpu_s"] or 0, arm["thumb_fraction"],
                                cpu))
        note("sPyNNaker at tsf %g: Application runner %.2f s (%.2f ticks/s), run() %.1f s "
             "(%.2f ticks/s), %d spikes" % (res["tsf"], runner_s,
                                            result["if_curr_exp_256_ticks_per_s"], run_s,
                                            result["ticks_per_s_run_call"], res["spikes"]))
    if args.only != "spynnaker":
        note("NEST ...")
        result["nest"] = run_nest(args)
        note("NEST: run() %.3f s, %d spikes" % (result["nest"]["run_s"], result["nest"]["spikes"]))
    if "spynnaker" in result and "nest" in result:
        nest_s = max(result["nest"]["run_s"], 1e-6)
        runner_s = (result["spynnaker"].get("run_phase") or {}).get("application_runner_s")
        result["ratio"] = round((runner_s or result["spynnaker"]["run_s"]) / nest_s, 1)
        result["ratio_run_call"] = round(result["spynnaker"]["run_s"] / nest_s, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
