"""Makes docs/view.png, the README's picture of ``spinnaker-emu view``: three SpiNN-5
boards as a triad with boards/spin5-faulty.toml's faults on the first (chip 7,7 dead,
the link 3,3 E down), the built-in test app running on a few chips, another waiting
for its start signal, one core in RTE, and multicast traffic along a row of chips.

    .venv/bin/python docs/view_screenshot.py [--ip 127.0.4.1] [--out docs/view.png]

Needs Debian's chromium and playwright (the test extra).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from spinnaker_emu.apps.image import AppImage
from spinnaker_emu.board.boards import consecutive_ips
from spinnaker_emu.board.launcher import start_board
from spinnaker_emu.host.apps import counter_config, load_app, load_routes, source_config
from spinnaker_emu.host.transceiver import Transceiver
from spinnaker_emu.protocol.constants import CPUState, Signal

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ip", default="127.0.4.1")
    ap.add_argument("--out", default=os.path.join(HERE, "view.png"))
    args = ap.parse_args()
    ips = consecutive_ips(args.ip, 3)
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write("version = 5\ntriads = [1, 1]\ndead_chips = [[7, 7]]\ndead_links = [[3, 3, 0]]\n"
                "[boards]\n" + "".join('"0,0,%d" = "%s"\n' % (z, ip) for z, ip in enumerate(ips)))
    board = start_board(ips[0], 5, f.name)
    view = None
    try:
        tx = Transceiver(ips[0])
        tx.execute_flood({(1, 1): [1, 2, 3, 4], (9, 6): [1, 2, 3], (6, 10): [1, 2]},
                         AppImage("test", "demo").pack(), 30)
        tx.execute_flood({(10, 9): [1, 2, 3, 4, 5, 6]}, AppImage("test", "later").pack(), 31, wait=True)
        tx.execute_flood({(5, 2): [7]}, AppImage("mc_source", "broken").pack(), 33)   # no regions: RTE
        conn = tx.conn
        row = [(x, 0) for x in range(6)]                     # (0,0) east to (5,0)
        for xy in row[:-1]:
            load_routes(conn, xy[0], xy[1], [(0x50000000, 0xFFFF0000, 1 << 0)], 32)
        load_routes(conn, 5, 0, [(0x50000000, 0xFFFF0000, 1 << (6 + 1))], 32)
        sends = [(t, 0x50000000 | t) for t in range(30000)]
        load_app(conn, 0, 0, 3, "mc_source", source_config(sends), 32, None, time_scale=1.0)
        load_app(conn, 5, 0, 1, "mc_counter", counter_config(16), 32, None, time_scale=1.0)
        tx.wait_for_cores({(0, 0): [3], (5, 0): [1]}, CPUState.SYNC0, timeout=10)
        tx.send_signal(32, Signal.SYNC0)
        view = subprocess.Popen([sys.executable, "-m", "spinnaker_emu.cli", "view", "--ip", ips[0],
                                 "--port", "0", "--interval", "0.5"], stdout=subprocess.PIPE)
        url = view.stdout.readline().decode().split()[2]
        from playwright.sync_api import sync_playwright
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 860})
            page.goto(url)
            page.wait_for_function("window.lastSnapshot && window.lastSnapshot.run"
                                   " && window.lastSnapshot.run.tick_rate > 0", timeout=30000)
            time.sleep(4)                                   # every chip polled twice: rates
            page.click("[data-core='5,2,7']")
            page.wait_for_selector("#iobuf")
            page.mouse.move(5, 500)                         # no tooltip in the picture
            page.screenshot(path=args.out)
            browser.close()
        from PIL import Image                               # a small PNG for the README
        Image.open(args.out).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(args.out, optimize=True)
        print("wrote", args.out, os.path.getsize(args.out), "bytes")
        for app in (30, 31, 32, 33):
            tx.send_signal(app, Signal.STOP)
        tx.close()
    finally:
        if view:
            view.terminate()
            view.wait()
        board.stop()
        os.unlink(f.name)


if __name__ == "__main__":
    main()
