"""The tick runtime: timer-driven apps on chip processes, multicast routed by the
loaded tables across chips (including torus wrap links), lockstep and real time,
pause/resume, and a chip dying mid-run."""
import json
import os
import signal
import struct
import time

import pytest

from spinnaker_emu.host.apps import (load_app, load_routes, counter_config, read_counter,
                                     wait_state as _wait_state)
from spinnaker_emu.board.launcher import start_board
from spinnaker_emu.board.supervisor import pid_file
from spinnaker_emu.host.scp import SCPConnection, SCPError, SCPTimeout, boot_board
from spinnaker_emu.protocol import constants as C
from spinnaker_emu.protocol.constants import SCPCommand as CMD, RC, CPUState, Signal
from spinnaker_emu.protocol.structs import vcpu_address

from conftest import fresh_ip

W, NE, N, E, S, SW = 3, 1, 2, 0, 5, 4
TRIAD_ETHERNETS = ((0, 0), (8, 4), (4, 8))


def core_route(p):
    return 1 << (6 + p)


def wait_state(conn, app, state, n, timeout=10.0, ethernets=((0, 0),)):
    try:
        _wait_state(conn, app, state, n, timeout, ethernets)
    except TimeoutError as e:
        raise AssertionError(str(e))


@pytest.fixture(scope="module")
def triad(tmp_path_factory):
    """Three SpiNN-5 boards wired as one 12x12 torus (a triad), booted from board 0."""
    ips = [fresh_ip() for _ in range(3)]
    path = tmp_path_factory.mktemp("machine") / "triad.toml"
    path.write_text('version = 5\ntriads = [1, 1]\n[boards]\n"0,0,0" = "%s"\n"0,0,1" = "%s"\n"0,0,2" = "%s"\n' % tuple(ips))
    h = start_board(ips[0], 5, machine_file=str(path))
    try:
        boot_board(ips[0], 5)
        conn = SCPConnection(ips[0])
        yield conn
        conn.close()
    finally:
        h.stop()


ROUTES = {
    # source (1,1): 0x1000-3 west, 0x1004-7 south, 0x1008-B west and north-east; 0x100C-F: none
    (1, 1): [(0x1000, 0xFFFFFFFC, 1 << W), (0x1004, 0xFFFFFFFC, 1 << S), (0x1008, 0xFFFFFFFC, (1 << W) | (1 << NE))],
    # west through the wrap link (0,1) -> (11,1); (11,1) has no entry: default routing goes on west
    (0, 1): [(0x1000, 0xFFFFFFF4, 1 << W)],
    (10, 1): [(0x1000, 0xFFFFFFF4, 1 << W)],
    (9, 1): [(0x1000, 0xFFFFFFF4, core_route(2))],
    # south through the wrap link (1,0) -> (1,11)
    (1, 0): [(0x1004, 0xFFFFFFFC, 1 << S)],
    (1, 11): [(0x1004, 0xFFFFFFFC, 1 << S)],
    (1, 10): [(0x1004, 0xFFFFFFFC, 1 << S)],
    (1, 9): [(0x1004, 0xFFFFFFFC, core_route(3))],
    # north-east, four hops
    (2, 2): [(0x1008, 0xFFFFFFFC, 1 << NE)],
    (3, 3): [(0x1008, 0xFFFFFFFC, 1 << NE)],
    (4, 4): [(0x1008, 0xFFFFFFFC, 1 << NE)],
    (5, 5): [(0x1008, 0xFFFFFFFC, core_route(4))],
}
SENDS = [(2 + i, 0x1000 + i) for i in range(16)]        # key 0x1000+i at tick 2+i


def run_fabric_test(conn, app, time_scale):
    for xy, entries in ROUTES.items():
        load_routes(conn, xy[0], xy[1], entries, app)
    src = struct.pack("<I", len(SENDS)) + b"".join(struct.pack("<II", t, k) for t, k in SENDS)
    # real time: 100 ticks (200 ms at factor 2) leave room for chips' start skew
    n_ticks = 100 if time_scale else 30
    provs = [(1, 1, load_app(conn, 1, 1, 1, "mc_source", src, app, n_ticks, time_scale)[1])]
    counters = {}
    for xy, p in (((9, 1), 2), ((1, 9), 3), ((5, 5), 4)):
        counters[xy], prov = load_app(conn, xy[0], xy[1], p, "mc_counter", counter_config(64), app,
                                      n_ticks, time_scale)
        provs.append((xy[0], xy[1], prov))
    conn.send(1, 1, 0, CMD.WRITE, (0xF100002C, 4, 2), struct.pack("<I", 0xFFFFFFFF))   # clear diagnostics
    wait_state(conn, app, CPUState.SYNC0, 4, ethernets=TRIAD_ETHERNETS)
    conn.signal(app, Signal.SYNC0, C.SIG_TYPE_MC)
    wait_state(conn, app, CPUState.PAUSE, 4, ethernets=TRIAD_ETHERNETS)
    out = {xy: read_counter(conn, xy[0], xy[1], addr) for xy, addr in counters.items()}
    diag = struct.unpack("<16I", conn.read(1, 1, C.ROUTER_BASE + C.RTR_DIAG_COUNTERS, 64))
    ext11 = struct.unpack("<16I", conn.read(11, 1, C.ROUTER_BASE + C.RTR_DIAG_COUNTERS, 64))
    # provenance word 5: timer overruns (ticks that started a period or more late)
    run_fabric_test.overruns = sum(struct.unpack("<8I", conn.read(x, y, a, 32))[5] for x, y, a in provs)
    conn.signal(app, Signal.STOP)
    wait_state(conn, app, CPUState.PAUSE, 0, ethernets=TRIAD_ETHERNETS)
    return out, diag, ext11


def expected():
    def rx(keys):
        return [(t + 1, k) for t, k in SENDS if k in keys]
    return {(9, 1): rx(set(range(0x1000, 0x1004)) | set(range(0x1008, 0x100C))),
            (1, 9): rx(set(range(0x1004, 0x1008))),
            (5, 5): rx(set(range(0x1008, 0x100C)))}


def test_multicast_follows_the_tables_over_wrap_links(triad):
    out, diag, ext11 = run_fabric_test(triad, 50, None)
    for xy, want in expected().items():
        count, rows = out[xy]
        assert count == len(want) and rows == want, xy
    assert diag[0] == 16           # local MC at the source router
    assert diag[8] == 4            # 0x100C..F have no route: dropped at the source router
    assert ext11[1] == 8           # 8 keys passed (11,1) by default routing


def test_real_time_mode_gives_the_same_counts(triad):
    out, diag, _ = run_fabric_test(triad, 51, time_scale=2.0)
    if run_fabric_test.overruns > 40:
        # As on hardware, a core that cannot keep real time overruns its timer and its
        # packets can miss the run. A host missing over a tenth of the 4 x 100 ticks'
        # deadlines (another heavy job on 2 CPUs) is not keeping real time: no verdict.
        pytest.skip("host too loaded to keep real time: %d timer overruns" % run_fabric_test.overruns)
    for xy, want in expected().items():
        assert out[xy][0] == len(want)
        assert sorted(k for _t, k in out[xy][1]) == sorted(k for _t, k in want)
    assert diag[8] == 4


def test_pause_resume_records_without_loss_or_duplication(make_board):
    b = make_board()
    conn = b.conn
    app = 52
    load_routes(conn, 0, 0, [(0x5000, 0xFFFFFF00, 1 << N)], app)
    load_routes(conn, 0, 1, [(0x5000, 0xFFFFFF00, core_route(1))], app)
    sends = [(t, 0x5000 | (t & 0xFF)) for t in range(200)]
    src = struct.pack("<I", len(sends)) + b"".join(struct.pack("<II", t, k) for t, k in sends)
    load_app(conn, 0, 0, 3, "mc_source", src, app, 100)
    addr, prov = load_app(conn, 0, 1, 1, "mc_counter", counter_config(400), app, 100)
    wait_state(conn, app, CPUState.SYNC0, 2)
    conn.signal(app, Signal.SYNC0, C.SIG_TYPE_MC)
    wait_state(conn, app, CPUState.PAUSE, 2)
    count, rows = read_counter(conn, 0, 1, addr)
    assert rows == [(t + 1, k) for t, k in sends[:99]]
    ticks = struct.unpack("<I", conn.read(0, 1, prov, 4))[0]
    assert ticks == 100
    # resume: new run length through the SDP runtime command, then SYNC0 again
    for (x, y, p) in ((0, 0, 3), (0, 1, 1)):
        _runtime(conn, x, y, p, 100)
    wait_state(conn, app, CPUState.SYNC0, 2)
    conn.signal(app, Signal.SYNC0, C.SIG_TYPE_MC)
    wait_state(conn, app, CPUState.PAUSE, 2)
    count, rows = read_counter(conn, 0, 1, addr)
    assert rows == [(t + 1, k) for t, k in sends[:199]]
    assert struct.unpack("<4I", conn.read(0, 1, prov, 16))[:3] == (200, 0, 199)   # ticks sent received
    conn.signal(app, Signal.STOP)


def _runtime(conn, x, y, p, n):
    """The SDP runtime command to port 1 of a core (no reply)."""
    pkt = SCPConnection.packet(x, y, p, 1, (n, 0, 0), seq=0, port=1, reply=False)
    conn.sock.send(pkt)


def test_killing_a_chip_mid_run_is_reported_and_nothing_hangs(make_board):
    b = make_board()
    conn = b.conn
    app = 53
    # a chain (0,0) -> (1,0) -> (2,0) of relays that runs forever
    load_routes(conn, 0, 0, [(0x7000, 0xFFFFFF00, 1 << E)], app)
    load_routes(conn, 1, 0, [(0x7000, 0xFFFFFF00, core_route(1))], app)
    load_routes(conn, 1, 0, [(0x7100, 0xFFFFFF00, 1 << E)], app)
    load_routes(conn, 2, 0, [(0x7100, 0xFFFFFF00, core_route(1))], app)
    sends = [(t, 0x7000) for t in range(100000)]
    src = struct.pack("<I", 2000) + b"".join(struct.pack("<II", t, k) for t, k in sends[:2000])
    load_app(conn, 0, 0, 1, "mc_source", src, app, None)
    load_app(conn, 1, 0, 1, "mc_relay", struct.pack("<IIII", 1, 0x7000, 0xFFFFFF00, 0x7100), app, None)
    load_app(conn, 2, 0, 1, "mc_counter", counter_config(16), app, None)
    wait_state(conn, app, CPUState.SYNC0, 3)
    conn.signal(app, Signal.SYNC0, C.SIG_TYPE_MC)
    wait_state(conn, app, CPUState.RUN, 3)
    with open(pid_file(b.ip)) as f:
        victim = json.load(f)["chip_pids"]["1,0"]
    os.kill(victim, signal.SIGKILL)
    t0 = time.monotonic()
    # The host, waiting for the run to finish, is told which chip and cores failed.
    from spinnaker_emu.host.transceiver import Transceiver, ChipsNotResponding
    tx = Transceiver(b.ip, boot=False, timeout=0.3, retries=2)
    targets = {(0, 0): [1], (1, 0): [1], (2, 0): [1]}
    with pytest.raises(ChipsNotResponding) as e:
        tx.wait_for_cores(targets, CPUState.PAUSE, app_id=app, timeout=60)
    assert e.value.chips == {(1, 0): [1]}
    assert "1,0 (cores 1)" in str(e.value)
    assert time.monotonic() - t0 < 10
    # the other chips stop cleanly on STOP
    tx.send_signal(app, Signal.STOP)
    for xy in ((0, 0), (2, 0)):
        assert tx.conn.vcpu(xy[0], xy[1], 1)["cpu_state"] == CPUState.IDLE
    tx.close()


def test_sdp_and_eieio_to_and_from_a_core_through_ip_tags(make_board):
    """Host UDP -> reverse IP tag -> core (0,1,5) -> IP tag (strip) -> host UDP."""
    import socket
    from spinnaker_emu.apps.image import AppImage
    from spinnaker_emu.protocol import eieio
    b = make_board()
    conn = b.conn
    app = 54
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.bind(("127.0.0.1", 0))
    out.settimeout(2.0)
    try:
        # IP tag 1: strip, to our socket; reverse tag 2: board port -> core (0,1,5) SDP port 1
        ip_word = struct.unpack("<I", socket.inet_aton("127.0.0.1"))[0]
        conn.send(0, 0, 0, CMD.IPTAG, ((1 << 28) | (C.IPTAG_SET << 16) | 1, out.getsockname()[1], ip_word))
        rx = 18000 + os.getpid() % 500
        conn.send(0, 0, 0, CMD.IPTAG, ((3 << 28) | (C.IPTAG_SET << 16) | (1 << 13) | (5 << 8) | 2,
                                       (0 << 24) | (1 << 16) | rx, 0))
        conn.write_word(0, 1, vcpu_address(5, "user1"), 1)
        conn.write(0, 1, C.SDRAM_SYS, AppImage("sdp_echo", "echo").pack())
        conn.send(0, 1, 0, CMD.AR, ((app << 24) | (1 << 5),))
        wait_state(conn, app, CPUState.RUN, 1)              # the echo core is listening
        packet = eieio.EIEIOData(type=eieio.KEY_32, keys=[0x1234, 0xABCDEF]).pack()
        inject = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        inject.sendto(packet, (b.ip, rx))
        inject.close()
        data, src = out.recvfrom(1024)
        assert src == (b.ip, C.SCP_PORT)                     # tags send from the board's 17893
        assert eieio.unpack_data(data).keys == [0x1234, 0xABCDEF]
        _rc, p, _h = conn.send(0, 0, 0, CMD.IPTAG, ((C.IPTAG_GET << 16) | 1, 1))
        assert struct.unpack_from("<I", p, 16)[0] == 1       # one packet counted through tag 1
    finally:
        out.close()
        conn.signal(app, Signal.STOP)
