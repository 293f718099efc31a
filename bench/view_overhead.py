"""What a page of ``spinnaker-emu view`` left open costs a PyNN run: seed 004 (E-I
balanced, 625 neurons, 5 s of simulated time), runs without and with the view
interleaved, a headless Chromium (Debian's) showing the page through each run "with".

    .venv/bin/python bench/view_overhead.py [--mode standing|run-view] [--reps 3]

--mode standing (default): a board is started and booted once (--ip, default 127.0.4.1)
    and every run uses it (SPINNAKER_EMU_CFG names it); "with" runs have
    `spinnaker-emu view --ip ...` serving and the page open (opened before the run and
    left open through it), "without" runs have neither.
--mode run-view: `spinnaker-emu run SEED` against `spinnaker-emu run --view SEED`, each
    starting its own board; the page is opened as soon as the run prints its URL, so
    the browser's page start-up is part of the run.

The browser is one Chromium context with a blank tab open (a user's browser); the
view opens in a new tab of it.
Each run prints one JSON line: process wall time, the seed's own timings (setup..end
and its run phase), snapshots the page drew, the longest poll, and the CPU seconds
Chromium and the view process used. Then the means and the change.
Needs Debian's chromium and the test extra (playwright).
"""
import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time

SEED = "/work/shared/acceptance/seeds/seed004_ei_balanced.py"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CLI = [sys.executable, "-m", "spinnaker_emu.cli"]


def cpu_seconds(marker):
    """CPU time of the processes whose command line contains ``marker``."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if marker not in f.read():
                    continue
            with open("/proc/%s/stat" % pid) as f:
                st = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(st[11]) + int(st[12])
    return total / os.sysconf("SC_CLK_TCK")


def read_url(proc, timeout=30.0):
    deadline, buf = time.monotonic() + timeout, b""
    while b"http://" not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([proc.stdout], [], [], 0.2)
        if r:
            buf += os.read(proc.stdout.fileno(), 4096)
    return next(w for w in buf.decode().split() if w.startswith("http://"))


def run_seed(seed, env, view_flag, on_url=None, page_of=None):
    """One run of the seed; ``on_url(url)`` when `run --view` prints its URL."""
    cmd = CLI + ["run"] + (["--view", "--view-port", "0"] if view_flag else [])
    with tempfile.TemporaryDirectory() as out:
        cmd += ["--outdir", out, seed, "spinnaker_emu.pynn"]
        t0 = time.monotonic()
        err = open(os.path.join(out, "stderr.txt"), "w+")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                                stdin=subprocess.DEVNULL, env=env)
        lines, buf, asked, page_info = [], b"", 0.0, {}
        while True:
            r, _, _ = select.select([proc.stdout], [], [], 0.1)
            if r:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
                *done, buf = buf.split(b"\n")
                for line in done:
                    text = line.decode(errors="replace")
                    lines.append(text)
                    if on_url and "live view at http://" in text:
                        on_url(text.split()[-1])
            page = page_of() if page_of else None
            if page is not None and time.monotonic() - asked > 1.0:
                asked = time.monotonic()
                try:                           # the page's record of the snapshots it drew
                    page_info = page.evaluate("({n: (window.pollSeconds || []).length,"
                                              " max: Math.max(0, ...(window.pollSeconds || []))})")
                except Exception:
                    pass                       # the view went away with the run
        proc.wait()
        wall = time.monotonic() - t0
        err.seek(0)
        failure = err.read()[-2000:] if proc.returncode else ""
        err.close()
    if failure:
        print(failure, file=sys.stderr)
    result = next((json.loads(x) for x in reversed(lines) if x.startswith("{")), {})
    timing = result.get("timing_s", {})
    return {"process_s": round(wall, 2), "script_s": timing.get("total_in_script"),
            "run_s": timing.get("run"), "snapshots_drawn": page_info.get("n"),
            "poll_s_max": page_info.get("max"), "ok": proc.returncode == 0 and bool(result)}


def standing(args, browser):
    from spinnaker_emu.board.launcher import start_board
    from spinnaker_emu.host.scp import boot_board
    board = start_board(args.ip, 5)
    cfg = tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False)
    cfg.write("[Machine]\nmachine_name = %s\nversion = 5\n" % args.ip)
    cfg.close()
    env = dict(os.environ, SPINNAKER_EMU_CFG=cfg.name)
    runs = []
    try:
        boot_board(args.ip, 5)
        for _ in range(args.reps):
            for with_view in (False, True):
                view = page = None
                if with_view:
                    view = subprocess.Popen(CLI + ["view", "--ip", args.ip, "--port", "0"],
                                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
                    page = browser.new_page()
                    page.goto(read_url(view))
                    page.wait_for_function("window.pollSeconds && window.pollSeconds.length > 1")
                c0 = cpu_seconds(b"chromium")
                v0 = cpu_seconds(b"view\0--ip") if view else 0.0
                b0 = cpu_seconds(b"supervisor\0--ip\0" + args.ip.encode() + b"\0")
                r = run_seed(args.seed, env, False, page_of=lambda: page)
                r["board_cpu_s"] = round(cpu_seconds(b"supervisor\0--ip\0" + args.ip.encode() + b"\0") - b0, 2)
                r["chromium_cpu_s"] = round(cpu_seconds(b"chromium") - c0, 2)
                r["view_cpu_s"] = round(cpu_seconds(b"view\0--ip") - v0, 2) if view else 0.0
                r["view"] = with_view
                if view:
                    page.close()
                    view.terminate()
                    view.wait()
                    view.stdout.close()
                print(json.dumps(r), flush=True)
                runs.append(r)
    finally:
        board.stop()
        os.unlink(cfg.name)
    return runs


def run_view(args, browser):
    runs = []
    for _ in range(args.reps):
        for with_view in (False, True):
            holder = {}
            c0 = cpu_seconds(b"chromium")
            r = run_seed(args.seed, dict(os.environ), with_view,
                         on_url=lambda url: holder.update(page=_open(browser, url)),
                         page_of=lambda: holder.get("page"))
            r["chromium_cpu_s"] = round(cpu_seconds(b"chromium") - c0, 2)
            r["view"] = with_view
            if holder.get("page"):
                holder["page"].close()
            print(json.dumps(r), flush=True)
            runs.append(r)
    return runs


def _open(browser, url):
    page = browser.new_page()
    page.goto(url)
    return page


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("standing", "run-view"), default="standing")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", default=SEED)
    ap.add_argument("--ip", default="127.0.4.1", help="standing mode: the board's address")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        # a user's browser: one context with a tab already open; the view opens in a new
        # tab (playwright's browser.new_page() would start a whole new context per page)
        browser = chromium.new_context()
        browser.new_page().goto("about:blank")
        try:
            runs = (standing if args.mode == "standing" else run_view)(args, browser)
        finally:
            chromium.close()
    pairs = [(a, b) for a, b in zip(runs[0::2], runs[1::2]) if a["ok"] and b["ok"]]
    for key in ("process_s", "script_s", "run_s"):
        changes = [100.0 * (b[key] - a[key]) / a[key] for a, b in pairs if a[key] and b[key]]
        if changes:
            print("%-10s change per pair (with - without, run after run): median %+5.1f %%  [%s]"
                  % (key, statistics.median(changes), " ".join("%+.0f" % c for c in changes)))
    for key in ("board_cpu_s", "chromium_cpu_s", "view_cpu_s"):
        off = [r[key] for r in runs if not r["view"] and r.get(key) is not None]
        on = [r[key] for r in runs if r["view"] and r.get(key) is not None]
        if off and on:
            print("%-14s CPU s per run: without view %.2f, with view %.2f"
                  % (key, statistics.mean(off), statistics.mean(on)))
    for key in ("process_s", "script_s", "run_s"):
        off = [r[key] for r in runs if not r["view"] and r[key] is not None]
        on = [r[key] for r in runs if r["view"] and r[key] is not None]
        if off and on:
            a, b = statistics.mean(off), statistics.mean(on)
            print("%-10s without view %6.2f s  with view %6.2f s  change %+5.1f %%   "
                  "(medians %.2f / %.2f)" % (key, a, b, 100.0 * (b - a) / a,
                                             statistics.median(off), statistics.median(on)))


if __name__ == "__main__":
    main()
