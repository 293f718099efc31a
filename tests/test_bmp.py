"""The emulated BMP (spinnaker_emu.board.bmp): SCP over real UDP on loopback.

Boards here are "idle boards": the two UDP ports of a board bound in this process,
so power on/off is observable as ports being bound and freed without starting 48
chip processes per board.  The full chain with real boards is in
test_spalloc_power.py.
"""
import os
import socket
import struct
import time

import pytest

from spinnaker_emu.board.bmp import BMPServer
from spinnaker_emu.protocol.constants import SCPCommand, RC, SCP_PORT, BOOT_PORT
from spinnaker_emu.protocol.sdp import SDPHeader, SDPMessage, SCPRequest, parse_scp_reply
from spinnaker_emu.spalloc.power import BMPClient, BMPError

from conftest import IdleBoard

# addresses of this test process only (see test_spalloc.net)
_NET = "127.%d.206" % (1 + os.getpid() % 250)
BMP_IP = _NET + ".10"
BOARD_IPS = {0: _NET + ".11", 1: _NET + ".12", 2: _NET + ".13"}


def port_bound(ip, port=SCP_PORT):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((ip, port))
        return False
    except OSError:
        return True
    finally:
        s.close()


@pytest.fixture
def bmp():
    started = []

    def factory(ip):
        b = IdleBoard(ip)
        started.append(b)
        return b

    server = BMPServer(BMP_IP, BOARD_IPS, cabinet=0, frame=3, board_factory=factory).start()
    server.started = started
    try:
        yield server
    finally:
        server.close()
    assert not any(b.alive() for b in started)


def scp(ip, cmd, a1=0, a2=0, a3=0, data=b"", cpu=0, flags=0x87, seq=7, raw=None, timeout=2.0):
    """Send one SCP request and return (rc, payload), or None when nothing came back."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect((ip, SCP_PORT))
        if raw is None:
            hdr = SDPHeader(flags=flags, tag=0xFF, dest_port=0, dest_cpu=cpu)
            raw = SDPMessage(hdr, SCPRequest(cmd, seq, (a1, a2, a3), data).pack()).to_udp()
        s.send(raw)
        s.settimeout(timeout)
        try:
            reply = s.recv(1024)
        except socket.timeout:
            return None
        rc, rseq, payload = parse_scp_reply(SDPMessage.from_udp(reply).data)
        assert rseq == seq
        return rc, payload
    finally:
        s.close()


def test_ver_identifies_a_spin5_bmp(bmp):
    rc, payload = scp(BMP_IP, SCPCommand.VER, cpu=2)
    assert rc == RC.OK
    a1, a2, a3 = struct.unpack_from("<3I", payload)
    assert a1 == (0 << 24) | (3 << 16) | (2 << 8) | 2      # frame 3, board 2
    assert a2 & 0xFFFF == 256
    name, version = payload[12:].split(b"\0")[:2]
    assert name == b"BC&MP/Spin5-BMP" and version == b"2.1.2"
    assert BMPClient(BMP_IP).version() == ("BC&MP/Spin5-BMP", "2.1.2")


def test_power_on_binds_and_off_frees_board_ports(bmp):
    client = BMPClient(BMP_IP)
    assert not any(port_bound(ip) for ip in BOARD_IPS.values())
    client.power(True, [0, 2])
    assert port_bound(BOARD_IPS[0]) and port_bound(BOARD_IPS[2], BOOT_PORT)
    assert not port_bound(BOARD_IPS[1])
    rc, payload = scp(BMP_IP, SCPCommand.BMP_INFO, a1=3, cpu=0)     # ADC: board on
    assert rc == RC.OK and len(payload) == 48 and struct.unpack_from("<H", payload)[0] > 0
    client.power(True, [0])                 # already on: nothing restarts
    assert len(bmp.started) == 2
    client.power(False, [0, 1, 2])
    assert not any(port_bound(ip) for ip in BOARD_IPS.values())
    assert not any(b.alive() for b in bmp.started)


def test_power_with_bad_state_byte_is_rc_arg(bmp):
    assert scp(BMP_IP, SCPCommand.BMP_POWER, a1=2, a2=1)[0] == RC.ARG
    assert not port_bound(BOARD_IPS[0])
    with pytest.raises(BMPError):
        BMPClient(BMP_IP).request(SCPCommand.BMP_POWER, 5, 1, timeout=2)


def test_reset_brings_powered_boards_back_fresh(bmp):
    BMPClient(BMP_IP).power(True, [1])
    first = bmp.started[-1]
    assert scp(BMP_IP, SCPCommand.RESET, a1=0, a2=0b111)[0] == RC.OK
    assert not first.alive() and bmp.started[-1].alive() and len(bmp.started) == 2
    assert not port_bound(BOARD_IPS[0])     # reset does not power boards on


def test_fpga_registers_led_and_info(bmp):
    # LINK_WRITE then LINK_READ of an FPGA register (spalloc_server's link STOP)
    assert scp(BMP_IP, SCPCommand.LINK_WRITE, 0x1005C, 4, 2, struct.pack("<I", 1), cpu=1)[0] == RC.OK
    rc, payload = scp(BMP_IP, SCPCommand.LINK_READ, 0x1005C, 4, 2, cpu=1)
    assert rc == RC.OK and struct.unpack("<I", payload) == (1,)
    rc, payload = scp(BMP_IP, SCPCommand.LINK_READ, 0x1005C, 4, 2, cpu=0)   # other board
    assert struct.unpack("<I", payload) == (0,)
    assert scp(BMP_IP, SCPCommand.LINK_READ, 0, 4, 3)[0] == RC.ARG          # FPGA 0..2
    assert scp(BMP_IP, SCPCommand.LED, 0b11, 0b101)[0] == RC.OK
    assert bmp.slots[0].leds == 0b11 and bmp.slots[2].leds == 0b11 and bmp.slots[1].leds == 0
    for kind, size in ((0, 32), (2, 32), (3, 48), (4, 64)):
        rc, payload = scp(BMP_IP, SCPCommand.BMP_INFO, a1=kind)
        assert rc == RC.OK and len(payload) == size, kind
    rc, payload = scp(BMP_IP, SCPCommand.BMP_INFO, a1=4, cpu=1)
    assert socket.inet_aton(BOARD_IPS[1]) in payload[32:]
    assert scp(BMP_IP, SCPCommand.BMP_INFO, a1=9)[0] == RC.ARG
    assert scp(BMP_IP, SCPCommand.WRITE, 0x100, 8, 0, b"abcdefgh")[0] == RC.OK
    assert scp(BMP_IP, SCPCommand.READ, 0x100, 8, 0) == (RC.OK, b"abcdefgh")


def test_bad_packets_never_kill_the_bmp(bmp):
    garbage = [b"", b"\0", b"\0\0\x87", b"\xff" * 13, b"\0" * 300, bytes(range(256)),
               b"\0\0" + SDPHeader(flags=0x87).pack() + b"\0\0"]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for g in garbage:
            s.sendto(g, (BMP_IP, SCP_PORT))
    finally:
        s.close()
    # short args -> RC_LEN; unknown command -> RC_CMD; non-zero port -> RC_PORT
    hdr = SDPHeader(flags=0x87, tag=0xFF)
    assert scp(BMP_IP, 0, raw=SDPMessage(hdr, struct.pack("<HHI", 0, 7, 0)).to_udp())[0] == RC.LEN
    assert scp(BMP_IP, 99)[0] == RC.CMD
    hdr = SDPHeader(flags=0x87, tag=0xFF, dest_port=1)
    raw = SDPMessage(hdr, SCPRequest(0, 7, (0, 0, 0)).pack()).to_udp()
    assert scp(BMP_IP, 0, raw=raw)[0] == RC.PORT
    assert scp(BMP_IP, SCPCommand.VER, flags=0x07, timeout=0.3) is None     # no reply wanted
    assert scp(BMP_IP, SCPCommand.VER)[0] == RC.OK


def test_bmp_process_powers_off_on_sigterm(tmp_path):
    """The stand-alone BMP process: SIGTERM powers its boards off before it exits."""
    from spinnaker_emu.spalloc.power import BMPProcess
    launcher = tmp_path / "idle_launcher.py"
    launcher.write_text(
        "import socket\n"
        "class B:\n"
        "    def __init__(self, ip):\n"
        "        self.s = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in (0, 1)]\n"
        "        self.s[0].bind((ip, 17893)); self.s[1].bind((ip, 54321))\n"
        "    def stop(self, timeout=5.0):\n"
        "        [s.close() for s in self.s]\n"
        "def start_board(ip, version=5, log_path=None):\n"
        "    return B(ip)\n")
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(tmp_path) + (os.pathsep + old if old else "")
    try:
        proc = BMPProcess(BMP_IP, {0: BOARD_IPS[0]}, launcher="idle_launcher:start_board")
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    try:
        BMPClient(BMP_IP).power(True, [0])
        assert port_bound(BOARD_IPS[0])
    finally:
        proc.stop()
    assert not proc.alive()
    deadline = time.monotonic() + 5
    while port_bound(BOARD_IPS[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not port_bound(BOARD_IPS[0]) and not port_bound(BMP_IP)
