"""``spinnaker-emu run SCRIPT.py [args...]``: run a PyNN script (one that imports
spinnaker_emu.pynn, or pyNN.spiNNaker through our alias) in its own directory and
say where its outputs went (files it wrote, the reports folder)."""
import os
import runpy
import sys
import time


def add_arguments(p):
    p.add_argument("script", help="a PyNN script (import spinnaker_emu.pynn as sim)")
    p.add_argument("script_args", nargs="...", help="arguments passed to the script")
    p.add_argument("--outdir", default=None,
                   help="directory to run in (default: the current directory)")


def _snapshot(d):
    out = {}
    for root, _dirs, files in os.walk(d):
        if os.path.basename(root) == "__pycache__":
            continue
        for f in files:
            path = os.path.join(root, f)
            try:
                out[path] = os.stat(path).st_mtime
            except OSError:
                pass
    return out


def cmd_run(args):
    script = os.path.abspath(args.script)
    if not os.path.exists(script):
        print("spinnaker-emu run: no such script %s" % script, file=sys.stderr)
        return 2
    outdir = os.path.abspath(args.outdir or os.getcwd())
    os.makedirs(outdir, exist_ok=True)
    os.chdir(outdir)
    before = _snapshot(outdir)
    t0 = time.time()
    sys.argv = [script] + list(args.script_args)
    sys.path.insert(0, os.path.dirname(script))
    import matplotlib
    matplotlib.use("Agg")
    rc = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        from . import simulator
        simulator.state.shutdown()
    after = _snapshot(outdir)
    new = sorted(p for p, m in after.items() if before.get(p) != m and "/reports/" not in p)
    print("\nspinnaker-emu run: %s finished in %.1f s (exit %s)" % (
        os.path.basename(script), time.time() - t0, rc))
    for p in new:
        print("  wrote %s" % os.path.relpath(p, outdir))
    reports = os.path.join(outdir, "reports", "latest")
    if os.path.exists(reports):
        print("  reports: %s" % os.path.realpath(reports))
    return rc
