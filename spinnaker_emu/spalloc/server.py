"""The legacy spalloc server: newline-delimited JSON over TCP (spalloc.md section 1).

Threads, one lock: every connection has a reader thread that parses a request and
calls the controller under ``SpallocServer.lock``, and a writer thread that drains
the connection's outgoing queue, so a client that stops reading never blocks the
allocator.  Power commands go to per-BMP worker threads (power.py) and come back
as callbacks that take the same lock.
"""
import json
import queue
import socket
import threading
import time
from collections import OrderedDict

from ..protocol import job_shape
from .config import ServerConfig
from .machine import SpallocMachine
from .bmps import BmpMixin
from .commands import CommandsMixin
from .jobs import VERSION, MAX_LINE, JobState, RequestError, _job_id

__all__ = ["SpallocServer", "VERSION", "JobState", "RequestError"]

class Connection:
    def __init__(self, server, sock, addr):
        self.server = server
        self.sock = sock
        self.host = addr[0]
        self.out = queue.Queue()
        self.notify_jobs = set()        # job ids; None inside means "all"
        self.notify_machines = set()    # machine names; None means "all"
        self.closed = False

    def send(self, obj):
        if not self.closed:
            self.out.put((json.dumps(obj) + "\n").encode("utf-8"))

    def start(self):
        threading.Thread(target=self._reader, daemon=True, name="spalloc-rd").start()
        threading.Thread(target=self._writer, daemon=True, name="spalloc-wr").start()

    def close(self):
        if not self.closed:
            self.closed = True
            self.out.put(None)
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _writer(self):
        try:
            while True:
                data = self.out.get()
                if data is None:
                    break
                self.sock.sendall(data)
        except OSError:
            pass
        finally:
            self.closed = True
            self.server._forget(self)
            try:
                self.sock.close()
            except OSError:
                pass

    def _reader(self):
        buf = b""
        try:
            while not self.closed:
                try:
                    chunk = self.sock.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        self.send(self.server.handle_line(self, line))
                if len(buf) > MAX_LINE:
                    self.send({"exception": "request line too long"})
                    break
        finally:
            self.close()


# ---------------------------------------------------------------------- server
class SpallocServer(CommandsMixin, BmpMixin):
    def __init__(self, config: ServerConfig, log=None):
        self.config = config
        self.log = log or (lambda msg: None)
        self.lock = threading.RLock()
        self.machines = [SpallocMachine(m) for m in config.machines]
        self.by_name = {m.name: m for m in self.machines}
        self.jobs = OrderedDict()           # live jobs, oldest first
        self.retired = OrderedDict()        # destroyed job id -> reason
        self.next_id = 1
        self.connections = set()
        self._changed_jobs = set()
        self._changed_machines = set()
        self.bmp_processes = []
        self.workers = {}                   # BMP ip -> BMPWorker
        self._listener = None
        self._stop = threading.Event()
        self._threads = []
        self.address = None

    # ----------------------------------------------------------------- lifecycle
    def start(self):
        try:
            self._start_bmps()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.config.ip, self.config.port))
            sock.listen(128)
        except BaseException:
            self._stop_bmps()
            raise
        sock.settimeout(0.2)
        self._listener = sock
        self.address = sock.getsockname()
        loops = [self._accept_loop, self._sweep_loop]
        if self.config.cluster:
            loops.append(self._bmp_watch_loop)
        for target in loops:
            t = threading.Thread(target=target, daemon=True, name="spalloc-" + target.__name__)
            t.start()
            self._threads.append(t)
        self.log("spalloc server listening on %s:%d" % self.address)
        return self


    def stop(self):
        """Stop serving; BMP children power their boards off and exit."""
        self._stop.set()
        for t in self._threads:
            t.join(5)
        if self._listener is not None:
            self._listener.close()
        with self.lock:
            conns = list(self.connections)
        for c in conns:
            c.close()
        for w in self.workers.values():
            w.close()
        self._stop_bmps()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, addr = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                time.sleep(0.05)    # e.g. EMFILE: do not spin
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(self, sock, addr)
            with self.lock:
                self.connections.add(conn)
            conn.start()

    # ------------------------------------------------------------ cluster hosts


    def _forget(self, conn):
        with self.lock:
            self.connections.discard(conn)

    def _sweep_loop(self):
        while not self._stop.wait(self.config.timeout_check_interval):
            try:
                with self.lock:
                    self._expire()
                    self._flush()
            except Exception as exc:        # the sweeper must survive anything
                self.log("sweep failed: %r" % exc)

    # ------------------------------------------------------------------ dispatch
    def handle_line(self, conn, line):
        """One request line -> the reply object.  Never raises."""
        try:
            msg = json.loads(line.decode("utf-8"))
        except Exception as exc:        # ValueError, UnicodeDecodeError, RecursionError
            return {"exception": "invalid JSON: %s" % exc}
        if not isinstance(msg, dict) or not isinstance(msg.get("command"), str):
            return {"exception": "a request is an object with a 'command' string"}
        args = msg.get("args", [])
        kwargs = msg.get("kwargs", {})
        if args is None:
            args = []
        if kwargs is None:
            kwargs = {}
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            return {"exception": "'args' must be a list and 'kwargs' an object"}
        handler = getattr(self, "cmd_" + msg["command"], None)
        if handler is None:
            return {"exception": "unknown command %r" % msg["command"]}
        try:
            with self.lock:
                try:
                    result = handler(conn, args, kwargs)
                finally:
                    self._flush()
            return {"return": result}
        except RequestError as exc:
            return {"exception": str(exc)}
        except Exception as exc:            # a bug must not take the server down
            self.log("command %s failed: %r" % (msg["command"], exc))
            return {"exception": "%s: %s" % (type(exc).__name__, exc)}

    # ------------------------------------------------------------- notifications
    def _job_changed(self, job):
        self._changed_jobs.add(job.id)

    def _machine_changed(self, machine):
        self._changed_machines.add(machine.name)

    def _flush(self):
        jobs, self._changed_jobs = self._changed_jobs, set()
        machines, self._changed_machines = self._changed_machines, set()
        if not jobs and not machines:
            return
        for c in self.connections:
            if jobs and c.notify_jobs:
                ids = sorted(jobs) if None in c.notify_jobs else sorted(jobs & c.notify_jobs)
                if ids:
                    c.send({"jobs_changed": ids})
            if machines and c.notify_machines:
                names = sorted(machines) if None in c.notify_machines \
                    else sorted(machines & c.notify_machines)
                if names:
                    c.send({"machines_changed": names})

    # ------------------------------------------------------------------- queueing
    def _process_queues(self):
        """Visit machines in priority order; allocate each queue's head while it fits
        (head-of-line blocking, no backfill).  Repeat until nothing changes."""
        changed = True
        while changed:
            changed = False
            for m in self.machines:
                while m.queue:
                    job = m.queue[0]
                    alloc = m.allocate(job.request)
                    if alloc is None:
                        break
                    self._allocate(job, m, alloc)
                    changed = True

    def _allocate(self, job, machine, alloc):
        for m in job.candidates:
            if job in m.queue:
                m.queue.remove(job)
        job.candidates = []
        job.machine = machine
        job.alloc = alloc
        for xyz in alloc.boards:
            machine.owner[xyz] = job.id
        self._machine_changed(machine)
        self._power(job, True)

    def _bmp_groups(self, machine, boards):
        groups = {}
        for xyz in boards:
            b = machine.cfg.boards[xyz]         # also boards out of service (cluster)
            ip = machine.cfg.bmps[(b.cabinet, b.frame)]
            groups.setdefault(ip, []).append(b.board)
        return groups

    def _power(self, job, on, reset=False):
        """Queue power commands for every frame the job's boards are in; the job is
        in state POWER until all have finished."""
        groups = self._bmp_groups(job.machine, job.alloc.boards)
        job.state = JobState.power
        job.power = on
        job.pending += len(groups)
        self._job_changed(job)
        shape = self._shape_step(job) if on and self.config.cluster else []
        for ip, boards in groups.items():
            steps = [(False, boards), (True, boards)] if reset else [(on, boards)]
            if on:
                steps = shape + steps
            self.workers[ip].submit(steps, lambda err, ip=ip: self._power_done(job, on, ip, err))

    def _shape_step(self, job):
        """Writing the job's shape into a BMP's RAM before it powers the boards on, so
        that they come up as one machine (protocol/job_shape.py)."""
        m, alloc = job.machine, job.alloc
        boards = [(tuple(xy), ip) for xy, ip in m.connections(alloc)]
        data = job_shape.pack(alloc.width, alloc.height, alloc.width == m.chip_width,
                              alloc.height == m.chip_height, boards)
        return [("write", (job_shape.SHAPE_ADDR, data))]

    def _power_done(self, job, on, ip, error):
        delay = self.config.power_on_delay if on and error is None else 0
        if delay:
            time.sleep(delay)       # on the BMP worker: later commands for it wait too
        with self.lock:
            try:
                if self.jobs.get(job.id) is not job:
                    return          # destroyed meanwhile; its power-off is queued
                job.pending -= 1
                if error is not None:
                    self._destroy(job, "Machine configuration failed. Error: Requests failed "
                                       "on BMP %s (%s)" % (ip, error))
                elif job.pending == 0:
                    job.state = JobState.ready
                    self._job_changed(job)
            finally:
                self._flush()

    def _destroy(self, job, reason):
        if job.state == JobState.queued:
            reason = "Cancelled: " + reason if reason else "Cancelled"
        for m in job.candidates:
            if job in m.queue:
                m.queue.remove(job)
        job.candidates = []
        if job.alloc is not None:
            m = job.machine
            boards = list(job.alloc.boards)
            for xyz in boards:
                m.owner.pop(xyz, None)
                m.releasing.add(xyz)
            groups = self._bmp_groups(m, boards)
            left = [len(groups)]
            for ip, numbers in groups.items():
                self.workers[ip].submit([(False, numbers)],
                                        lambda err, m=m, b=boards: self._released(m, b, left))
            self._machine_changed(m)
        job.state = JobState.destroyed
        job.reason = reason
        self.jobs.pop(job.id, None)
        self.retired[job.id] = reason
        while len(self.retired) > self.config.max_retired_jobs:
            self.retired.popitem(last=False)
        self._job_changed(job)
        self._process_queues()

    def _released(self, machine, boards, left):
        """A frame's power-off of a destroyed job finished.  The boards return to the
        pool when every frame is done (plus seconds_before_free)."""
        with self.lock:
            left[0] -= 1
            if left[0] > 0:
                return
        if self.config.seconds_before_free:
            t = threading.Timer(self.config.seconds_before_free, self._free, (machine, boards))
            t.daemon = True
            t.start()
        else:
            self._free(machine, boards)

    def _free(self, machine, boards):
        with self.lock:
            for xyz in boards:
                machine.releasing.discard(xyz)
            self._machine_changed(machine)
            self._process_queues()
            self._flush()

    def _expire(self):
        now = time.monotonic()
        for job in list(self.jobs.values()):
            if job.keepalive is not None and now - job.last_keepalive > job.keepalive:
                self._destroy(job, "Job timed out.")

    def _keepalive(self, conn, job):
        job.last_keepalive = time.monotonic()
        job.keepalivehost = conn.host

    def _live(self, args, kwargs):
        return self.jobs.get(_job_id(args, kwargs))

    # ------------------------------------------------------------------ commands


