"""The ``spinnaker-emu`` command.

    spinnaker-emu up [--version 5|3] [--ip 127.0.1.1] [--machine FILE] [--boot] [--udp-loss P]
    spinnaker-emu status [--ip 127.0.1.1] [-v]
    spinnaker-emu down [--ip 127.0.1.1]          # no --ip: the boards `up` started
    spinnaker-emu boot [--ip 127.0.1.1]
    spinnaker-emu demo [--version 5|3]
    spinnaker-emu spalloc serve [--config host/spalloc.toml | host/cluster.toml] [--port 22244]
    spinnaker-emu host serve --config host/cluster.toml --name HOST
    spinnaker-emu view [--ip ADDR | --spalloc-job ID] [--port 8080]
    spinnaker-emu run [--view] [--debug] SCRIPT.py [args]
"""
import argparse
import ipaddress
import os
import sys
import time

from .protocol.constants import CPUState, state_name, rte_name


def cmd_up(args):
    from .board.launcher import start_board, BoardError
    try:
        if args.boards > 1 and args.version != 5:
            raise ValueError("several boards are SpiNN-5 boards: drop --version 3")
        from .board.boards import load_machine
        try:                                 # here: a bad address or file is one line, not
            load_machine(args.machine, args.version, args.ip)     # the supervisor's traceback
        except (ValueError, KeyError, TypeError, RuntimeError) as e:
            raise ValueError("%s: not a board definition: %s" % (args.machine, e) if args.machine
                             else str(e))
        from .board.faults import check
        faults = check({k: v for k, v in (("udp_loss", args.udp_loss), ("link_loss", args.link_loss))
                        if v is not None}, "--udp-loss/--link-loss")
        h = start_board(args.ip, args.version, args.machine, detach=True, boards=args.boards,
                        faults=faults)
    except (BoardError, ValueError) as e:
        print("spinnaker-emu: %s" % e, file=sys.stderr)
        return 1
    what = "%d boards from %s" % (args.boards, h.ip) if args.boards > 1 else "board %s" % h.ip
    print("%s (SpiNN-%d) up: supervisor pid %d, log %s" % (what, h.version, h.pid, h.log_path))
    if args.boot:
        from .host.scp import boot_board
        boot_board(h.ip, args.version)
        print("booted")
    return 0


def cmd_down(args):
    """With --ip: that board. Without: the boards `up` started; a board that watches a
    live process (a script's own board, a test's, an allocator's) stays: that process
    stops it when it ends, and may be using it now."""
    from .board.launcher import running_boards, stop_board
    if args.ip:
        if not stop_board(args.ip):
            print("spinnaker-emu: no board running on %s" % args.ip, file=sys.stderr)
            return 1
        print("board %s stopped" % args.ip)
        return 0
    boards = running_boards()
    if not boards:
        print("no boards running")
    for ip, info in boards:
        owner = _owner(info)
        if owner:
            print("board %s left running: %s uses it and stops it when it ends "
                  "(`spinnaker-emu down --ip %s` stops it now)" % (ip, owner, ip))
        elif stop_board(ip):
            print("board %s stopped" % ip)
    return 0


def _owner(info):
    """The live process a board watches, as "pid N (its command line)", or None."""
    from .board.pidfile import pid_alive
    pid = info.get("watch_pid")
    if not pid or not pid_alive(pid):
        return None
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().rstrip(b"\0").split(b"\0")
    except OSError:
        return "pid %d" % pid
    words = [os.path.basename(argv[0].decode(errors="replace"))]
    words += [a.decode(errors="replace") for a in argv[1:4]]
    return "pid %d (%s)" % (pid, " ".join(words))


def _no_board(ip, why=None):
    """The one line for an address where no board is (status, boot): exit status 1."""
    if why is None:                          # a loopback address is one `up` can serve
        why = (" (`spinnaker-emu up --ip %s` starts one)" % ip
               if ipaddress.ip_address(ip).is_loopback else " (its SCP port is closed)")
    print("spinnaker-emu: no board at %s%s" % (ip, why), file=sys.stderr)
    return 1


def cmd_boot(args):
    from .host.scp import boot_board, SCPTimeout, NoBoard
    try:
        ver = boot_board(args.ip, args.version)
    except NoBoard:
        return _no_board(args.ip)
    except SCPTimeout as e:
        print("spinnaker-emu: %s" % e, file=sys.stderr)
        return 1
    print("%s booted: %s %s" % (args.ip, ver["name"], ver["version"]))
    return 0


def cmd_status(args):
    """What ybug's ps shows, read over SCP: per chip its cores' states and app ids;
    with -v one line per busy core (state, app id, app name, and for a core in RTE
    its rt_code and the registers SARK saved)."""
    from .board.launcher import running_boards
    from .host.scp import SCPConnection, SCPTimeout, NoBoard, nothing_listens
    boards = running_boards()
    known = True
    if args.ip:
        # A board of a machine started here: that machine (its first board answers for all)
        mine = [(ip, info) for ip, info in boards if args.ip in info.get("ips", [ip])]
        known = bool(mine)
        if not known and nothing_listens(args.ip):
            return _no_board(args.ip)
        boards = mine or [(args.ip, {})]
    if not boards:
        print("no boards running")
        return 0
    for ip, info in boards:
        conn = SCPConnection(ip, timeout=0.3, retries=2)
        try:
            try:
                ver = conn.version()
            except SCPTimeout as e:
                if not known:       # silence from another machine may be an unbooted board
                    return _no_board(ip, None if isinstance(e, NoBoard) else
                                     ": nothing answers SCP there (a board answers once booted)")
                ver = None
            if known:
                print("board %s: SpiNN-%s, %s chips, supervisor pid %s" % (
                    ip, info.get("version", "?"), info.get("chips", "?"), info.get("pid", "?")))
                print("  " + _process_figures(info))
            else:
                print("board %s (not started here)" % ip)
            if ver is None:
                print("  not booted (SCP is ignored until boot)")
                continue
            if ver["p2p"] == 0xFFFF:
                print("  booting")
                continue
            print("  %s %s, root chip (%d,%d)" % (ver["name"], ver["version"], ver["x"], ver["y"]))
            _w, _h, chips = conn.live_chips()
            print("  %-7s %-5s %-5s %-6s %s" % ("chip", "cores", "links", "rtr", "core: state(app)"))
            for (x, y) in chips:
                try:
                    ci = conn.chip_info(x, y)
                except SCPTimeout:
                    print("  %d,%-5d no answer" % (x, y))
                    continue
                busy, lines = [], []
                for p in range(1, ci["n_cores"]):
                    st = ci["states"][p]
                    if st == CPUState.IDLE:
                        continue
                    v = conn.vcpu(x, y, p)
                    name = v.get("app_name", "")
                    busy.append("%d:%s(%d%s)" % (p, state_name(st), v.get("app_id", 0),
                                                 "," + name if name else ""))
                    if args.verbose:
                        lines.append(_core_line(p, st, v))
                used = 1023 - ci["largest_rtr"]
                print("  %d,%-5d %-5d %-5s %-6d %s" % (x, y, ci["n_cores"], "".join(
                    str(l) if ci["links"] & (1 << l) else "." for l in range(6)), used,
                    " ".join(busy) if busy else "all %d app cores idle" % (ci["n_cores"] - 1)))
                for line in lines:
                    print(line)
        finally:
            conn.close()
    return 0


def _process_figures(info, interval=0.2):
    """One line: where the board runs and what its processes (supervisor and chips)
    use, from psutil: CPU now (over ``interval`` s) and in total, resident memory.
    RSS is summed over processes, so pages the forked chips share count once each."""
    import psutil
    pids = [info.get("pid")] + list(info.get("chip_pids", {}).values())
    procs = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            p.cpu_percent(None)
            procs.append(p)
        except (psutil.Error, TypeError, ValueError):
            pass
    time.sleep(interval)
    now = total = rss = 0.0
    alive = 0
    for p in procs:
        try:
            with p.oneshot():
                now += p.cpu_percent(None)
                t = p.cpu_times()
                total += t.user + t.system
                rss += p.memory_info().rss
            alive += 1
        except psutil.Error:
            pass
    where = info.get("host") or "?"
    job = info.get("machine")
    return ("host %s%s: %d processes, CPU %.1f %% now, %.1f s in all, RSS %.0f MiB (summed)"
            % (where, ", " + job if job else "", alive, now, total, rss / 2 ** 20))


def _core_line(p, state, v):
    """status -v: one core. ``v``: its vcpu_t (SCPConnection.vcpu)."""
    text = "      core %2d  %-6s app %3d  %-16s" % (p, state_name(state), v.get("app_id", 0),
                                                   v.get("app_name") or "-")
    if state == CPUState.RTE:
        text += "  rt_code %s (%d)  psr 0x%08x sp 0x%08x lr 0x%08x" % (
            rte_name(v["rt_code"]), v["rt_code"], v["psr"], v["sp"], v["lr"])
    return text.rstrip()


def cmd_demo(args):
    """Start an embedded board, boot it, load the built-in test image on a few
    cores of every chip, show what they wrote, stop them, and take the board down."""
    from .board.launcher import start_board
    from .host.demo import run_demo
    h = start_board(args.ip, args.version)
    try:
        return run_demo(h.ip, args.version)
    finally:
        h.stop()


def cmd_spalloc(args):
    from .spalloc import cli as spalloc_cli
    return spalloc_cli.run(args)


def cmd_host_serve(args):
    from .board.cluster import ClusterError
    from .board.host_agent import serve
    log = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    try:
        return serve(args.config, args.name, log)
    except (ClusterError, ValueError) as e:
        print("spinnaker-emu host serve: %s" % e, file=sys.stderr)
        return 2
    except OSError as e:                    # e.g. a BMP address this host does not have
        print("spinnaker-emu host serve: %s" % _os_error_text(e), file=sys.stderr)
        return 1


def cmd_run(args):
    from .pynn import script
    if not args.view:
        return script.cmd_run(args)
    from .pynn import runner
    from .view.command import ViewProcess
    view = ViewProcess(port=args.view_port)
    view.start()
    runner.machine_listeners.append(view.machine)
    try:
        return script.cmd_run(args)
    finally:
        runner.machine_listeners.remove(view.machine)
        view.stop()


BOARD_COMMANDS = ("up", "down", "status", "boot", "view")


class _Parser(argparse.ArgumentParser):
    """A usage mistake is one line (and exit status 2), not argparse's usage block."""

    def error(self, message):
        self.exit(2, "%s: error: %s (see %s -h)\n" % (self.prog, message, self.prog))


def _ipv4(text):
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not an IPv4 address (e.g. 127.0.1.1)" % text)


def _os_error_text(e):
    """An OSError as one line: what failed and the file or host it concerns."""
    what = e.strerror or str(e) or type(e).__name__
    return "%s: %s" % (what, e.filename) if getattr(e, "filename", None) else what


def main(argv=None):
    ap = _Parser(prog="spinnaker-emu", description="SpiNNaker machine emulator")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("up", help="start an emulated board in the background")
    p.add_argument("--version", type=int, choices=(3, 5), default=5)
    p.add_argument("--ip", default="127.0.1.1", type=_ipv4)
    p.add_argument("--machine", help="board definition file (boards/*.toml)")
    p.add_argument("--boards", type=int, default=1,
                   help="N SpiNN-5 boards as a torus of N/3 triads on consecutive addresses")
    p.add_argument("--boot", action="store_true", help="also boot it with our own boot image")
    p.add_argument("--udp-loss", type=float, metavar="P",
                   help="drop this share of its SCP/bulk datagrams (fault injection)")
    p.add_argument("--link-loss", type=float, metavar="P",
                   help="drop this share of SCP crossing links between its boards")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="stop emulated boards (those `up` started when no --ip)")
    p.add_argument("--ip", type=_ipv4)
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", help="chips, cores, core states and app ids (like ybug ps)")
    p.add_argument("--ip", type=_ipv4)
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("boot", help="boot a running board")
    p.add_argument("--ip", default="127.0.1.1", type=_ipv4)
    p.add_argument("--version", type=int, choices=(3, 5), default=5)
    p.set_defaults(func=cmd_boot)

    p = sub.add_parser("demo", help="boot an embedded board and run the built-in test app on it")
    p.add_argument("--ip", default="127.0.1.1", type=_ipv4)
    p.add_argument("--version", type=int, choices=(3, 5), default=5)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("spalloc", help="the spalloc-compatible allocator")
    spsub = p.add_subparsers(dest="spalloc_command", required=True)
    serve = spsub.add_parser("serve", help="serve the spalloc protocol")
    try:
        from .spalloc import cli as spalloc_cli
        spalloc_cli.add_arguments(serve)
    except ImportError:
        serve.add_argument("--config", default="host/spalloc.toml")
        serve.add_argument("--port", type=int, default=22244)
    serve.set_defaults(func=cmd_spalloc)

    p = sub.add_parser("host", help="a host of a multi-host cluster (docs/CLUSTER.md)")
    hsub = p.add_subparsers(dest="host_command", required=True)
    serve = hsub.add_parser("serve", help="serve this host's BMPs and power its boards")
    serve.add_argument("--config", default="host/cluster.toml", help="the cluster file")
    serve.add_argument("--name", required=True, help="this host's name in the cluster file")
    serve.add_argument("--quiet", "-q", action="store_true", help="log nothing")
    serve.set_defaults(func=cmd_host_serve)

    p = sub.add_parser("run", help="run a PyNN script on an emulated machine; show its outputs")
    p.add_argument("--outdir", default=None, help="directory to run in (default: here)")
    p.add_argument("--view", action="store_true",
                   help="open the live view (spinnaker-emu view) of the script's machine")
    p.add_argument("--view-port", type=int, default=8080, help="its HTTP port (default 8080, "
                   "else any free one)")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of a script that fails")
    p.add_argument("script", help="a PyNN script (import spinnaker_emu.pynn as sim)")
    # The script's own arguments may be none: argparse would name them as missing too.
    p.add_argument("script_args", nargs=argparse.REMAINDER, metavar="...",
                   help="arguments for the script").required = False
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("view", help="serve a live view of a machine in the browser")
    from .view import command as view_command
    view_command.add_arguments(p, ip_type=_ipv4)
    p.set_defaults(func=view_command.cmd_view)

    args = ap.parse_args(argv)
    if args.command not in BOARD_COMMANDS:
        return args.func(args) or 0
    try:
        rc = args.func(args) or 0
        sys.stdout.flush()                  # a reader that left shows here, not at exit
        return rc
    except BrokenPipeError:                 # `spinnaker-emu status | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:                    # no such host or file, SCP failures
        print("spinnaker-emu %s: %s" % (args.command, _os_error_text(e)), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
