"""Addresses and framing of the ZeroMQ fabric between chip processes.

Each chip binds one PULL socket; any chip that wants to talk to it connects a
PUSH socket (per-pair FIFO order is what flood fill relies on: FFS, FFCS, FFD
blocks and FFE arrive in the order they were sent). On one host the transport
is ipc:// in the board's run directory; between boards of a cluster, tcp:// on
the boards' own addresses (Endpoints). Messages are msgpack, encoded
and decoded by the one table of kinds in protocol/fabric.py (the chip process
imports it), never pickle: a socket that another host can reach must not run
what it receives.
"""
import os
import tempfile

import zmq



MAX_MESSAGE = 64 << 20


def run_root():
    base = os.environ.get("SPINNAKER_EMU_RUN_DIR")
    if base:
        return base
    return os.path.join(tempfile.gettempdir(), "spinnaker-emu-%d" % os.getuid())


def board_dir(ip):
    return os.path.join(run_root(), "boards", ip)


def make_board_dir(ip):
    """Create (if need be) the run directory and ``ip``'s board folder in it, readable
    by this user only (0700: the chips' ipc:// sockets and logs live there). The default
    run directory (/tmp/spinnaker-emu-<uid>), if an older version left it with a looser
    mode, is tightened. Returns the board folder."""
    root = run_root()
    os.makedirs(root, mode=0o700, exist_ok=True)
    if not os.environ.get("SPINNAKER_EMU_RUN_DIR"):
        st = os.stat(root)
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            os.chmod(root, 0o700)
    path = board_dir(ip)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def chip_endpoint(run_dir, xy):
    return "ipc://" + os.path.join(run_dir, "c%d_%d" % xy)


class Endpoints:
    """Where each chip of a machine listens. A machine run by one supervisor: every
    chip on ipc:// in the run directory. A board of a cluster (``own`` is its
    Ethernet chip, ``fabric_port`` set): its own chips on ipc:// (fast, and only
    this host can reach it) and also on tcp://<board IP>:<fabric_port + chip index>
    for the chips of other boards, which connect there over TCP. Nothing binds an
    address the cluster file does not name: a board's chips bind only its own IP."""

    def __init__(self, run_dir, machine, own=None, fabric_port=None):
        self.run_dir, self.machine, self.own, self.fabric_port = run_dir, machine, own, fabric_port

    def is_local(self, xy):
        return self.own is None or self.machine.board_of.get(xy) == self.own

    def _tcp(self, xy):
        # imported here: `status` and `down` read pidfile.py, which imports this module,
        # and must not pay for more than they use
        from ..machine.geometry import board_chip_index
        eth, index = board_chip_index(self.machine, xy)
        return "tcp://%s:%d" % (self.machine.ethernets[eth], self.fabric_port + index)

    def binds(self, xy):
        out = [chip_endpoint(self.run_dir, xy)]
        if self.own is not None:
            out.append(self._tcp(xy))
        return out

    def connect(self, xy):
        return chip_endpoint(self.run_dir, xy) if self.is_local(xy) else self._tcp(xy)


def supervisor_endpoint(run_dir):
    return "ipc://" + os.path.join(run_dir, "supervisor")


def tune(sock):
    sock.setsockopt(zmq.LINGER, 0)
    # The queue limits bound how far a sender runs ahead of a receiver in lockstep
    # (a full queue holds the sender's tick loop: process.py backlog).
    sock.setsockopt(zmq.SNDHWM, 20000)
    sock.setsockopt(zmq.RCVHWM, 20000)
    # A peer on another host could send anything: bound what one message may make us
    # allocate (the largest real ones, multicast batches of a busy chip, are far smaller).
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
    return sock
