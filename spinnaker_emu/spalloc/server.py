"""The legacy spalloc server: newline-delimited JSON over TCP (spalloc.md section 1).

Threads, one lock: every connection has a reader thread that parses a request and
calls the controller under ``SpallocServer.lock``, and a writer thread that drains
the connection's outgoing queue, so a client that stops reading never blocks the
allocator.  Power commands go to per-BMP worker threads (power.py) and come back
as callbacks that take the same lock.
"""
import json
import math
import queue
import socket
import threading
import time
from collections import OrderedDict

from ..protocol import job_shape
from .config import ServerConfig
from .machine import SpallocMachine, Request, eth_chip
from .power import BMPWorker, BMPProcess, BMPClient, BMPError

VERSION = "5.0.0"       # 1!7.x strings crash the 7.4.1 client (spalloc.md section 1.10)
DEFAULT_KEEPALIVE = 60.0
MAX_LINE = 1 << 20


class JobState:
    unknown = 0
    queued = 1
    power = 2
    ready = 3
    destroyed = 4


class RequestError(Exception):
    """Bad arguments: reported to the client as {"exception": message}."""


class Job:
    def __init__(self, job_id, owner, keepalive, args, kwargs, request, candidates, host):
        self.id = job_id
        self.owner = owner
        self.keepalive = keepalive
        self.args = args
        self.kwargs = kwargs
        self.request = request
        self.candidates = candidates        # machines whose queue holds this job
        self.state = JobState.queued
        self.power = None
        self.machine = None
        self.alloc = None
        self.start_time = time.time()
        self.last_keepalive = time.monotonic()
        self.keepalivehost = host
        self.reason = None
        self.pending = 0                    # power tasks still running


# ------------------------------------------------------------------ validation
def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _job_id(args, kwargs, name="job_id"):
    if args:
        v = args[0]
    elif name in kwargs:
        v = kwargs[name]
    else:
        raise RequestError("a job id is required")
    if not _is_int(v):
        raise RequestError("job id must be an integer, got %r" % (v,))
    return v


CREATE_KWARGS = ("owner", "keepalive", "machine", "tags", "min_ratio", "max_dead_boards",
                 "max_dead_links", "require_torus")


def parse_create(args, kwargs):
    """Validate a create_job request completely before anything is registered."""
    unknown = set(kwargs) - set(CREATE_KWARGS)
    if unknown:
        raise RequestError("unexpected keyword arguments: %s" % ", ".join(sorted(unknown)))
    if not all(_is_int(a) for a in args):
        raise RequestError("job dimensions must be integers, got %r" % (list(args),))
    owner = kwargs.get("owner")
    if owner is None:
        raise RequestError("owner must be specified for all jobs")
    if not isinstance(owner, str):
        raise RequestError("owner must be a string")
    keepalive = kwargs.get("keepalive", DEFAULT_KEEPALIVE)
    if keepalive is not None and (not _is_num(keepalive) or keepalive < 0):
        raise RequestError("keepalive must be a non-negative number or null")
    machine = kwargs.get("machine")
    tags = kwargs.get("tags")
    if machine is not None and not isinstance(machine, str):
        raise RequestError("machine must be a string")
    if tags is not None and (not isinstance(tags, list) or
                             not all(isinstance(t, str) for t in tags)):
        raise RequestError("tags must be a list of strings")
    if machine is not None and tags is not None:
        raise RequestError("Only one of machine and tags may be specified for a job.")
    min_ratio = kwargs.get("min_ratio")
    if min_ratio is None:
        min_ratio = 0.333
    if not _is_num(min_ratio):
        raise RequestError("min_ratio must be a number")
    mdb = kwargs.get("max_dead_boards", 0)
    if mdb is not None and (not _is_int(mdb) or mdb < 0):
        raise RequestError("max_dead_boards must be a non-negative integer or null")
    mdl = kwargs.get("max_dead_links")
    if mdl is not None and (not _is_int(mdl) or mdl < 0):
        raise RequestError("max_dead_links must be a non-negative integer or null")
    torus = kwargs.get("require_torus")
    if torus is None:
        torus = False
    if not isinstance(torus, bool):
        raise RequestError("require_torus must be true or false")
    common = dict(min_ratio=float(min_ratio), max_dead_boards=mdb, max_dead_links=mdl,
                  require_torus=torus)
    if len(args) == 0:
        args = [1]
    if len(args) == 1:
        if args[0] < 1:
            raise RequestError("the number of boards must be at least 1")
        if torus:
            raise RequestError("require_torus must be False when allocating boards.")
        req = Request("boards", n=args[0], **common)
    elif len(args) == 2:
        if args[0] < 1 or args[1] < 1:
            raise RequestError("width and height must be at least 1")
        req = Request("rect", width=args[0], height=args[1], **common)
    elif len(args) == 3:
        if min(args) < 0:
            raise RequestError("board coordinates must not be negative")
        if torus:
            raise RequestError("require_torus must be False when allocating boards.")
        req = Request("board", xyz=tuple(args), **common)
    else:
        raise RequestError("create_job takes 0 to 3 positional arguments")
    return req, owner, (float(keepalive) if keepalive is not None else None), machine, tags


# ------------------------------------------------------------------ connection
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
class SpallocServer:
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

    def _start_bmps(self):
        for m in self.machines:
            for (cab, frame), ip in sorted(m.cfg.bmps.items()):
                if ip in self.workers:
                    continue
                boards = {b.board: b.ip for b in m.cfg.boards.values()
                          if (b.cabinet, b.frame) == (cab, frame)}
                if self.config.start_bmps:
                    self.bmp_processes.append(
                        BMPProcess(ip, boards, cab, frame, self.config.board_launcher))
                # Like spalloc_server, refuse to run without BMPs that answer (a
                # cluster's host agents may still be starting: give them a while).
                name, version = self._bmp_version(ip, 20.0 if self.config.cluster else 0)
                if not name.startswith("BC&MP"):
                    raise BMPError("%s at %s is not a BMP" % (name, ip))
                if self.config.cluster and boards:
                    # The hosts' agents outlive an allocator: boards a previous one left
                    # on would keep that job's shape. Start from everything off.
                    BMPClient(ip).power(False, sorted(boards), self.config.bmp_timeout)
                self.workers[ip] = BMPWorker(ip, self.config.bmp_timeout)

    @staticmethod
    def _bmp_version(ip, patience):
        deadline = time.monotonic() + patience
        while True:
            try:
                return BMPClient(ip).version(timeout=1.0, tries=3)
            except BMPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def _stop_bmps(self):
        for p in self.bmp_processes:
            p.stop()
        self.bmp_processes = []

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
    def _bmp_watch_loop(self):
        """Cluster: ask every BMP VER every bmp_check_interval. A BMP that does not
        answer (its host agent was killed, or its host is cut off) takes its boards
        out of service: they are dead in list_machines, the jobs on them end with a
        reason, other jobs carry on. When it answers again, they are back."""
        down = set()
        while not self._stop.wait(self.config.bmp_check_interval):
            for ip in list(self.workers):
                try:
                    BMPClient(ip).version(timeout=0.5, tries=2)
                    ok = True
                except BMPError:
                    ok = False
                if ok and ip in down:
                    down.discard(ip)
                    self._bmp_back(ip)
                elif not ok and ip not in down:
                    down.add(ip)
                    self._bmp_lost(ip)

    def _boards_of_bmp(self, ip):
        for m in self.machines:
            for b in m.cfg.boards.values():
                if m.cfg.bmps.get((b.cabinet, b.frame)) == ip and b.xyz not in m.cfg.dead_boards:
                    yield m, b

    def _bmp_lost(self, ip):
        with self.lock:
            try:
                lost = list(self._boards_of_bmp(ip))
                self.log("spalloc: BMP %s stopped answering: boards %s out of service"
                         % (ip, ", ".join(b.ip for _m, b in lost)))
                jobs = set()
                for m, b in lost:
                    m.boards.pop(b.xyz, None)
                    m.dead_boards.add(b.xyz)
                    if b.xyz in m.owner:
                        jobs.add(m.owner[b.xyz])
                    self._machine_changed(m)
                for jid in sorted(jobs):
                    job = self.jobs.get(jid)
                    if job is not None:
                        mine = [b.ip for m, b in lost if m.owner.get(b.xyz) == jid]
                        self._destroy(job, "Board(s) %s stopped answering: the BMP of their "
                                           "frame (%s) is silent (its host agent stopped, or "
                                           "the network to its host is down)"
                                      % (", ".join(mine), ip))
            finally:
                self._flush()

    def _bmp_back(self, ip):
        with self.lock:
            try:
                back = list(self._boards_of_bmp(ip))
                self.log("spalloc: BMP %s answers again: boards %s back in service"
                         % (ip, ", ".join(b.ip for _m, b in back)))
                for m, b in back:
                    m.boards[b.xyz] = b
                    m.dead_boards.discard(b.xyz)
                    self._machine_changed(m)
                self._process_queues()
            finally:
                self._flush()

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
    def cmd_version(self, conn, args, kwargs):
        return VERSION

    def cmd_create_job(self, conn, args, kwargs):
        req, owner, keepalive, machine_name, tags = parse_create(args, kwargs)
        if machine_name is not None:
            candidates = [m for m in self.machines if m.name == machine_name]
        else:
            want = set(tags if tags is not None else ["default"])
            candidates = [m for m in self.machines if want <= set(m.tags)]
        # Queue only on machines where the request could ever be met.
        candidates = [m for m in candidates if m.allocate(req, empty=True) is not None]
        job_id = self.next_id
        self.next_id += 1
        job = Job(job_id, owner, keepalive, list(args),
                  {k: kwargs.get(k) for k in CREATE_KWARGS if k not in ("owner", "keepalive")},
                  req, candidates, conn.host)
        self.jobs[job_id] = job
        self._job_changed(job)
        if not candidates:
            self._destroy(job, "No suitable machines available.")
            return job_id
        for m in candidates:
            m.queue.append(job)
        self._process_queues()
        return job_id

    def cmd_job_keepalive(self, conn, args, kwargs):
        job = self._live(args, kwargs)
        if job is not None:
            self._keepalive(conn, job)
        return None

    def cmd_get_job_state(self, conn, args, kwargs):
        job_id = _job_id(args, kwargs)
        job = self.jobs.get(job_id)
        if job is None:
            if job_id in self.retired:
                return {"state": JobState.destroyed, "power": None, "keepalive": None,
                        "reason": self.retired[job_id], "start_time": None,
                        "keepalivehost": None}
            return {"state": JobState.unknown, "power": None, "keepalive": None,
                    "reason": None, "start_time": None, "keepalivehost": None}
        self._keepalive(conn, job)
        return {"state": job.state, "power": job.power, "keepalive": job.keepalive,
                "reason": None, "start_time": job.start_time,
                "keepalivehost": job.keepalivehost}

    def cmd_get_job_machine_info(self, conn, args, kwargs):
        job = self._live(args, kwargs)
        if job is None or job.alloc is None:
            if job is not None:
                self._keepalive(conn, job)
            return {"width": None, "height": None, "connections": None,
                    "machine_name": None, "boards": None}
        self._keepalive(conn, job)
        return {"width": job.alloc.width, "height": job.alloc.height,
                "connections": job.machine.connections(job.alloc),
                "machine_name": job.machine.name,
                "boards": [list(b) for b in job.alloc.boards]}

    def cmd_power_on_job_boards(self, conn, args, kwargs):
        job = self._live(args, kwargs)
        if job is not None:
            self._keepalive(conn, job)
            if job.alloc is not None:
                # powering on boards that are (or may be) on is a reset: they come back
                # unbooted, as after a real power cycle
                self._power(job, True, reset=job.power is not False)
        return None

    def cmd_power_off_job_boards(self, conn, args, kwargs):
        job = self._live(args, kwargs)
        if job is not None:
            self._keepalive(conn, job)
            if job.alloc is not None:
                self._power(job, False)
        return None

    def cmd_destroy_job(self, conn, args, kwargs):
        job = self._live(args, kwargs)
        reason = kwargs.get("reason", args[1] if len(args) > 1 else None)
        if reason is not None and not isinstance(reason, str):
            raise RequestError("reason must be a string or null")
        if job is not None:
            self._destroy(job, reason)
        return None

    def _notify_arg(self, args, kwargs, key, kind):
        v = args[0] if args else kwargs.get(key)
        if v is not None and not kind(v):
            raise RequestError("bad %s: %r" % (key, v))
        return v

    def cmd_notify_job(self, conn, args, kwargs):
        job_id = self._notify_arg(args, kwargs, "job_id", _is_int)
        if job_id is not None and job_id in self.jobs:
            self._keepalive(conn, self.jobs[job_id])
        conn.notify_jobs.add(job_id)
        return None

    def cmd_no_notify_job(self, conn, args, kwargs):
        job_id = self._notify_arg(args, kwargs, "job_id", _is_int)
        if job_id is None:
            conn.notify_jobs.clear()
        else:
            conn.notify_jobs.discard(job_id)
        return None

    def cmd_notify_machine(self, conn, args, kwargs):
        name = self._notify_arg(args, kwargs, "machine_name", lambda v: isinstance(v, str))
        conn.notify_machines.add(name)
        return None

    def cmd_no_notify_machine(self, conn, args, kwargs):
        name = self._notify_arg(args, kwargs, "machine_name", lambda v: isinstance(v, str))
        if name is None:
            conn.notify_machines.clear()
        else:
            conn.notify_machines.discard(name)
        return None

    def cmd_list_jobs(self, conn, args, kwargs):
        out = []
        for job in self.jobs.values():
            out.append({"job_id": job.id, "owner": job.owner, "start_time": job.start_time,
                        "keepalive": job.keepalive, "state": job.state, "power": job.power,
                        "args": job.args, "kwargs": job.kwargs,
                        "allocated_machine_name": job.machine.name if job.machine else None,
                        "boards": [list(b) for b in job.alloc.boards] if job.alloc else None,
                        "keepalivehost": job.keepalivehost})
        return out

    def cmd_list_machines(self, conn, args, kwargs):
        return [m.summary() for m in self.machines]

    def _position_args(self, args, kwargs, names):
        if args:
            if len(args) != 4:
                raise RequestError("expected 4 arguments: machine and 3 coordinates")
            vals = list(args)
        else:
            name = kwargs.get("machine_name", kwargs.get("machine"))
            vals = [name] + [kwargs.get(k) for k in names]
        if not isinstance(vals[0], str) or not all(_is_int(v) for v in vals[1:]):
            raise RequestError("expected a machine name and 3 integers, got %r" % (vals,))
        return self.by_name.get(vals[0]), tuple(vals[1:])

    def cmd_get_board_position(self, conn, args, kwargs):
        m, xyz = self._position_args(args, kwargs, ("x", "y", "z"))
        if m is None or xyz not in m.boards:
            return None
        return list(m.boards[xyz].physical)

    def cmd_get_board_at_position(self, conn, args, kwargs):
        m, cfb = self._position_args(args, kwargs, ("cabinet", "frame", "board"))
        if m is None or cfb not in m.by_physical:
            return None
        return list(m.by_physical[cfb])

    def cmd_where_is(self, conn, args, kwargs):
        keys = set(kwargs)
        ints = lambda *ks: all(_is_int(kwargs[k]) for k in ks)    # noqa: E731
        if keys == {"machine", "x", "y", "z"} and ints("x", "y", "z"):
            m = self.by_name.get(kwargs["machine"]) if isinstance(kwargs["machine"], str) else None
            xyz = (kwargs["x"], kwargs["y"], kwargs["z"])
            if m is None or xyz not in m.boards:
                return None
            return self._where(m, xyz, (0, 0))
        if keys == {"machine", "cabinet", "frame", "board"} and ints("cabinet", "frame", "board"):
            m = self.by_name.get(kwargs["machine"]) if isinstance(kwargs["machine"], str) else None
            cfb = (kwargs["cabinet"], kwargs["frame"], kwargs["board"])
            if m is None or cfb not in m.by_physical:
                return None
            return self._where(m, m.by_physical[cfb], (0, 0))
        if keys == {"machine", "chip_x", "chip_y"} and ints("chip_x", "chip_y"):
            m = self.by_name.get(kwargs["machine"]) if isinstance(kwargs["machine"], str) else None
            if m is None:
                return None
            found = m.board_at_chip(kwargs["chip_x"], kwargs["chip_y"])
            return self._where(m, *found) if found else None
        if keys == {"job_id", "chip_x", "chip_y"} and ints("job_id", "chip_x", "chip_y"):
            job = self.jobs.get(kwargs["job_id"])
            if job is None or job.alloc is None:
                return None
            m = job.machine
            jx, jy = kwargs["chip_x"] % job.alloc.width, kwargs["chip_y"] % job.alloc.height
            rx, ry = eth_chip(*job.alloc.root)
            found = m.board_at_chip(rx + jx, ry + jy)
            if found is None or found[0] not in job.alloc.boards:
                return None
            return self._where(m, *found)
        raise RequestError("Invalid arguments: %s" % ", ".join(sorted(keys)))

    def _where(self, m, xyz, board_chip):
        ex, ey = eth_chip(*xyz)
        cx, cy = (ex + board_chip[0]) % m.chip_width, (ey + board_chip[1]) % m.chip_height
        job_id = m.owner.get(xyz)
        job = self.jobs.get(job_id) if job_id is not None else None
        job_chip = None
        if job is not None and job.alloc is not None:
            rx, ry = eth_chip(*job.alloc.root)
            job_chip = [((cx - rx) % m.chip_width) % job.alloc.width,
                        ((cy - ry) % m.chip_height) % job.alloc.height]
        return {"machine": m.name, "logical": list(xyz), "physical": list(m.boards[xyz].physical),
                "chip": [cx, cy], "board_chip": list(board_chip),
                "job_id": job.id if job is not None else None, "job_chip": job_chip}
