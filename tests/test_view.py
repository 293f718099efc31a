"""``spinnaker-emu view`` against real boards: the page in a real headless browser
(Debian's Chromium through playwright), ``GET /api/machine`` on a faulty 3-board
machine, ``run --view``, and CLI mistakes as one line.

The browser test saves its screenshot as tests/artifacts/view.png."""
import json
import os
import select
import subprocess
import sys
import time
import tomllib
import urllib.request

import pytest

from conftest import fresh_ip
from spinnaker_emu.apps.image import AppImage
from spinnaker_emu.board.launcher import start_board
from spinnaker_emu.host.apps import counter_config, load_app, load_routes, source_config
from spinnaker_emu.host.scp import boot_board
from spinnaker_emu.host.transceiver import Transceiver
from spinnaker_emu.protocol.constants import CPUState, Signal

HERE = os.path.dirname(os.path.abspath(__file__))
ARTIFACTS = os.path.join(HERE, "artifacts")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
N = 2                      # link north


def _read_line(proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf and time.monotonic() < deadline:
        r, _, _ = select.select([proc.stdout], [], [], 0.2)
        if r:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
    return buf.decode(errors="replace")


class View:
    """`spinnaker-emu view` as its own process, as a user starts it."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, "-m", "spinnaker_emu.cli", "view", "--port", "0",
                                      "--interval", "0.5", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = _read_line(self.proc)
        if "http://" not in line:
            self.stop()
            raise AssertionError("view did not start: %r %r" % (line, self.proc.stderr.read()))
        self.url = line.split()[2]

    def get(self, path):
        with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=20) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (.ci/run installs it)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _page_counts(page):
    return page.evaluate("""() => {
        const n = {};
        for (const r of document.querySelectorAll('rect.core:not(.monitor)'))
            n[r.dataset.state] = (n[r.dataset.state] || 0) + 1;
        return n; }""")


def _wait_counts(page, want, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        got = _page_counts(page)
        if all(got.get(k, 0) == v for k, v in want.items()) or time.monotonic() > deadline:
            return got
        page.wait_for_timeout(200)


def test_page_shows_the_board_its_core_states_and_live_changes(make_board, browser):
    b = make_board()
    tx = Transceiver(b.ip)
    view = None
    try:
        tx.execute_flood({(1, 1): [1, 2, 3, 4]}, AppImage("test", "demo").pack(), 30)      # RUN
        tx.execute_flood({(2, 2): [5, 6]}, AppImage("test", "late").pack(), 31, wait=True)  # WAIT
        # traffic: a source on (0,0) sends one key a tick north to a counter on (0,1)
        conn = b.conn
        load_routes(conn, 0, 0, [(0x50000000, 0xFFFF0000, 1 << N)], 32)
        load_routes(conn, 0, 1, [(0x50000000, 0xFFFF0000, 1 << (6 + 1))], 32)
        sends = [(t, 0x50000000 | t) for t in range(20000)]
        load_app(conn, 0, 0, 3, "mc_source", source_config(sends), 32, None, time_scale=1.0)
        load_app(conn, 0, 1, 1, "mc_counter", counter_config(16), 32, None, time_scale=1.0)
        tx.wait_for_cores({(0, 0): [3], (0, 1): [1]}, CPUState.SYNC0, timeout=10)
        tx.send_signal(32, Signal.SYNC0)
        tx.wait_for_cores({(1, 1): [1, 2, 3, 4], (0, 0): [3], (0, 1): [1]}, CPUState.RUN, timeout=10)
        tx.wait_for_cores({(2, 2): [5, 6]}, CPUState.WAIT, timeout=10)

        view = View("--ip", b.ip)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(view.url)
        page.wait_for_function("document.querySelectorAll('[data-chip]').length == 48", timeout=20000)
        assert page.evaluate("document.querySelectorAll('[data-chip][data-dead]').length") == 0
        app_cores = 48 * 17
        got = _wait_counts(page, {"RUN": 6, "WAIT": 2})
        assert got == {"RUN": 6, "WAIT": 2, "IDLE": app_cores - 8}, got
        legend = page.evaluate("Object.fromEntries([...document.querySelectorAll('[data-state-count]')]"
                               ".map(e => [e.dataset.stateCount, +e.dataset.count]))")
        assert legend == got
        # traffic on (0,0)'s north link, and the run header from the source's progress words
        page.wait_for_function("""() => { const s = window.lastSnapshot; if (!s || !s.run) return false;
            const c = s.chips.find(c => c.x == 0 && c.y == 0);
            const l = c.links.find(l => l.link == 2);
            return l.mc_rate > 100 && s.run.tick_rate > 100; }""", timeout=20000)
        assert "ticks done" in page.inner_text("#run")
        assert page.get_attribute("[data-link='0,0,2']", "stroke") not in (None, "#ccc", "#bbb")

        # a state change appears without a reload
        page.evaluate("window.notReloaded = true")
        tx.send_signal(31, Signal.START)
        got = _wait_counts(page, {"RUN": 8, "WAIT": 0})
        assert got == {"RUN": 8, "IDLE": app_cores - 8}, got
        assert page.evaluate("window.notReloaded") is True

        # click a core: its IOBUF and vcpu words
        page.click("[data-core='1,1,2']")
        page.wait_for_selector("#iobuf", timeout=10000)
        assert "Test app started on 1, 1, 2." in page.inner_text("#iobuf")
        assert page.inner_text("[data-field='state']").split()[-1] == "RUN"
        assert page.inner_text("[data-field='rt_code']").split()[1] == "NONE"
        page.click("[data-core='1,1,3']")            # deselect the first one for the picture
        page.wait_for_function("(document.querySelector('#detail h3') || {}).textContent == 'core 1,1,3'")
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, "view.png")
        page.screenshot(path=shot)
        assert os.path.getsize(shot) > 10000
        tx.send_signal(30, Signal.STOP)
        tx.send_signal(31, Signal.STOP)
        tx.send_signal(32, Signal.STOP)
    finally:
        if view:
            view.stop()
        tx.close()


def test_api_machine_on_three_boards_marks_the_dead_chip_and_link(tmp_path):
    with open(os.path.join(HERE, "..", "boards", "spin5-faulty.toml"), "rb") as f:
        faults = tomllib.load(f)                  # (7,7) dead, link (3,3) E down
    ips = [fresh_ip() for _ in range(3)]
    machine = tmp_path / "triad-faulty.toml"
    machine.write_text("version = 5\ntriads = [1, 1]\ndead_chips = %s\ndead_links = %s\n[boards]\n%s" % (
        json.dumps(faults["dead_chips"]), json.dumps(faults["dead_links"]),
        "".join('"0,0,%d" = "%s"\n' % (z, ip) for z, ip in enumerate(ips))))
    handle = start_board(ips[0], 5, str(machine))
    view = None
    try:
        boot_board(ips[0], 5)
        view = View("--ip", ips[0])
        snap = view.get("/api/machine")
        assert snap["n_chips"] == 144 and len(snap["chips"]) == 144
        assert snap["n_dead"] == 1 and snap["n_live"] == 143
        assert len(snap["boards"]) == 3 and {b["ip"] for b in snap["boards"]} == set(ips)
        chips = {(c["x"], c["y"]): c for c in snap["chips"]}
        assert chips[(7, 7)]["dead"] and "cores" not in chips[(7, 7)]
        assert {l["state"] for l in chips[(7, 7)]["links"]} == {"dead"}
        assert snap["states"] == {"IDLE": 143 * 17}
        for (x, y), c in chips.items():
            if c["dead"]:
                continue
            assert len(c["cores"]) == 18 and c["cores"][0]["state"] == "RUN"       # the monitor
            assert len(c["links"]) == 6                                    # a torus: six each
            assert set(c["router"]) >= {"mc", "mc_rate", "dropped", "dropped_rate", "counters"}
            assert all("mc" in l for l in c["links"])                     # emulator: per link
            for l in c["links"]:
                dead = (x, y, l["link"]) in {(3, 3, 0), (4, 3, 3)} or \
                    (x, y, l["link"]) in {(6, 7, 0), (7, 6, 2), (6, 6, 1), (8, 7, 3), (8, 8, 4), (7, 8, 5)}
                assert l["state"] == ("dead" if dead else "up"), (x, y, l)
        # second poll: rates exist (zero: nothing runs)
        deadline = time.monotonic() + 20
        while True:            # idle chips are asked in turn: (0,0) again within a few polls
            c = next(c for c in snap["chips"] if (c["x"], c["y"]) == (0, 0))
            if c["router"]["mc_rate"] is not None or time.monotonic() > deadline:
                break
            time.sleep(0.3)
            snap = view.get("/api/machine")
        assert c["router"]["mc_rate"] == 0 and c["links"][0]["mc_rate"] == 0
        core = view.get("/api/core/8/4/0")          # another board's Ethernet chip's monitor
        assert core["state"] == "RUN" and core["app_name"].startswith("scamp")
    finally:
        if view:
            view.stop()
        handle.stop()


def test_run_view_prints_the_url_of_the_scripts_machine(tmp_path):
    script = tmp_path / "net.py"
    script.write_text(
        "import time\nimport spinnaker_emu.pynn as sim\n"
        "sim.setup(timestep=1.0)\n"
        "src = sim.Population(4, sim.SpikeSourceArray(spike_times=[5, 10]))\n"
        "cells = sim.Population(8, sim.IF_curr_exp())\n"
        "sim.Projection(src, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=2.0))\n"
        "sim.run(50)\n"
        "print('RAN', flush=True)\n"
        "time.sleep(4)\n"              # the test reads the view meanwhile
        "sim.end()\n")
    proc = subprocess.Popen([sys.executable, "-m", "spinnaker_emu.cli", "run", "--view", "--view-port", "0",
                             "--outdir", str(tmp_path), str(script)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        out = ""
        deadline = time.monotonic() + 120
        while not ("RAN" in out and "live view at http://" in out) and time.monotonic() < deadline \
                and proc.poll() is None:
            out += _read_line(proc, 5)
        url = next(w for w in out.split() if w.startswith("http://"))
        deadline = time.monotonic() + 10
        while True:                    # snapshots are at most one poll interval old
            with urllib.request.urlopen(url + "api/machine", timeout=20) as r:
                snap = json.loads(r.read())
            if snap.get("states", {}).get("PAUSE") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert snap["n_live"] == 48
        assert snap["states"].get("PAUSE", 0) >= 2       # the two cores, paused after run(50)
        assert snap["run"]["ticks"] == 50
        assert proc.wait(60) == 0
        with pytest.raises(OSError):                      # the view went with the run
            urllib.request.urlopen(url + "api/machine", timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_view_mistakes_are_one_line(make_board):
    def one_line(*argv):
        p = subprocess.run([sys.executable, "-m", "spinnaker_emu.cli", "view", *argv],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode != 0 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
        return p.stderr

    assert "no booted machine answers" in one_line("--ip", fresh_ip(), "--port", "0")
    assert "not an IPv4 address" in one_line("--ip", "127.0.3.300")
    b = make_board()
    view = View("--ip", b.ip)
    try:
        port = view.url.rstrip("/").rsplit(":", 1)[1]
        assert "Address already in use" in one_line("--ip", b.ip, "--port", port)
    finally:
        view.stop()


def test_view_of_a_spalloc_job(tmp_path):
    from test_spalloc import Cluster, machine_dict, net
    from spinnaker_emu.spalloc.client import create_job
    c = Cluster([machine_dict("m", net(13), 1, 1)], real=True)
    job = view = None
    try:
        job = create_job("127.0.0.1", c.port, 1, owner="pytest").wait_until_ready(timeout=60)
        boot_board(job.hostname, 5)                     # a viewer never boots a machine
        view = View("--spalloc-job", str(job.id), "--spalloc-port", str(c.port))
        snap = view.get("/api/machine")
        assert snap["host"] == job.hostname and snap["n_live"] == 48
        assert snap["states"] == {"IDLE": 48 * 17}
    finally:
        if view:
            view.stop()
        if job:
            job.destroy()
        c.close()
