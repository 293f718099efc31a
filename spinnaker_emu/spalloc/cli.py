"""``spinnaker-emu spalloc serve``: run the allocator until interrupted."""
import os
import signal
import sys
import threading

from .config import load_config, ConfigError
from .server import SpallocServer

DEFAULT_CONFIG = os.path.join("host", "spalloc.toml")


def add_arguments(parser):
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help="TOML machine description (default: %(default)s)")
    parser.add_argument("--port", type=int, default=None,
                        help="TCP port (default: the config's, else 22244)")
    parser.add_argument("--ip", default=None,
                        help="address to listen on (default: the config's, else 127.0.0.1)")
    parser.add_argument("--quiet", "-q", action="store_true", help="log nothing")
    return parser


def run(args):
    try:
        config = load_config(args.config)
    except (OSError, ConfigError) as exc:
        print("spalloc: %s" % exc, file=sys.stderr)
        return 2
    if args.port is not None:
        config.port = args.port
    if args.ip is not None:
        config.ip = args.ip
    log = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    server = SpallocServer(config, log=log)
    try:
        server.start()
    except Exception as exc:
        print("spalloc: cannot start: %s" % exc, file=sys.stderr)
        return 1
    try:
        n = sum(len(m.boards) for m in server.machines)
        log("spalloc: %d machine(s), %d boards, BMPs %s" % (
            len(server.machines), n, ", ".join(sorted(server.workers))))
        done.wait()
    finally:
        server.stop()
    return 0
