"""The spalloc protocol's commands (spalloc.md section 1): ``cmd_<name>`` is called by
SpallocServer.handle_line under the server's lock with (connection, args, kwargs)
and returns the result sent back to the client."""
from .jobs import VERSION, CREATE_KWARGS, Job, JobState, RequestError, parse_create, _is_int, _job_id
from .machine import eth_chip


class CommandsMixin:
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
