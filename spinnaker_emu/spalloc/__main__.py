"""python -m spinnaker_emu.spalloc [serve] [--config FILE] [--port N]"""
import argparse
import sys

from . import cli


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        argv = argv[1:]
    ap = argparse.ArgumentParser(prog="python -m spinnaker_emu.spalloc",
                                 description="Serve the legacy spalloc protocol.")
    cli.add_arguments(ap)
    return cli.run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
