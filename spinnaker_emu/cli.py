"""The ``spinnaker-emu`` command.

    spinnaker-emu up [--version 5|3] [--ip 127.0.1.1] [--machine FILE] [--boot]
    spinnaker-emu status [--ip 127.0.1.1]
    spinnaker-emu down [--ip 127.0.1.1]
    spinnaker-emu boot [--ip 127.0.1.1]
    spinnaker-emu demo [--version 5|3]
    spinnaker-emu spalloc serve [--config host/spalloc.toml] [--port 22244]
"""
import argparse
import sys

from .protocol.constants import CPUState, state_name


def cmd_up(args):
    from .board.launcher import start_board, BoardError
    try:
        if args.boards > 1 and args.version != 5:
            raise ValueError("several boards are SpiNN-5 boards: drop --version 3")
        h = start_board(args.ip, args.version, args.machine, detach=True, boards=args.boards)
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
    from .board.launcher import running_boards, stop_board
    ips = [args.ip] if args.ip else [ip for ip, _info in running_boards()]
    stopped = [ip for ip in ips if stop_board(ip)]
    for ip in stopped:
        print("board %s stopped" % ip)
    if args.ip and not stopped:
        print("spinnaker-emu: no board running on %s" % args.ip, file=sys.stderr)
        return 1
    return 0


def cmd_boot(args):
    from .host.scp import boot_board, SCPTimeout
    try:
        ver = boot_board(args.ip, args.version)
    except SCPTimeout as e:
        print("spinnaker-emu: %s" % e, file=sys.stderr)
        return 1
    print("%s booted: %s %s" % (args.ip, ver["name"], ver["version"]))
    return 0


def cmd_status(args):
    """What ybug's ps shows, read over SCP: per chip its cores' states and app ids."""
    from .board.launcher import running_boards
    from .host.scp import SCPConnection, SCPTimeout
    boards = running_boards()
    if args.ip:
        boards = [(ip, info) for ip, info in boards if ip == args.ip] or [(args.ip, {})]
    if not boards:
        print("no boards running")
        return 0
    for ip, info in boards:
        print("board %s: SpiNN-%s, %s chips, supervisor pid %s" % (
            ip, info.get("version", "?"), info.get("chips", "?"), info.get("pid", "?")))
        conn = SCPConnection(ip, timeout=0.3, retries=2)
        try:
            try:
                ver = conn.version()
            except SCPTimeout:
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
                busy = []
                for p in range(1, ci["n_cores"]):
                    st = ci["states"][p]
                    if st != CPUState.IDLE:
                        app = conn.vcpu(x, y, p)
                        busy.append("%d:%s(%d%s)" % (p, state_name(st), app.get("app_id", 0),
                                                     "," + app["app_name"] if app.get("app_name") else ""))
                used = 1023 - ci["largest_rtr"]
                print("  %d,%-5d %-5d %-5s %-6d %s" % (x, y, ci["n_cores"], "".join(
                    str(l) if ci["links"] & (1 << l) else "." for l in range(6)), used,
                    " ".join(busy) if busy else "all %d app cores idle" % (ci["n_cores"] - 1)))
        finally:
            conn.close()
    return 0


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


def main(argv=None):
    ap = argparse.ArgumentParser(prog="spinnaker-emu", description="SpiNNaker machine emulator")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("up", help="start an emulated board in the background")
    p.add_argument("--version", type=int, choices=(3, 5), default=5)
    p.add_argument("--ip", default="127.0.1.1")
    p.add_argument("--machine", help="board definition file (boards/*.toml)")
    p.add_argument("--boards", type=int, default=1,
                   help="N SpiNN-5 boards as a torus of N/3 triads on consecutive addresses")
    p.add_argument("--boot", action="store_true", help="also boot it with our own boot image")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="stop emulated boards (all when no --ip)")
    p.add_argument("--ip")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", help="chips, cores, core states and app ids (like ybug ps)")
    p.add_argument("--ip")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("boot", help="boot a running board")
    p.add_argument("--ip", default="127.0.1.1")
    p.add_argument("--version", type=int, choices=(3, 5), default=5)
    p.set_defaults(func=cmd_boot)

    p = sub.add_parser("demo", help="boot an embedded board and run the built-in test app on it")
    p.add_argument("--ip", default="127.0.1.1")
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

    p = sub.add_parser("run", help="run a PyNN script on an emulated machine; show its outputs")
    p.add_argument("--outdir", default=None, help="directory to run in (default: here)")
    p.add_argument("script")
    p.add_argument("script_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=lambda a: __import__("spinnaker_emu.pynn.script", fromlist=["x"]).cmd_run(a))

    args = ap.parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
