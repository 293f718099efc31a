"""Seed 004's E-I balanced network (500 exc + 125 inh IF_curr_exp, 250 Poisson + 250
array sources, delays U[1, 10] ms, 5 s at dt = 1 ms) end to end on spinnaker_emu.pynn and
on pyNN.nest in the same run. Prints one JSON line:

  emu.wall_s, nest.wall_s   setup() .. end() inside each worker (network building,
                            run, get_data; for the emulator also starting and booting
                            its embedded board), mean over --reps
  ratio                     emu.wall_s / nest.wall_s (target: <= 3)
  emu.process_s, nest.process_s   the worker subprocess as a whole (interpreter start,
                            imports), for reference
  emu.phases_s              the runner's phases (machine, mapping, data generation,
                            loading, running, extraction)
  *.exc_hz, *.inh_hz        mean rates, to check both ran the same network

    python bench/seed_ei.py [--simtime 5000] [--reps 1] [--nest-python PATH]
                            [--only emu|nest]

The emulator side runs with this interpreter (it must import spinnaker_emu and PyNN);
NEST runs in a subprocess with the acceptance venv's python
(~/.cache/spinnaker-emu-acceptance/venv/bin/python, or --nest-python / $NEST_PYTHON).
"""
import argparse
import json
import os
import subprocess
import sys
import time

NEST_PYTHON = os.environ.get("NEST_PYTHON") or os.path.expanduser(
    "~/.cache/spinnaker-emu-acceptance/venv/bin/python")


def network(sim, simtime):
    """The seed's SPINN=True branch, parameters unchanged."""
    import numpy as np
    sim.setup(timestep=1)
    poisson = sim.Population(250, sim.SpikeSourcePoisson(rate=50, duration=5000),
                             label="poisson_source")
    array = sim.Population(250, sim.SpikeSourceArray, {"spike_times": [1000]},
                           label="spike_source")
    exc_p = {"tau_m": 20.0, "cm": 1.0, "v_rest": -65.0, "v_reset": -65.0, "v_thresh": -50.0,
             "tau_syn_E": 5.0, "tau_syn_I": 15.0, "tau_refrac": 0.3, "i_offset": 0}
    inh_p = dict(exc_p, tau_syn_I=5.0)
    exc = sim.Population(500, sim.IF_curr_exp(**exc_p), label="excitatory_pop")
    inh = sim.Population(125, sim.IF_curr_exp(**inh_p), label="inhibitory_pop")
    rng = sim.NumpyRNG(seed=98766987, parallel_safe=True)
    exc.initialize(v=sim.RandomDistribution("uniform", [-65.0, -50.0], rng=rng))
    delay = sim.RandomDistribution("uniform", [1, 10], rng=rng)
    fp = sim.FixedProbabilityConnector

    def proj(pre, post, conn, w, receptor):
        sim.Projection(pre, post, conn, synapse_type=sim.StaticSynapse(weight=w, delay=delay),
                       receptor_type=receptor)
    proj(array, exc, fp(p_connect=0.05), 0.1, "excitatory")
    proj(poisson, exc, fp(p_connect=0.2), 0.06, "excitatory")
    proj(poisson, inh, fp(p_connect=0.2), 0.03, "excitatory")
    proj(exc, exc, fp(p_connect=0.1), 0.03, "excitatory")
    proj(exc, exc, sim.OneToOneConnector(), 0.03, "excitatory")
    proj(inh, inh, fp(p_connect=0.1), -0.03, "inhibitory")
    proj(exc, inh, fp(p_connect=0.2), 0.06, "excitatory")
    proj(inh, exc, fp(p_connect=0.2), -0.06, "inhibitory")
    exc.record("spikes")
    inh.record("spikes")
    sim.run(simtime)
    counts = {}
    for name, pop in (("exc", exc), ("inh", inh)):
        trains = pop.get_data("spikes").segments[0].spiketrains
        counts[name] = int(sum(len(st) for st in trains)) / pop.size / (simtime / 1000.0)
    phases = {}
    state = getattr(sim, "state", None)
    runner = getattr(state, "runner", None)
    if runner is not None:
        phases = {k: round(v, 3) for k, v in runner.timings.items()}
    sim.end()
    return counts, phases


def worker(backend, simtime):
    import importlib
    import warnings
    warnings.simplefilter("ignore")
    sim = importlib.import_module(backend)
    t0 = time.perf_counter()
    rates, phases = network(sim, simtime)
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": round(wall, 3), "exc_hz": round(rates["exc"], 3),
                      "inh_hz": round(rates["inh"], 3), "phases_s": phases}))


def run_worker(python, backend, simtime):
    t0 = time.perf_counter()
    env = dict(os.environ)
    env.pop("PYTHONPATH", None) if python == NEST_PYTHON else None
    out = subprocess.run([python, os.path.abspath(__file__), "--worker", backend,
                          "--simtime", str(simtime)], capture_output=True, text=True,
                         env=env, cwd=os.environ.get("TMPDIR", "/tmp"))
    total = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit("%s worker failed (exit %d):\n%s" % (backend, out.returncode,
                                                               out.stderr[-3000:]))
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1]
    res = json.loads(line)
    res["process_s"] = round(total, 3)
    return res


def mean_of(runs):
    out = dict(runs[-1])
    for key in ("wall_s", "process_s"):
        out[key] = round(sum(r[key] for r in runs) / len(runs), 3)
    if len(runs) > 1:
        out["wall_s_runs"] = [r["wall_s"] for r in runs]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--simtime", type=float, default=5000.0)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--nest-python", default=NEST_PYTHON)
    ap.add_argument("--only", choices=("emu", "nest"))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.simtime)
        return
    result = {"bench": "seed_ei", "neurons": 625, "simtime_ms": args.simtime}
    if args.only != "nest":
        result["emu"] = mean_of([run_worker(sys.executable, "spinnaker_emu.pynn", args.simtime)
                                 for _ in range(args.reps)])
    if args.only != "emu":
        result["nest"] = mean_of([run_worker(args.nest_python, "pyNN.nest", args.simtime)
                                  for _ in range(args.reps)])
    if "emu" in result and "nest" in result:
        result["ratio"] = round(result["emu"]["wall_s"] / result["nest"]["wall_s"], 2)
        result["process_ratio"] = round(result["emu"]["process_s"] /
                                        result["nest"]["process_s"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
