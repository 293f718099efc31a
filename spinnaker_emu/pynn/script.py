"""``spinnaker-emu run SCRIPT.py [args...]``: run a PyNN script (one that imports
spinnaker_emu.pynn, or pyNN.spiNNaker through our alias) in its own directory and
say where its outputs went (files it wrote, the reports folder)."""
import os
import runpy
import sys
import time
import traceback


def user_errors():
    """What a script's user can fix from the message alone: SpiNNaker limits, PyNN usage,
    the cfg, the machine or allocator being absent, files. Anything else is a bug in the
    script or here, and keeps its traceback."""
    import configparser
    import pyNN.errors
    from ..board.launcher import BoardError
    from ..mapping import MappingError
    from ..spalloc.client import SpallocError
    from .config import ConfigError
    from .runner import SpiNNakerRunError
    pynn = tuple(c for c in vars(pyNN.errors).values()
                 if isinstance(c, type) and issubclass(c, Exception))
    return (MappingError, SpiNNakerRunError, BoardError, SpallocError, ConfigError,
            configparser.Error, NotImplementedError, OSError) + pynn


def error_line(e, script):
    """One line for a failed script: where in it (the innermost line of the script
    itself) and what."""
    if isinstance(e, KeyboardInterrupt):
        what = "interrupted (Ctrl-C)"
    else:
        what = "%s: %s" % (type(e).__name__, " ".join(str(e).split()))
    if isinstance(e, SyntaxError):
        if e.filename == script:
            return "%s line %s: SyntaxError: %s" % (os.path.basename(script), e.lineno, e.msg)
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == script]
    if frames:
        return "%s line %d: %s" % (os.path.basename(script), frames[-1].lineno, what)
    return what


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
    rc, shortened = _run_script(script, args.debug)
    after = _snapshot(outdir)
    changed = [p for p, m in after.items() if before.get(p) != m]
    new = sorted(p for p in changed if "/reports/" not in p)
    print("\nspinnaker-emu run: %s %s in %.1f s (exit %s%s)" % (
        os.path.basename(script), "finished" if rc == 0 else "failed", time.time() - t0, rc,
        "; --debug shows the traceback" if shortened else ""))
    for p in new:
        print("  wrote %s" % os.path.relpath(p, outdir))
    reports = os.path.join(outdir, "reports", "latest")
    if os.path.exists(reports) and len(new) < len(changed):     # this run wrote one
        print("  reports: %s" % os.path.realpath(reports))
    return rc


def _run_script(script, debug):
    """Run the script: (exit status, whether a failure was told in one line without its
    traceback). A user error or Ctrl-C is one line on stderr (after the traceback with
    ``debug``); the machine is released whatever happens."""
    rc, shortened = 0, False
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except (KeyboardInterrupt, SyntaxError) + user_errors() as e:
        if debug:
            traceback.print_exc()
        print("spinnaker-emu run: %s" % error_line(e, script), file=sys.stderr)
        rc, shortened = (130 if isinstance(e, KeyboardInterrupt) else 1), not debug
    except Exception as e:              # a bug: its traceback is the useful part
        _print_traceback(e, None if debug else script)
        rc = 1
    finally:
        rc = _shutdown(rc)
    return rc, shortened


def _print_traceback(e, script=None):
    """The traceback from the script's first frame on (runpy's and ours say nothing to
    its author), or the whole of it without ``script``."""
    tb = e.__traceback__
    while script and tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    traceback.print_exception(type(e), e, tb or e.__traceback__)


def _shutdown(rc):
    """Stop the script's application and release its machine (a board of its own stops,
    an allocator's job ends). A second Ctrl-C here leaves that to the board, which stops
    when this process exits."""
    from . import simulator
    try:
        simulator.state.shutdown()
    except KeyboardInterrupt:
        print("spinnaker-emu run: interrupted while releasing the machine", file=sys.stderr)
        return 130
    return rc
