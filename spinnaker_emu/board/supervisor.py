"""The board supervisor: one process per emulated machine (one board, or several
boards wired together). It binds each Ethernet chip's UDP ports, forks one
process per chip, reports READY on stdout once every chip listens, and on
SIGTERM (or when the process it watches exits) stops them all.

Chips are forked after the heavy imports so they share those pages and start in
milliseconds; each chip asks the kernel to kill it if the supervisor dies
(PR_SET_PDEATHSIG), so killing the supervisor, even with SIGKILL, leaves no
chip behind.

    python -m spinnaker_emu.board.supervisor --ip 127.0.1.1 [--version 5|3]
        [--machine boards/spin5.toml] [--watch-pid PID] [--log FILE]
"""
import argparse
import ctypes
import json
import os
import select
import signal
import socket
import sys
import time

from ..protocol import constants as C
from . import fabric
from .arm import cycles
from .arm.clocks import ChipClocks
from .boards import load_machine, load_board_spec, load_faults, triad_boards
from .faults import Faults, check as check_faults
from .pidfile import pid_file, read_pid_file, pid_alive
from .process import ChipProcess

PR_SET_PDEATHSIG = 1
WAITED_SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGCHLD]


def _die_with_parent(parent):
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass
    if os.getppid() != parent:         # the supervisor died before prctl took effect
        os._exit(1)


def bind_udp(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    s.bind((ip, port))
    s.setblocking(False)
    return s


class Supervisor:
    def __init__(self, machine, version, watch_pid=None, own=None, fabric_port=None, faults=None):
        self.machine = machine
        self.faults = faults or {}           # injected packet loss (faults.py)
        self.version = version
        self.watch_pid = watch_pid
        # A cluster board (own = its Ethernet chip) runs only its own 48 chips of the
        # job's machine; the other boards' chips run elsewhere, reached over TCP.
        self.own = own
        self.endpoints = None
        if own is None:
            self.chips = list(machine.chips)
            self.ethernets = dict(machine.ethernets)
        else:
            self.chips = machine.board_chips(own)
            self.ethernets = {own: machine.ethernets[own]}
        self.ips = list(self.ethernets.values())
        self.run_dir = fabric.board_dir(self.ips[0])
        self.children = {}               # pid -> (x, y)

    def prepare(self, fabric_port=None):
        for ip in self.ips:
            info = read_pid_file(ip)
            if info and info.get("pid") != os.getpid() and pid_alive(info["pid"]):
                raise RuntimeError("a board is already running on %s (supervisor pid %d)" % (ip, info["pid"]))
        fabric.make_board_dir(self.ips[0])
        for name in os.listdir(self.run_dir):
            if name.startswith("c") or name == "board.json":
                try:
                    os.unlink(os.path.join(self.run_dir, name))
                except OSError:
                    pass
        self.socks = {}
        self.endpoints = fabric.Endpoints(self.run_dir, self.machine, self.own, fabric_port)
        for xy, ip in self.ethernets.items():
            try:
                self.socks[xy] = {"scp": bind_udp(ip, C.SCP_PORT), "boot": bind_udp(ip, C.BOOT_PORT)}
            except OSError as e:
                raise RuntimeError("cannot bind UDP %s:%d/%d: %s" % (ip, C.SCP_PORT, C.BOOT_PORT, e))

    def spawn(self):
        cycles.hook_address()          # compile the ARM cycle hook once, before forking
        # shared with every chip of this supervisor (arm/clocks.py); chips of other
        # boards of a cluster job do not share it, so they are not held together
        clocks = ChipClocks(self.chips)
        r, w = os.pipe()
        me = os.getpid()
        for xy in self.chips:
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    os.close(r)
                    _die_with_parent(me)
                    signal.signal(signal.SIGINT, signal.SIG_IGN)     # ^C goes to the supervisor
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, WAITED_SIGNALS)
                    mine = self.socks.get(xy)
                    for other, socks in self.socks.items():
                        if other != xy:
                            for s in socks.values():
                                s.close()
                    ip = self.machine.ethernets.get(xy)
                    ChipProcess(xy, self.machine, self.run_dir, ip, mine, ready_fd=w,
                                clock=clocks.of(xy), endpoints=self.endpoints,
                                faults=Faults(**self.faults)).run()
                except BaseException:
                    import traceback
                    traceback.print_exc()
                    code = 1
                finally:
                    os._exit(code)
            self.children[pid] = xy
        os.close(w)
        for socks in self.socks.values():       # the Ethernet chips own them now
            for s in socks.values():
                s.close()
        ready, buf = set(), b""
        deadline = time.monotonic() + 60
        while len(ready) < len(self.children) and time.monotonic() < deadline:
            rl, _, _ = select.select([r], [], [], 1.0)
            if not rl:
                continue
            chunk = os.read(r, 4096)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            ready.update(tuple(map(int, line.split())) for line in lines if line.strip())
        os.close(r)
        if len(ready) < len(self.children):
            raise RuntimeError("only %d of %d chips started" % (len(ready), len(self.children)))

    def write_pid_file(self):
        info = {"pid": os.getpid(), "ips": self.ips, "ip": self.ips[0], "version": self.version,
                "chips": len(self.chips), "started": time.time(),
                "watch_pid": self.watch_pid,      # None: started detached (`spinnaker-emu up`)
                # which host runs it (a cluster agent's name, else the hostname), and
                # for a board of a cluster job, the machine it is part of
                "host": os.environ.get("SPINNAKER_EMU_HOST") or socket.gethostname(),
                "machine": None if self.own is None else "Ethernet chip %d,%d of a %dx%d "
                "machine of %d boards" % (self.own + (self.machine.width, self.machine.height,
                                                       len(self.machine.ethernets))),
                "chip_pids": {"%d,%d" % xy: pid for pid, xy in self.children.items()}}
        for ip in self.ips:
            fabric.make_board_dir(ip)
            tmp = pid_file(ip) + ".tmp"
            with open(tmp, "w") as f:
                json.dump(info, f)
            os.replace(tmp, pid_file(ip))

    def shutdown(self):
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 2.0
        while self.children and time.monotonic() < deadline:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                self.children.pop(pid, None)
            else:
                time.sleep(0.01)
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        self.children.clear()
        for ip in self.ips:
            info = read_pid_file(ip)
            if info and info.get("pid") == os.getpid():
                try:
                    os.unlink(pid_file(ip))
                except OSError:
                    pass
        try:
            for name in os.listdir(self.run_dir):
                if name.startswith("c"):
                    os.unlink(os.path.join(self.run_dir, name))
        except OSError:
            pass


def main(argv=None):
    ap = argparse.ArgumentParser(prog="spinnaker_emu.board.supervisor")
    ap.add_argument("--ip", default="127.0.1.1")
    ap.add_argument("--version", type=int, default=5, choices=(3, 5))
    ap.add_argument("--machine", help="board definition file (boards/*.toml)")
    ap.add_argument("--boards", type=int, default=1,
                    help="SpiNN-5 boards wired as a torus of triads (1 or a multiple of 3)")
    ap.add_argument("--watch-pid", type=int, help="stop when this process exits")
    ap.add_argument("--log", help="log file for the board after READY")
    ap.add_argument("--udp-loss", type=float, default=None,
                    help="drop this share of SCP/bulk datagrams (fault injection)")
    ap.add_argument("--link-loss", type=float, default=None,
                    help="drop this share of SCP crossing inter-board links (fault injection)")
    args = ap.parse_args(argv)
    own = fabric_port = None
    if args.machine and args.machine.endswith(".json"):
        machine, own, fabric_port = load_board_spec(args.machine)
    elif args.boards > 1 and not args.machine:
        machine = triad_boards(args.ip, args.boards)
    else:
        machine = load_machine(args.machine, args.version, args.ip)
    try:
        faults = load_faults(args.machine) if args.machine else {}
        faults.update(check_faults({k: v for k, v in (("udp_loss", args.udp_loss),
                                                      ("link_loss", args.link_loss)) if v is not None},
                                   "--udp-loss/--link-loss"))
    except ValueError as e:
        print("ERROR %s" % e, flush=True)
        return 1
    sup = Supervisor(machine, args.version, args.watch_pid, own, fabric_port, faults)
    # Signals are blocked and collected with sigtimedwait, so the wait loop sleeps
    # in the kernel and a SIGTERM during start-up is not lost.
    signal.pthread_sigmask(signal.SIG_BLOCK, WAITED_SIGNALS)
    try:
        sup.prepare(fabric_port)
        sup.spawn()
        sup.write_pid_file()
    except Exception as e:
        print("ERROR %s" % e, flush=True)
        sup.shutdown()
        return 1
    print("READY %s %d" % (" ".join(sup.ips), os.getpid()), flush=True)
    # Detach from whoever started us: further output goes to the log.
    log = os.open(args.log or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    try:
        _wait(sup)
    finally:
        sup.shutdown()
    return 0


def _wait(sup):
    """Sleep in sigtimedwait until SIGTERM/SIGINT or the watched pid exits; reap chips."""
    while True:
        try:
            while True:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if not pid:
                    break
                xy = sup.children.pop(pid, None)
                if xy is not None:
                    print("[supervisor] chip %s (pid %d) exited with status %d" % (xy, pid, status),
                          file=sys.stderr, flush=True)
        except ChildProcessError:
            pass
        if sup.watch_pid and not pid_alive(sup.watch_pid):
            return
        info = signal.sigtimedwait(WAITED_SIGNALS,
                                   1.0 if sup.watch_pid else 3600.0)
        if info is not None and info.si_signo in (signal.SIGTERM, signal.SIGINT):
            return


if __name__ == "__main__":
    sys.exit(main())
