"""Addresses and framing of the ZeroMQ fabric between chip processes.

Each chip binds one PULL socket; any chip that wants to talk to it connects a
PUSH socket (per-pair FIFO order is what flood fill relies on: FFS, FFCS, FFD
blocks and FFE arrive in the order they were sent). On one host the transport
is ipc:// in the board's run directory. Messages are msgpack, encoded
and decoded by the one table of kinds in protocol/fabric.py, never pickle: a
socket that another host can reach must not run what it receives.
"""
import os
import tempfile

import zmq

from ..protocol.fabric import encode, decode, FabricFormatError  # noqa: F401 (the codec)


def run_root():
    base = os.environ.get("SPINNAKER_EMU_RUN_DIR")
    if base:
        return base
    return os.path.join(tempfile.gettempdir(), "spinnaker-emu-%d" % os.getuid())


def board_dir(ip):
    return os.path.join(run_root(), "boards", ip)


def chip_endpoint(run_dir, xy):
    return "ipc://" + os.path.join(run_dir, "c%d_%d" % xy)


def supervisor_endpoint(run_dir):
    return "ipc://" + os.path.join(run_dir, "supervisor")


def tune(sock):
    sock.setsockopt(zmq.LINGER, 0)
    # The queue limits bound how far a sender runs ahead of a receiver in lockstep
    # (a full queue holds the sender's tick loop: process.py backlog).
    sock.setsockopt(zmq.SNDHWM, 20000)
    sock.setsockopt(zmq.RCVHWM, 20000)
    return sock
