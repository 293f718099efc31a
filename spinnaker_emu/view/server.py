"""The aiohttp app of ``spinnaker-emu view``: one static page, the snapshot as JSON and
a WebSocket that pushes each new snapshot to every open page.

    GET /                    static/index.html (plain JavaScript + SVG, no build step)
    GET /api/machine         the latest snapshot (polled now if older than the interval)
    GET /api/core/X/Y/P      one core: vcpu_t fields and IOBUF
    GET /ws                  a snapshot per poll, as JSON text messages

Poll budget: the machine is polled only while a page is open or the API was asked in
the last IDLE_AFTER seconds, at most once per ``interval`` and never sooner than BUDGET
times the last poll's own duration after it (per chip, for the chips the next poll
asks: MachineSnapshot.next_poll_s): a busy machine answers slowly and so is asked less. SCP is blocking: every SCP exchange runs on one worker thread, in turn.

The machine can come later (``run --view``: the page is up while the script still
imports; ``attach`` is a blocking callable that returns the MachineSnapshot).
"""
import asyncio
import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web, WSMsgType

from ..host.scp import SCPError, SCPTimeout

STATIC = os.path.join(os.path.dirname(__file__), "static")
IDLE_AFTER = 10.0
BUDGET = 20          # pause >= BUDGET x the next poll's expected duration (the machine's share <= 5 %)
FAILURES = (SCPError, SCPTimeout, OSError)


class ViewServer:
    def __init__(self, snapshot=None, interval=1.0, exit_with=None, attach=None):
        self.ms = snapshot
        self.attach = attach
        self.interval = interval
        self.exit_with = exit_with
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scp")
        self.sockets = set()
        self.latest = None if snapshot else {"waiting": "waiting for the machine", "time": time.time()}
        self.latest_at = 0.0
        self.asked_at = 0.0
        self.wake = None
        self.lock = None
        self.tasks = []

    def app(self):
        app = web.Application()
        app.router.add_get("/", self.index)
        app.router.add_get("/api/machine", self.api_machine)
        app.router.add_get("/api/core/{x:\\d+}/{y:\\d+}/{p:\\d+}", self.api_core)
        app.router.add_get("/ws", self.websocket)
        app.router.add_static("/static/", STATIC)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    # ------------------------------------------------------------------ polling
    async def _start(self, _app):
        self.wake = asyncio.Event()
        self.lock = asyncio.Lock()
        self.tasks = [asyncio.ensure_future(self._poller())]
        if self.exit_with:
            self.tasks.append(asyncio.ensure_future(self._watch_parent()))

    async def _stop(self, _app):
        for t in self.tasks:
            t.cancel()
        for ws in list(self.sockets):
            await ws.close()
        self.pool.shutdown(wait=False)

    async def _watch_parent(self):
        while _alive(self.exit_with):
            await asyncio.sleep(1.0)
        os._exit(0)                          # the run that opened the view has ended

    async def _attach(self):
        loop = asyncio.get_running_loop()
        try:
            self.ms = await loop.run_in_executor(self.pool, self.attach)
        except FAILURES as e:
            self.latest = {"time": time.time(), "error": "the machine does not answer: %s" % e}
            return
        if self.ms is None:                   # told there is no machine after all
            os._exit(0)
        # A first full poll now, while the machine is still idle (before a run loads)
        await self._poll_once()
        await self._broadcast()

    async def _poll_once(self):
        async with self.lock:
            loop = asyncio.get_running_loop()
            try:
                snap = await loop.run_in_executor(self.pool, self.ms.poll)
            except FAILURES as e:
                snap = {"host": self.ms.host, "time": time.time(),
                        "error": "machine not answering: %s" % e}
            self.latest, self.latest_at = snap, time.monotonic()
            return snap

    async def _broadcast(self):
        text = json.dumps(self.latest)
        for ws in list(self.sockets):
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                self.sockets.discard(ws)

    async def _poller(self):
        if self.ms is None:
            await self._attach()
        while True:
            pause = 1.0
            watched = self.sockets or time.monotonic() - self.asked_at < IDLE_AFTER
            if self.ms is not None and watched:
                if time.monotonic() - self.latest_at >= self.interval:
                    await self._poll_once()
                    await self._broadcast()
                pause = max(self.interval, BUDGET * self.ms.next_poll_s())
                if "error" in self.latest:
                    pause = max(pause, 2.0)
                pause = max(0.0, self.latest_at + pause - time.monotonic())
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), pause)
            except asyncio.TimeoutError:
                pass

    # ------------------------------------------------------------------ handlers
    async def index(self, _request):
        return web.FileResponse(os.path.join(STATIC, "index.html"))

    async def api_machine(self, _request):
        if time.monotonic() - self.asked_at >= IDLE_AFTER and not self.sockets:
            self.wake.set()                  # the poller was idle: keep this reader served
        self.asked_at = time.monotonic()
        if self.ms is not None and time.monotonic() - self.latest_at > self.interval:
            await self._poll_once()
        return web.json_response(self.latest)

    async def api_core(self, request):
        if self.ms is None:
            return web.json_response({"error": "no machine yet"}, status=503)
        x, y, p = (int(request.match_info[k]) for k in "xyp")
        loop = asyncio.get_running_loop()
        try:
            detail = await loop.run_in_executor(self.pool, self.ms.core_detail, x, y, p)
        except FAILURES as e:
            return web.json_response({"error": str(e)}, status=502)
        return web.json_response(detail)

    async def websocket(self, request):
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        self.sockets.add(ws)
        if self.latest is not None:
            await ws.send_str(json.dumps(self.latest))
        self.wake.set()                      # poll now if the last one is old
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.sockets.discard(ws)
        return ws


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def bind_socket(bind, port):
    """The listening socket, bound here so a port in use is an OSError the CLI reports
    in one line, and port 0 (any free port) tells which port it got."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((bind, port))
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


async def serve(server, sock, ready=None):
    """Serve on ``sock`` until cancelled; ``ready(url)`` once it accepts connections."""
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        host, port = sock.getsockname()[:2]
        if ready:
            ready("http://%s:%d/" % (host, port))
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
