"""The spalloc server over real TCP, with BMPs (UDP SCP) powering the boards.

The protocol tests use "idle boards" (a board's UDP ports bound in this process:
powered, never booted) with the BMPs in this process, reached by the server only
through SCP on loopback.  The fifty-client test runs the whole chain: the server
spawns BMP processes which start real emulated boards.  Booting a powered board
is in test_spalloc_power.py.
"""
import json
import os
import random
import socket
import threading
import time

import pytest

from spinnaker_emu.board.bmp import BMPServer
from spinnaker_emu.protocol.constants import SCP_PORT
from spinnaker_emu.spalloc import SpallocServer, config_from_dict, ConfigError

from conftest import IdleBoard

QUEUED, POWER, READY, DESTROYED = 1, 2, 3, 4


def net(k):
    """A /24 of loopback addresses for this test process only (127.N.200+k.x), so
    parallel runs, host/spalloc.toml (127.0.2.x) and other boards never clash."""
    return "127.%d.%d" % (1 + os.getpid() % 250, 200 + k)


def machine_dict(name, prefix, width, height, tags=("default",), dead=()):
    """width x height triads, one frame (and BMP) per triad: BMP prefix.(10f),
    boards prefix.(10f+1+z)."""
    bmps, boards = [], []
    for y in range(height):
        for x in range(width):
            f = y * width + x
            bmps.append({"cabinet": 0, "frame": f, "ip": "%s.%d" % (prefix, 10 * f + 10)})
            for z in range(3):
                boards.append({"x": x, "y": y, "z": z, "cabinet": 0, "frame": f, "board": z,
                               "ip": "%s.%d" % (prefix, 10 * f + 11 + z)})
    return {"name": name, "tags": list(tags), "width": width, "height": height,
            "dead_boards": [list(d) for d in dead], "dead_links": [], "bmps": bmps,
            "boards": boards}


class Cluster:
    """A server for ``machines`` and its BMPs.  ``real``: the server starts each
    frame's BMP as a child process that powers real emulated boards (48 chip
    processes each); otherwise the BMPs run here with idle boards."""

    def __init__(self, machines, real=False, **server):
        data = {"server": dict({"ip": "127.0.0.1", "port": 0, "start_bmps": real,
                                "timeout_check_interval": 0.1}, **server),
                "machine": machines}
        self.config = config_from_dict(data)
        self.board_ips = [b.ip for m in self.config.machines for b in m.boards.values()]
        self.bmps = []
        self.server = None
        try:
            for m in self.config.machines if not real else []:
                for (cab, frame), ip in m.bmps.items():
                    boards = {b.board: b.ip for b in m.boards.values()
                              if (b.cabinet, b.frame) == (cab, frame)}
                    self.bmps.append(BMPServer(ip, boards, cab, frame,
                                               board_factory=IdleBoard).start())
            self.server = SpallocServer(self.config).start()
        except BaseException:
            self.close()
            raise
        self.port = self.server.address[1]

    def powered(self):
        """Boards whose SCP port is bound: the ones that are switched on."""
        return {ip for ip in self.board_ips if port_bound(ip)}

    def close(self):
        if self.server is not None:
            self.server.stop()
        for b in self.bmps:
            b.close()


def port_bound(ip, port=SCP_PORT):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((ip, port))
        return False
    except OSError:
        return True
    finally:
        s.close()


class Client:
    """A raw line-JSON client: requests, replies and queued notifications."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.notes = []

    def _line(self, timeout):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def raw(self, data, timeout=10.0):
        self.sock.sendall(data)
        while True:
            obj = self._line(timeout)
            if "return" in obj or "exception" in obj:
                return obj
            self.notes.append(obj)

    def call(self, command, *args, **kwargs):
        reply = self.raw((json.dumps({"command": command, "args": list(args),
                                      "kwargs": kwargs}) + "\n").encode())
        if "exception" in reply:
            raise RuntimeError(reply["exception"])
        return reply["return"]

    def create(self, *args, owner="tester", keepalive=60.0, **kw):
        full = dict(owner=owner, keepalive=keepalive, machine=None, tags=None, min_ratio=0.333,
                    max_dead_boards=0, max_dead_links=None, require_torus=False)
        full.update(kw)
        return self.call("create_job", *args, **full)

    def wait_note(self, timeout):
        if self.notes:
            return self.notes.pop(0)
        try:
            return self._line(timeout)
        except socket.timeout:
            return None

    def wait_state(self, job_id, states, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.call("get_job_state", job_id)
            if st["state"] in states:
                return st
            time.sleep(0.02)
        raise AssertionError("job %d still %r" % (job_id, st))

    def close(self):
        self.sock.close()


@pytest.fixture
def cluster():
    c = Cluster([machine_dict("m2x1", net(4), 2, 1),
                 machine_dict("tiny", net(5), 1, 1, tags=("small",), dead=[(0, 0, 2)])])
    try:
        yield c
    finally:
        c.close()
    assert not c.powered()


@pytest.fixture
def client(cluster):
    c = Client(cluster.port)
    yield c
    c.close()


# --------------------------------------------------------------------- protocol
def test_version_and_machines(client):
    assert client.call("version") == "5.0.0"
    ms = client.call("list_machines")
    assert [m["name"] for m in ms] == ["m2x1", "tiny"]
    assert ms[0] == {"name": "m2x1", "tags": ["default"], "width": 2, "height": 1,
                     "dead_boards": [], "dead_links": []}
    assert ms[1]["dead_boards"] == [[0, 0, 2]]


def test_bad_input_gets_exceptions_and_no_phantom_jobs(cluster, client):
    bad = [b"not json\n", b"[1, 2]\n", b"{}\n", b'{"command": 5}\n',
           b'{"command": "no_such_command", "args": [], "kwargs": {}}\n',
           b'{"command": "get_job_state", "args": "x", "kwargs": {}}\n',
           b'{"command": "get_job_state", "args": ["1"], "kwargs": {}}\n',
           b'{"command": "get_job_state", "args": [true], "kwargs": {}}\n',
           b'{"command": "__init__", "args": [], "kwargs": {}}\n',
           b'\xff\xfe\n', b"[" * 100000 + b"\n",
           b'{"command": "create_job", "args": [1e400], "kwargs": {"owner": "x"}}\n',
           b'{"command": "create_job", "args": [' + b"9" * 500 + b'], "kwargs": {"owner": "x"}}\n',
           b'{"command": "where_is", "args": [], "kwargs": {"job_id": 1, "chip_x": "a", "chip_y": 0}}\n',
           b'{"command": "destroy_job", "args": [1], "kwargs": {"reason": 5}}\n']
    for line in bad:
        assert "exception" in client.raw(line), line
    # blank lines are skipped, \r\n endings accepted: the one reply is the version's
    assert client.raw(b'\n\r\n{"command": "version"}\r\n') == {"return": "5.0.0"}
    failing = [((1,), dict(owner=None)), ((1,), dict(owner=3)),
               (("a",), {}), ((1.5,), {}), ((1, 2, 3, 4), {}), ((0,), {}), ((-1, 0, 0), {}),
               ((1,), dict(require_torus=True)), ((0, 0, 0), dict(require_torus=True)),
               ((1,), dict(machine="m2x1", tags=["default"])), ((1,), dict(keepalive="x")),
               ((1,), dict(tags="default")), ((1,), dict(bogus=1)),
               ((1,), dict(max_dead_boards=-1)), ((1,), dict(min_ratio="x"))]
    for args, kw in failing:
        with pytest.raises(RuntimeError):
            client.create(*args, **kw)
    assert client.call("list_jobs") == []
    # a request nothing can ever satisfy gets an id, already destroyed
    for args, kw in [((9, 9), {}), ((1,), dict(machine="nope")), ((1,), dict(tags=["x"])),
                     ((5, 0, 0), {}), ((0, 0, 2), dict(machine="tiny")),
                     ((4,), dict(machine="tiny"))]:
        jid = client.create(*args, **kw)
        st = client.call("get_job_state", jid)
        assert st["state"] == DESTROYED
        assert st["reason"] == "Cancelled: No suitable machines available."
    assert client.call("list_jobs") == []
    assert client.call("get_job_state", 999)["state"] == 0
    assert client.call("destroy_job", 999) is None
    assert client.call("job_keepalive", 999) is None
    assert cluster.server._listener is not None and client.call("version") == "5.0.0"


def test_one_board_job_lifecycle(cluster, client):
    jid = client.create(owner="alice", keepalive=None)
    st = client.wait_state(jid, {READY})
    assert st["power"] is True and st["keepalive"] is None and st["reason"] is None
    info = client.call("get_job_machine_info", jid)
    assert (info["width"], info["height"]) == (8, 8)
    assert info["machine_name"] == "m2x1" and len(info["boards"]) == 1
    [[xy, ip]] = info["connections"]
    assert xy == [0, 0] and ip.startswith(net(4) + ".") and ip in cluster.powered()
    [entry] = client.call("list_jobs")
    assert entry["job_id"] == jid and entry["owner"] == "alice" and entry["state"] == READY
    assert entry["args"] == [] and "owner" not in entry["kwargs"]
    assert entry["kwargs"]["min_ratio"] == 0.333 and entry["boards"] == info["boards"]
    assert entry["keepalivehost"] == "127.0.0.1" and isinstance(entry["start_time"], float)
    # power off: POWER then READY with power false; the board's ports are freed
    client.call("power_off_job_boards", jid)
    st = client.wait_state(jid, {READY})
    assert st["power"] is False and ip not in cluster.powered()
    client.call("power_on_job_boards", jid)
    assert client.wait_state(jid, {READY})["power"] is True and ip in cluster.powered()
    client.call("destroy_job", jid, reason="done here")
    st = client.call("get_job_state", jid)
    assert st["state"] == DESTROYED and st["reason"] == "done here"
    assert client.call("list_jobs") == []
    deadline = time.monotonic() + 5
    while cluster.powered() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not cluster.powered()


def test_job_forms_geometry_and_where_is(client):
    triad = client.create(3)
    client.wait_state(triad, {READY})
    info = client.call("get_job_machine_info", triad)
    assert (info["width"], info["height"]) == (16, 12)      # 2x1 machine: wraps in y only
    assert sorted(tuple(c[0]) for c in info["connections"]) == [(0, 0), (4, 8), (8, 4)]
    x, y, _ = info["boards"][0]
    r = client.call("where_is", job_id=triad, chip_x=9, chip_y=5)
    assert r["logical"] == [x, y, 1] and r["board_chip"] == [1, 1] and r["job_chip"] == [9, 5]
    assert r["chip"] == [12 * x + 9, 5] and r["job_id"] == triad
    assert client.call("where_is", job_id=triad, chip_x=0, chip_y=7) is None   # chip gap
    # the other triad by board coordinates; Job(x, y, z)
    other = 1 - x
    single = client.create(other, 0, 2)
    client.wait_state(single, {READY})
    assert client.call("get_job_machine_info", single)["boards"] == [[other, 0, 2]]
    r = client.call("where_is", machine="m2x1", x=other, y=0, z=2)
    assert r["physical"] == [0, other, 2] and r["chip"] == [12 * other + 4, 8]
    assert r["job_id"] == single and r["job_chip"] == [0, 0]
    assert client.call("where_is", machine="m2x1", cabinet=0, frame=other, board=2) == r
    r2 = client.call("where_is", machine="m2x1", chip_x=12 * other + 5, chip_y=9)
    assert r2["logical"] == [other, 0, 2] and r2["board_chip"] == [1, 1]
    assert r2["job_chip"] == [1, 1]
    with pytest.raises(RuntimeError):
        client.call("where_is", machine="m2x1", chip_x=1)
    assert client.call("get_board_position", "m2x1", other, 0, 2) == [0, other, 2]
    assert client.call("get_board_at_position", "m2x1", 0, other, 2) == [other, 0, 2]
    assert client.call("get_board_position", machine_name="m2x1", x=0, y=0, z=1) == [0, 0, 1]
    assert client.call("get_board_position", "m2x1", 9, 0, 0) is None
    # rectangle on the 'small' machine: the whole 1x1 torus wraps both ways
    rect = client.create(1, 1, tags=["small"], max_dead_boards=1, require_torus=True)
    client.wait_state(rect, {READY})
    info = client.call("get_job_machine_info", rect)
    assert (info["width"], info["height"]) == (12, 12) and len(info["boards"]) == 2
    for j in (triad, single, rect):
        client.call("destroy_job", j)


def test_queueing_is_fifo_and_notified(cluster, client):
    watcher = Client(cluster.port)
    try:
        watcher.call("notify_job", None)            # [null] = all jobs
        watcher.call("notify_machine", None)
        full = client.create(2, 1, machine="m2x1")
        client.wait_state(full, {READY})
        waiting = [client.create(1, machine="m2x1") for _ in range(2)]
        assert [client.call("get_job_state", j)["state"] for j in waiting] == [QUEUED] * 2
        assert client.call("get_job_machine_info", waiting[0])["connections"] is None
        queued = [e for e in client.call("list_jobs") if e["state"] == QUEUED]
        assert [e["job_id"] for e in queued] == waiting and queued[0]["boards"] is None
        client.call("destroy_job", waiting[1], reason="gave up")
        assert client.call("get_job_state", waiting[1])["reason"] == "Cancelled: gave up"
        client.call("destroy_job", full)
        client.wait_state(waiting[0], {READY})
        seen_jobs, seen_machines = set(), set()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (waiting[0] not in seen_jobs or not seen_machines):
            note = watcher.wait_note(0.5)
            if note:
                seen_jobs.update(note.get("jobs_changed", []))
                seen_machines.update(note.get("machines_changed", []))
        assert {full, waiting[0]} <= seen_jobs and seen_machines == {"m2x1"}
        client.call("destroy_job", waiting[0])
    finally:
        watcher.close()


def test_keepalive_expiry_destroys_and_powers_off(cluster, client):
    kept = client.create(keepalive=0.6)
    lapsed = client.create(keepalive=0.6)
    client.wait_state(kept, {READY})
    client.wait_state(lapsed, {READY})
    ip = client.call("get_job_machine_info", lapsed)["connections"][0][1]
    monitor = Client(cluster.port)
    try:
        deadline = time.monotonic() + 5
        gone = False
        while time.monotonic() < deadline and not gone:
            client.call("job_keepalive", kept)
            # list_jobs must not count as a keepalive
            gone = lapsed not in [e["job_id"] for e in monitor.call("list_jobs")]
            time.sleep(0.1)
        assert gone
        st = monitor.call("get_job_state", lapsed)
        assert st["state"] == DESTROYED and st["reason"] == "Job timed out."
        assert monitor.call("get_job_state", kept)["state"] == READY
        deadline = time.monotonic() + 5
        while ip in cluster.powered() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ip not in cluster.powered()
        # a queued job expires too, as "Cancelled: Job timed out."
        full = client.create(2, 1, keepalive=None)
        q = client.create(1, keepalive=0.3)
        deadline = time.monotonic() + 5          # list_jobs, unlike get_job_state, is no keepalive
        while q in [e["job_id"] for e in monitor.call("list_jobs")] and time.monotonic() < deadline:
            time.sleep(0.02)
        st = monitor.call("get_job_state", q)
        assert st["state"] == DESTROYED and st["reason"] == "Cancelled: Job timed out."
        client.call("destroy_job", full)
        client.call("destroy_job", kept)
    finally:
        monitor.close()


def test_config_validation():
    good = machine_dict("m", net(4), 1, 1)
    config_from_dict({"machine": [good]})
    bad_ip = machine_dict("m", "127.0.0", 1, 1)
    bad_ip["boards"][0]["ip"] = "127.0.0.1"
    dup = machine_dict("n", net(4), 1, 1)
    outside = machine_dict("m", net(4), 1, 1)
    outside["boards"][0]["x"] = 3
    no_bmp = machine_dict("m", net(4), 1, 1)
    no_bmp["bmps"] = []
    for data in ({"machine": []}, {"machine": [bad_ip]}, {"machine": [good, dup]},
                 {"machine": [outside]}, {"machine": [no_bmp]},
                 {"server": {"port": "x"}, "machine": [good]},
                 {"server": {"nonsense": 1}, "machine": [good]}):
        with pytest.raises(ConfigError):
            config_from_dict(data)


def test_host_config_loads():
    import os
    from spinnaker_emu.spalloc import load_config
    cfg = load_config(os.path.join(os.path.dirname(__file__), "..", "host", "spalloc.toml"))
    [m] = cfg.machines
    assert (m.width, m.height, len(m.boards), len(m.bmps)) == (2, 1, 6, 2)
    assert all(b.ip.startswith("127.0.2.") for b in m.boards.values())


# ------------------------------------------------------------------ concurrency
def test_fifty_concurrent_clients():
    """50 connections at once create, poll and destroy jobs on 6 real boards: every
    job is QUEUED until boards are free, then READY with its boards powered; no
    board is ever held by two live jobs (checked by the clients and by a monitor on
    the server's own view)."""
    c = Cluster([machine_dict("m2x1", net(7), 2, 1)], real=True, timeout_check_interval=0.2)
    n_clients = 50
    rng = random.Random(5)
    sizes = [3 if rng.random() < 0.2 else 1 for _ in range(n_clients)]
    held = {}                       # board ip -> job id, as seen by the clients
    held_lock = threading.Lock()
    errors, results = [], {}
    barrier = threading.Barrier(n_clients + 1)
    stop_monitor = threading.Event()
    monitor_stats = {"max_boards": 0, "queued_seen": 0}

    def worker(i):
        cl = None
        try:
            cl = Client(c.port, timeout=30)
            barrier.wait(30)
            jid = cl.create(sizes[i], owner="client%d" % i, keepalive=5.0)
            first = cl.call("get_job_state", jid)["state"]
            cl.call("notify_job", jid)
            deadline = time.monotonic() + 180      # generous: 50 jobs share 6 real boards on 2 cores
            while True:
                st = cl.call("get_job_state", jid)
                if st["state"] == READY:
                    break
                assert st["state"] in (QUEUED, POWER), st
                assert time.monotonic() < deadline, "job %d never READY" % jid
                cl.wait_note(0.2)
            info = cl.call("get_job_machine_info", jid)
            ips = [ip for _, ip in info["connections"]]
            assert len(ips) == (3 if sizes[i] == 3 else 1)
            assert set(ips) <= c.powered(), "READY but boards not powered"
            with held_lock:
                clash = {ip: held[ip] for ip in ips if ip in held}
                assert not clash, "job %d got boards of live jobs %r" % (jid, clash)
                for ip in ips:
                    held[ip] = jid
            time.sleep(rng.uniform(0.01, 0.08))
            with held_lock:
                for ip in ips:
                    del held[ip]
            cl.call("destroy_job", jid, reason="client %d done" % i)
            st = cl.call("get_job_state", jid)
            assert st["state"] == DESTROYED and st["reason"] == "client %d done" % i
            results[i] = (jid, first)
        except BaseException as exc:
            errors.append((i, repr(exc)))
        finally:
            if cl is not None:
                cl.close()

    def monitor():
        mc = Client(c.port)
        try:
            while not stop_monitor.is_set():
                jobs = mc.call("list_jobs")
                boards = [tuple(b) for j in jobs if j["boards"] for b in j["boards"]]
                if len(boards) != len(set(boards)):
                    errors.append(("monitor", "a board in two live jobs: %r" % jobs))
                monitor_stats["max_boards"] = max(monitor_stats["max_boards"], len(boards))
                if any(j["state"] == QUEUED and j["boards"] is None for j in jobs):
                    monitor_stats["queued_seen"] += 1
                if any(j["state"] == QUEUED and j["boards"] is not None for j in jobs):
                    errors.append(("monitor", "queued job with boards: %r" % jobs))
                time.sleep(0.01)
        finally:
            mc.close()

    try:
        threads = [threading.Thread(target=worker, args=(i,), daemon=True)
                   for i in range(n_clients)]
        mon = threading.Thread(target=monitor, daemon=True)
        for t in threads:
            t.start()
        barrier.wait(30)            # all 50 connections are open
        mon.start()
        for t in threads:
            t.join(90)
        stop_monitor.set()
        mon.join(10)
        assert not any(t.is_alive() for t in threads), "clients hung"
        assert not errors, errors[:5]
        assert len(results) == n_clients
        assert len({jid for jid, _ in results.values()}) == n_clients
        # with 6 boards and 50 simultaneous requests, most had to queue
        assert sum(1 for _, first in results.values() if first == QUEUED) >= n_clients - 6
        assert monitor_stats["queued_seen"] > 0 and 0 < monitor_stats["max_boards"] <= 6
        check = Client(c.port)
        try:
            assert check.call("list_jobs") == []
        finally:
            check.close()
        deadline = time.monotonic() + 10
        while c.powered() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not c.powered()
    finally:
        stop_monitor.set()
        c.close()
