"""``spinnaker-emu view`` and ``spinnaker-emu run --view``: find the machine, bind the
port, serve the page. Mistakes (no board answering, port in use, unknown job) are one
line on stderr and exit status 1."""
import argparse
import asyncio
import os
import subprocess
import sys
import threading

DEFAULT_PORT = 8080


def add_arguments(p, ip_type=str):
    p.add_argument("--ip", type=ip_type, help="the machine's (root board's) address; default: the board "
                                "started here, if there is exactly one")
    p.add_argument("--spalloc-job", type=int, metavar="ID", help="view a spalloc job's machine")
    p.add_argument("--spalloc-server", default="127.0.0.1", metavar="HOST")
    p.add_argument("--spalloc-port", type=int, default=22244)
    p.add_argument("--version", type=int, choices=(3, 5), default=None,
                   help="board version (default: from the machine's size)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="HTTP port (0: any free one)")
    p.add_argument("--bind", default="127.0.0.1", help="address to serve on (default: %(default)s)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    p.add_argument("--exit-with", type=int, default=None, help=argparse.SUPPRESS)
    # run --view: serve at once, read "HOST VERSION" from stdin when the machine is up
    p.add_argument("--machine-from-stdin", action="store_true", help=argparse.SUPPRESS)


class UsageError(Exception):
    pass


def _machine_address(args):
    """(host, version or None) from --ip, --spalloc-job or the one board running here.
    None: MachineSnapshot tells a SpiNN-3 from a SpiNN-5 machine by its size."""
    if args.spalloc_job is not None:
        from ..spalloc.client import ProtocolClient, SpallocError
        try:
            client = ProtocolClient(args.spalloc_server, args.spalloc_port, timeout=5.0)
        except OSError as e:
            raise UsageError("no spalloc server at %s:%d: %s" % (
                args.spalloc_server, args.spalloc_port, e.strerror or e))
        try:
            info = client.call("get_job_machine_info", args.spalloc_job)
        except (SpallocError, OSError) as e:
            raise UsageError("spalloc job %d: %s" % (args.spalloc_job, e))
        finally:
            client.close()
        conns = {tuple(xy): ip for xy, ip in (info or {}).get("connections") or []}
        if not conns:
            raise UsageError("spalloc job %d has no machine (not ready or destroyed)" % args.spalloc_job)
        return conns.get((0, 0)) or next(iter(conns.values())), args.version
    if args.ip:
        return args.ip, args.version
    # Only here: the launcher imports the whole board (and its ARM engine)
    from ..board.launcher import running_boards
    boards = dict(running_boards())
    if len(boards) == 1:
        ip, info = next(iter(boards.items()))
        return ip, args.version or info.get("version")
    if not boards:
        raise UsageError("no board running here: give --ip ADDR or --spalloc-job ID")
    raise UsageError("several boards running here (%s): say which with --ip" % ", ".join(sorted(boards)))


def cmd_view(args):
    from ..host.scp import SCPTimeout, SCPError
    from .snapshot import MachineSnapshot
    from .server import ViewServer, bind_socket, serve
    host = ms = None
    if not args.machine_from_stdin:
        try:
            host, version = _machine_address(args)
        except UsageError as e:
            print("spinnaker-emu view: %s" % e, file=sys.stderr)
            return 1
    try:
        sock = bind_socket(args.bind, args.port)
    except OSError as e:
        print("spinnaker-emu view: cannot serve on %s:%d: %s" % (args.bind, args.port, e.strerror or e),
              file=sys.stderr)
        return 1
    if host is not None:
        try:
            ms = MachineSnapshot(host, version)
        except (SCPTimeout, SCPError, OSError) as e:
            sock.close()
            print("spinnaker-emu view: no booted machine answers SCP on %s (%s)" % (host, e),
                  file=sys.stderr)
            return 1

    def attach():                             # run --view: the run says when and where
        words = sys.stdin.readline().split()
        return MachineSnapshot(words[0], int(words[1])) if len(words) == 2 else None
    server = ViewServer(ms, interval=args.interval, exit_with=args.exit_with,
                        attach=None if ms else attach)

    def ready(url):
        what = "machine %s, %d chips" % (host, len(ms.layout.chips)) if ms else "machine to come"
        print("spinnaker-emu view: %s (%s); Ctrl-C stops" % (url, what), flush=True)
    try:
        asyncio.run(serve(server, sock, ready))
    except KeyboardInterrupt:
        pass
    finally:
        if server.ms:
            server.ms.close()
    return 0


# ---------------------------------------------------------------------- run --view
class ViewProcess:
    """``spinnaker-emu view`` as a child process for ``run --view``. Started before the
    script, so its start-up overlaps the script's imports and the page can be open
    before the run; told the machine (``machine``, a pynn.runner.machine_listeners
    hook) once it is booted; ended with the run. A process of its own, so serving the
    page never takes the script's GIL."""

    def __init__(self, port=DEFAULT_PORT, bind="127.0.0.1"):
        self.port, self.bind = port, bind
        self.proc = None
        self.url = None
        self.told = False

    def start(self):
        port = self.port
        try:
            from .server import bind_socket
            bind_socket(self.bind, port).close()
        except OSError:
            port = 0                             # 8080 taken: any free port
        cmd = [sys.executable, "-m", "spinnaker_emu.cli", "view", "--machine-from-stdin",
               "--port", str(port), "--bind", self.bind, "--exit-with", str(os.getpid())]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.PIPE,
                                     start_new_session=True)
        # the script goes on meanwhile; the URL is printed when the view has bound its port
        threading.Thread(target=self._announce, args=(self.proc,), daemon=True,
                         name="view-url").start()

    def _announce(self, proc):
        from ..board.launcher import read_line      # the board launcher's, not imported by `view --ip`
        try:
            line = read_line(proc, 60.0)
        except (OSError, ValueError):            # stopped before it said anything
            return
        if "http://" not in line:
            print("spinnaker-emu run: the view did not start%s" % (": " + line if line else ""),
                  file=sys.stderr, flush=True)
            return
        self.url = line.split()[2]
        print("spinnaker-emu run: live view at %s" % self.url, flush=True)

    def machine(self, host, version):
        if self.proc is None or self.told:
            return
        self.told = True
        try:
            self.proc.stdin.write(("%s %d\n" % (host, version)).encode())
            self.proc.stdin.flush()
        except OSError:
            pass

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()                     # it holds nothing worth a clean exit
            try:
                proc.wait(3.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for f in (proc.stdout, proc.stdin):
            try:
                f.close()
            except OSError:
                pass
