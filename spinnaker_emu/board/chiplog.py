"""The one-line log of a chip process (stderr, which the supervisor sends to board.log)."""
import sys
import time


def log(*a):
    print("[%s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)
