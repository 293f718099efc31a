"""Fixtures that start real emulated boards on unique loopback addresses and
always tear them down."""
import itertools
import os

import pytest

from spinnaker_emu.board.launcher import start_board
from spinnaker_emu.host.scp import SCPConnection, boot_board

# One /24 per test process so parallel runs never share an address.
_NET = 20 + os.getpid() % 200
_HOSTS = itertools.count(1)


def fresh_ip():
    n = next(_HOSTS)
    assert n < 255, "too many boards in one test process"
    return "127.0.%d.%d" % (_NET, n)


class Board:
    def __init__(self, version=5, boot=True, machine_file=None):
        self.ip = fresh_ip()
        self.version = version
        self.handle = start_board(self.ip, version, machine_file)
        self.conn = None
        from spinnaker_emu.board.boards import load_machine
        self.chips = set(load_machine(machine_file, version, self.ip).chips)
        if boot:
            self.boot()

    def boot(self, **kw):
        self.ver = boot_board(self.ip, self.version, **kw)
        self.conn = SCPConnection(self.ip)
        return self.ver

    def stop(self):
        if self.conn:
            self.conn.close()
        self.handle.stop()


@pytest.fixture
def make_board():
    boards = []

    def make(**kw):
        b = Board(**kw)
        boards.append(b)
        return b
    yield make
    for b in boards:
        b.stop()


@pytest.fixture(scope="module")
def spin5():
    b = Board(5)
    yield b
    b.stop()


@pytest.fixture(scope="module")
def spin3():
    b = Board(3)
    yield b
    b.stop()


class IdleBoard:
    """Stand-in for a board in allocator-protocol tests (tests/test_spalloc.py,
    tests/test_bmp.py): a powered board nobody has booted, i.e. its two UDP ports bound
    and nothing answering, so power on/off shows as ports bound/freed. Power, the
    50-client test, the SpiNNMan probe and the PyNN path use real boards."""

    def __init__(self, ip):
        import socket
        from spinnaker_emu.protocol.constants import SCP_PORT, BOOT_PORT
        self.ip = ip
        self.pid = None
        self.socks = []
        for port in (SCP_PORT, BOOT_PORT):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((ip, port))
            self.socks.append(s)

    def alive(self):
        return bool(self.socks)

    def stop(self, timeout=5.0):
        for s in self.socks:
            s.close()
        self.socks = []
