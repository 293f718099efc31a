"""The server's BMPs (spalloc/power.py does the talking): starting or finding them,
watching that each still answers, and what happens to the boards of one that stops
answering or comes back."""
import time

from .power import BMPWorker, BMPProcess, BMPClient, BMPError


class BmpMixin:
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
