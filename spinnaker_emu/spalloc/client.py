"""A client of the legacy spalloc protocol (newline-delimited JSON over TCP), for
front ends that ask an allocator for boards: create a job, keep it alive from a
background thread, wait until READY (powered and with its machine info), and
destroy it when done.

    job = create_job("127.0.0.1", 22244, n_boards=1, owner="me")
    job.wait_until_ready(timeout=60)
    job.hostname, job.width, job.height, job.connections
    job.destroy("finished")
"""
import json
import socket
import threading
import time

READY, DESTROYED = 3, 4
STATE_NAMES = {0: "UNKNOWN", 1: "QUEUED", 2: "POWER", 3: "READY", 4: "DESTROYED"}


class SpallocError(RuntimeError):
    pass


class ProtocolClient:
    """One connection; requests are sequential, notifications are skipped."""

    def __init__(self, host, port=22244, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.lock = threading.Lock()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def call(self, command, *args, **kwargs):
        line = json.dumps({"command": command, "args": list(args), "kwargs": kwargs}) + "\n"
        with self.lock:
            self.sock.sendall(line.encode())
            while True:
                msg = self._read()
                if "return" in msg:
                    return msg["return"]
                if "exception" in msg:
                    raise SpallocError("spalloc server: %s" % msg["exception"])
                # jobs_changed / machines_changed notifications: not asked for, ignored

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise SpallocError("spalloc server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line) if line.strip() else {}


class Job:
    def __init__(self, host, port, job_id, keepalive):
        self.host, self.port, self.id = host, port, job_id
        self.keepalive = keepalive
        self.client = ProtocolClient(host, port)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep_alive, daemon=True,
                                        name="spalloc-keepalive-%d" % job_id)
        self._thread.start()
        self.hostname = None
        self.connections = None
        self.width = self.height = None

    def _keep_alive(self):
        # Its own connection, so a long request on the main one cannot starve it.
        period = max(0.5, (self.keepalive or 60.0) / 2.0)
        try:
            client = ProtocolClient(self.host, self.port)
        except OSError:
            return
        try:
            while not self._stop.wait(period):
                try:
                    client.call("job_keepalive", self.id)
                except (OSError, SpallocError):
                    return
        finally:
            client.close()

    def state(self):
        return self.client.call("get_job_state", self.id)

    def wait_until_ready(self, timeout=120.0):
        deadline = time.monotonic() + timeout
        while True:
            st = self.state()
            state = st.get("state")
            if state == READY:
                break
            if state == DESTROYED:
                raise SpallocError("spalloc job %d was destroyed: %s" % (self.id, st.get("reason")))
            if time.monotonic() > deadline:
                raise SpallocError("spalloc job %d not ready after %.0f s (state %s)"
                                   % (self.id, timeout, STATE_NAMES.get(state, state)))
            time.sleep(0.1)
        info = self.client.call("get_job_machine_info", self.id)
        self.width, self.height = info["width"], info["height"]
        self.connections = {tuple(xy): ip for xy, ip in info["connections"]}
        self.hostname = self.connections.get((0, 0)) or next(iter(self.connections.values()))
        return self

    def destroy(self, reason="finished"):
        self._stop.set()
        try:
            self.client.call("destroy_job", self.id, reason=reason)
        finally:
            self.client.close()


def create_job(host, port=22244, n_boards=1, owner="spinnaker_emu", keepalive=60.0, **kwargs):
    """Ask for ``n_boards`` boards; returns a Job (call wait_until_ready)."""
    client = ProtocolClient(host, port)
    try:
        args = [] if n_boards is None else [int(n_boards)]
        job_id = client.call("create_job", *args, owner=owner, keepalive=keepalive, **kwargs)
    finally:
        client.close()
    return Job(host, port, job_id, keepalive)
