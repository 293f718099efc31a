"""Integration tests: real boards (one process per chip) driven over real UDP."""
import os
import random
import socket
import struct
import time

import pytest

from spinnaker_emu.apps.image import AppImage
from spinnaker_emu.board.launcher import start_board, running_boards
from spinnaker_emu.host.loader import flood_load, tree_load
from spinnaker_emu.host.scp import SCPConnection, SCPError, SCPTimeout
from spinnaker_emu.protocol import constants as C
from spinnaker_emu.protocol.constants import SCPCommand as CMD, RC, CPUState, Signal
from spinnaker_emu.protocol.sdp import SDPHeader, parse_scp_reply
from spinnaker_emu.protocol.structs import unpack_chip_info, IPTAG_T, sv_address
from spinnaker_emu.host.apps import wait_state

from conftest import fresh_ip

SPINN5 = [(x, y) for x, ys in {0: range(4), 1: range(5), 2: range(6), 3: range(7), 4: range(8),
                               5: range(1, 8), 6: range(2, 8), 7: range(3, 8)}.items() for y in ys]


sv_addr = sv_address


def wait_count(conn, app_id, state, n, timeout=30.0):
    wait_state(conn, app_id, state, n, timeout, ethernets=((255, 255),), poll=0.02)


# ------------------------------------------------------------------ memory
def test_memory_round_trips_odd_sizes_and_alignments(spin5):
    conn = spin5.conn
    base = conn.alloc_sdram(0, 0, 64 * 1024, app_id=40)
    assert base
    rng = random.Random(1)
    for offset in range(4):
        for size in (1, 2, 3, 4, 5, 7, 255, 256, 257, 1023, 4099):
            data = bytes(rng.getrandbits(8) for _ in range(size))
            conn.write(0, 0, base + offset, data)
            assert conn.read(0, 0, base + offset, size) == data
    # each access width on its own, through the raw command
    for access, addr, n in ((0, base + 1, 3), (1, base + 2, 6), (2, base + 4, 8)):
        conn.send(0, 0, 0, CMD.WRITE, (addr, n, access), b"\x5a" * n)
        _rc, payload, _h = conn.send(0, 0, 0, CMD.READ, (addr, n, access))
        assert payload == b"\x5a" * n


def test_aliases_and_remote_chip_memory(spin5):
    conn = spin5.conn
    sv1 = conn.read(7, 7, C.SV_BASE, 256)
    sv2 = conn.read(7, 7, C.SV_BASE_ALIAS, 256)
    no_clock = lambda sv: sv[:0x10] + sv[0x1C:]                    # clock_ms/time_ms advance
    assert no_clock(sv1) == no_clock(sv2) and struct.unpack_from("<H", sv1, 0)[0] == (7 << 8) | 7
    conn.write(4, 7, 0x60300000, b"remote!!")
    assert conn.read(4, 7, 0x70300000, 8) == b"remote!!"            # unbuffered SDRAM alias
    assert conn.read(4, 6, 0x60300000, 8) != b"remote!!"            # other chips have their own SDRAM
    conn.send(4, 7, 0, CMD.FILL, (0x60300000, 0xA5A55A5A, 64))
    assert conn.read(4, 7, 0x60300000, 64) == struct.pack("<I", 0xA5A55A5A) * 16


def test_p2p_reaches_every_chip_of_a_spinn5_board(spin5):
    conn = spin5.conn
    for (x, y) in SPINN5:
        v = conn.version(x, y)
        assert (v["x"], v["y"]) == (x, y) and v["version"] == "4.0.0"
        info = conn.chip_info(x, y)
        assert (info["x"], info["y"]) == (x, y)             # the reply comes from the executing chip
        assert info["eth_up"] == ((x, y) == (0, 0))
    # absent coordinates: RC_ROUTE from the Ethernet chip
    with pytest.raises(SCPError) as e:
        conn.version(7, 0)
    assert e.value.rc == RC.ROUTE


def test_p2p_table_and_sv_after_boot(spin5):
    conn = spin5.conn
    dims = conn.read(255, 255, C.SV_BASE_ALIAS + 2, 2)
    assert (dims[1], dims[0]) == (8, 8)
    table = conn.read(0, 0, C.ROUTER_BASE + C.RTR_P2P_TABLE, 128 * 8)
    live = set()
    for x in range(8):
        for y in range(8):
            i = (x << 8) | y
            if (struct.unpack_from("<I", table, 4 * (i >> 3))[0] >> (3 * (i & 7))) & 7 != C.P2P_NONE:
                live.add((x, y))
    assert live == set(SPINN5)
    assert conn.read(0, 0, sv_addr("ip_addr"), 4) == socket.inet_aton(spin5.ip)
    assert conn.read_word(0, 0, sv_addr("sdram_sys")) == 0x67800000
    assert conn.read_word(0, 0, sv_addr("vcpu_base")) == 0xE5007000
    assert conn.read(3, 3, sv_addr("netinit_phase"), 1) == b"\xff"


# ------------------------------------------------------------------ routers
def test_router_tables_load_read_clear(spin5):
    conn = spin5.conn
    app = 41
    entries = [(i, 0x10000 * (i + 1), 0xFFFF0000, (1 << (6 + i + 1)) | (1 << (i % 6))) for i in range(5)]
    _rc, p, _h = conn.send(7, 7, 0, CMD.ALLOC, ((app << 8) | C.ALLOC_RTR, len(entries)))
    first = struct.unpack("<I", p)[0]
    assert first >= 1
    table = b"".join(struct.pack("<HHIII", i, 0, route, key, mask) for i, key, mask, route in entries)
    conn.write(7, 7, C.SDRAM_SYS, table)
    conn.send(7, 7, 0, CMD.RTR, ((len(entries) << 16) | (app << 8) | C.RTR_LOAD, C.SDRAM_SYS, first))
    copy = conn.read(7, 7, conn.read_word(7, 7, sv_addr("rtr_copy")), 16 * 1024)
    got = []
    for i in range(1024):
        _n, free, route, key, mask = struct.unpack_from("<HHIII", copy, 16 * i)
        if route < 0xFF000000:
            got.append((i, free & 0xFF, key, mask, route))
    assert got[0][:3] == (0, 0, 0xFFFF5554)                       # SC&MP's own entry
    assert [g[1:] for g in got[1:]] == [(app, k, m, r) for _i, k, m, r in entries]
    # the router registers show the same
    assert conn.read_word(7, 7, C.ROUTER_BASE + C.RTR_MC_KEYS + 4 * first) == entries[0][1]
    info = conn.chip_info(7, 7)
    assert info["largest_rtr"] == 1023 - len(entries)
    # STOP frees the app's router entries
    conn.signal(app, Signal.STOP)
    assert conn.chip_info(7, 7)["largest_rtr"] == 1023
    copy = conn.read(7, 7, conn.read_word(7, 7, sv_addr("rtr_copy")) + 16, 16 * 8)
    assert all(struct.unpack_from("<HHIII", copy, 16 * k)[2] == 0xFF000000 for k in range(8))
    # fixed route register
    conn.send(0, 0, 0, CMD.RTR, (C.RTR_FIXED, 0x212))
    _rc, p, _h = conn.send(0, 0, 0, CMD.RTR, (C.RTR_FIXED, 0x80000000))
    assert struct.unpack("<I", p)[0] == 0x212


# ------------------------------------------------------------------ IP tags
def test_ip_tags_and_reverse_tag_port(spin5):
    conn = spin5.conn
    conn.send(0, 0, 0, CMD.IPTAG, ((1 << 28) | (C.IPTAG_SET << 16) | 3, 17896,
                                   struct.unpack("<I", socket.inet_aton("127.0.0.1"))[0]))
    _rc, p, _h = conn.send(0, 0, 0, CMD.IPTAG, ((C.IPTAG_GET << 16) | 3, 1))
    ip, _mac, port, _t, flags, _c, _rx, _d, _dpc = IPTAG_T.unpack(p)
    assert ip == socket.inet_aton("127.0.0.1") and port == 17896
    assert flags & C.TAG_FLAG_VALID and flags & C.TAG_FLAG_STRIP
    conn.send(0, 0, 0, CMD.IPTAG, ((C.IPTAG_CLR << 16) | 3,))
    _rc, p, _h = conn.send(0, 0, 0, CMD.IPTAG, ((C.IPTAG_GET << 16) | 3, 1))
    assert not IPTAG_T.unpack(p)[4] & C.TAG_FLAG_VALID
    # a reverse tag makes the board listen on its rx port
    rx = 17900 + os.getpid() % 50
    conn.send(0, 0, 0, CMD.IPTAG, ((3 << 28) | (C.IPTAG_SET << 16) | (1 << 13) | (1 << 8) | 4,
                                   (0 << 24) | (0 << 16) | rx, 0))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        time.sleep(0.1)
        with pytest.raises(OSError):
            s.bind((spin5.ip, rx))                                   # the board holds it
    finally:
        s.close()
    _rc, p, _h = conn.send(0, 0, 0, CMD.IPTAG, ((C.IPTAG_GET << 16) | 4, 1))
    t = IPTAG_T.unpack(p)
    assert t[4] & C.TAG_FLAG_REVERSE and t[6] == rx
    conn.send(0, 0, 0, CMD.IPTAG, ((C.IPTAG_CLR << 16) | 4,))
    time.sleep(0.1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((spin5.ip, rx))                                           # released again
    s.close()
    # TTO reports the tag table geometry
    _rc, p, _h = conn.send(0, 0, 0, CMD.IPTAG, ((C.IPTAG_TTO << 16), 255))
    assert p[1:4] == bytes([32, 8, 8])


# ------------------------------------------------------------------ applications
def test_flood_fill_to_every_chip_signals_and_states(spin5):
    conn = spin5.conn
    app = 42
    flood_load(conn, AppImage("test", "floodtest").pack(), (2, 3), app, wait=True)
    wait_count(conn, app, CPUState.WAIT, 2 * 48)
    v = conn.vcpu(6, 6, 2)
    assert v["app_name"] == "floodtest" and v["app_id"] == app and v["cpu_state"] == CPUState.WAIT
    conn.signal(app, Signal.START, C.SIG_TYPE_MC)
    wait_count(conn, app, CPUState.RUN, 96)
    for (x, y) in ((0, 0), (3, 5), (7, 7)):
        base = conn.read_word(x, y, sv_addr("sdram_base"))
        assert conn.read_word(x, y, base + 12) == (x << 24) | (y << 16) | 3
        assert conn.iobuf(x, y, 3) == "Test app started on %d, %d, 3.\n" % (x, y)
    conn.signal(app, Signal.PAUSE, C.SIG_TYPE_MC)
    wait_count(conn, app, CPUState.PAUSE, 96)
    conn.signal(app, Signal.CONT, C.SIG_TYPE_MC)
    wait_count(conn, app, CPUState.RUN, 96)
    conn.signal(app, Signal.EXIT, C.SIG_TYPE_MC)
    wait_count(conn, app, CPUState.EXIT, 96)
    conn.signal(app, Signal.STOP)
    wait_count(conn, app, CPUState.EXIT, 0)
    assert conn.count(0, CPUState.IDLE) == 48 * 17
    v = conn.vcpu(6, 6, 2)
    assert v["app_id"] == 0 and v["cpu_state"] == CPUState.IDLE and v["iobuf"] == 0


def test_sync_barriers_and_stop_frees_sdram(spin5):
    conn = spin5.conn
    app = 43
    before = conn.chip_info(1, 1)["largest_sdram"]
    assert conn.alloc_sdram(1, 1, 1 << 20, app)
    assert conn.chip_info(1, 1)["largest_sdram"] < before
    flood_load(conn, AppImage("sync", "barriers").pack(), (5,), app)
    wait_count(conn, app, CPUState.SYNC0, 48)
    conn.signal(app, Signal.SYNC0, C.SIG_TYPE_MC)
    wait_count(conn, app, CPUState.SYNC1, 48)
    conn.signal(app, Signal.SYNC1, C.SIG_TYPE_MC)
    wait_count(conn, app, CPUState.RUN, 48)
    conn.send(255, 255, 0, CMD.NNP, (0x003F0000, (5 << 28) | (2 << 16) | (0xFF << 8) | app, (1 << 31) | 0x3F00))
    wait_count(conn, app, CPUState.RUN, 0)
    assert conn.chip_info(1, 1)["largest_sdram"] == before


def test_app_copy_run_along_parent_links(spin5):
    conn = spin5.conn
    app = 44
    chips = {}
    for xy in SPINN5:
        chips[xy] = conn.chip_info(*xy)["parent_link"]
    assert chips[(0, 0)] == 7
    tree_load(conn, chips, AppImage("test", "treeload").pack(), {xy: (6,) for xy in SPINN5}, app, wait=True)
    wait_count(conn, app, CPUState.WAIT, 48)
    conn.signal(app, Signal.START, C.SIG_TYPE_MC)
    wait_count(conn, app, CPUState.RUN, 48)
    conn.signal(app, Signal.STOP)
    wait_count(conn, app, CPUState.RUN, 0)
    # a wrong checksum is refused with RC_SUM and the computed sum
    with pytest.raises(SCPError) as e:
        conn.send(0, 1, 0, CMD.APP_COPY_RUN, ((12345 << 3) | 5, 64, 0))
    assert e.value.rc == RC.SUM


def test_aplx_jumping_to_no_code_ends_in_rte_pabt_and_the_chip_lives_on(spin5):
    """An APLX whose entry point is unmapped: a prefetch abort; with no SARK vectors in
    ITCM to record it the engine writes RTE, rt_code PABT and the registers itself."""
    conn = spin5.conn
    app = 45
    aplx = struct.pack("<4I", 1, 0x400000, 0x40, 0x100) + struct.pack("<4I", 4, 0x10000, 0, 0) + bytes(256)
    conn.write(2, 2, C.SDRAM_SYS, aplx)
    conn.send(2, 2, 0, CMD.AR, ((app << 24) | (1 << 18) | (1 << 7),))
    deadline = time.time() + 10
    while conn.vcpu(2, 2, 7)["cpu_state"] != CPUState.RTE and time.time() < deadline:
        time.sleep(0.05)
    v = conn.vcpu(2, 2, 7)
    assert v["cpu_state"] == CPUState.RTE and v["app_id"] == app
    assert v["rt_code"] == C.RTECode.PABT
    assert "RTE PABT" in conn.iobuf(2, 2, 7)
    assert conn.vcpu(2, 2, 0)["cpu_state"] == CPUState.RUN       # the monitor answers
    assert conn.count(app, CPUState.RTE) == 1
    conn.signal(app, Signal.STOP)
    assert conn.vcpu(2, 2, 7)["cpu_state"] == CPUState.IDLE


def test_sark_on_application_cores(spin5):
    conn = spin5.conn
    v = conn.version(1, 2, 5)
    assert v["name"] == "SARK/SpiNNaker" and v["virt_cpu"] == 5
    with pytest.raises(SCPError) as e:
        conn.version(1, 2, 18)
    assert e.value.rc == RC.CPU
    rc, payload, _h = conn.send(1, 2, 5, CMD.INFO, (0x5F,), check=False)
    assert rc == RC.OK and payload == b""          # SC&MP 4 quirk: handler errors read as OK


def raw_request(ip, packet, timeout=1.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((ip, C.SCP_PORT))
    s.settimeout(timeout)
    try:
        s.send(packet)
        data = s.recv(1024)
        return SDPHeader.unpack(data, 2), parse_scp_reply(data[10:])
    except socket.timeout:
        return None
    finally:
        s.close()


def test_bad_packets_get_the_codes_sc_and_mp_gives(spin5):
    ip = spin5.ip
    ok = SCPConnection.packet(0, 0, 0, CMD.VER, (), b"", seq=9)
    hdr, (rc, seq, payload) = raw_request(ip, ok)
    assert rc == RC.OK and seq == 9 and hdr.flags == 0x07 and 8 <= hdr.tag < 16
    assert raw_request(ip, ok[:20])[1][0] == RC.LEN           # fewer than three argument words
    assert raw_request(ip, ok[:12]) is None                   # no room for cmd/seq: dropped
    assert raw_request(ip, ok + bytes(300)) is None           # longer than 282 bytes: dropped
    port1 = bytearray(ok)
    port1[4] = (1 << 5) | 0                                     # port 1 to the monitor
    assert raw_request(ip, bytes(port1))[1][0] == RC.PORT
    noreply = bytearray(ok)
    noreply[2] = 0x07
    assert raw_request(ip, bytes(noreply), timeout=0.3) is None
    # duplicates (same seq) are executed again and answered again
    for _ in range(3):
        assert raw_request(ip, ok)[1][1] == 9


def test_before_boot_scp_is_silently_dropped(make_board):
    b = make_board(boot=False)
    assert raw_request(b.ip, SCPConnection.packet(0, 0, 0, CMD.VER, seq=1), timeout=0.5) is None
    v = b.boot()
    assert v["p2p"] == 0 and v["version"] == "4.0.0"


def test_spinn3_board_and_scamp_3_behaviour(make_board):
    b = make_board(version=3, boot=False)
    b.boot(scamp_version="3.1.0")
    conn = b.conn
    assert conn.version()["version"] == "3.1.0"
    _rc, payload, _h = conn.send(1, 1, 0, CMD.INFO, (0x5F,))
    assert len(payload) == 36                                  # no parent link in 3.1.0
    assert unpack_chip_info(payload)["links"] == 0b111100
    with pytest.raises(SCPError) as e:                          # 3.1.0 has no CMD_COUNT
        conn.send(0, 0, 0, CMD.COUNT, (0, 15))
    assert e.value.rc == RC.CMD
    _rc, p, _h = conn.send(255, 255, 0, CMD.SIG, (1, (2 << 20) | (1 << 22) | (15 << 16) | 0xFF00, 0xFFFF))
    assert struct.unpack("<I", p)[0] == 4 * 17                 # P2P state count


def test_several_clients_at_once(spin5):
    import threading
    errors = []

    def worker(k):
        try:
            with SCPConnection(spin5.ip) as c:
                for i in range(20):
                    data = bytes([k, i]) * 100
                    c.write(k % 8 if k % 8 < 4 else 4, 3, 0x61000000 + 4096 * k, data)
                    assert c.read(k % 8 if k % 8 < 4 else 4, 3, 0x61000000 + 4096 * k, len(data)) == data
        except Exception as e:          # reported below
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    hung = [t.name for t in threads if t.is_alive()]
    assert not hung, "workers still running after 60 s: %s" % hung
    assert not errors


def test_killing_the_supervisor_leaves_no_chip_behind():
    ip = fresh_ip()
    h = start_board(ip, 5)
    import json
    from spinnaker_emu.board.supervisor import pid_file
    with open(pid_file(ip)) as f:
        chip_pids = list(json.load(f)["chip_pids"].values())
    assert len(chip_pids) == 48
    os.kill(h.pid, 9)
    h.proc.wait(5)
    deadline = time.monotonic() + 5
    alive = chip_pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if os.path.exists("/proc/%d" % p) and _not_zombie(p)]
        time.sleep(0.05)
    assert not alive
    h.stop()          # nothing left to stop, must not raise
    assert ip not in [i for i, _ in running_boards()]


def _not_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_a_bug_in_a_monitor_handler_answers_rc_cmd_and_logs(capsys):
    """In process: a handler that raises gives the host RC_CMD at once (not silence until
    its fifth timeout), and the board's log says which command and why."""
    import asyncio
    from types import SimpleNamespace
    from spinnaker_emu.board.monitor import Monitor
    from spinnaker_emu.protocol.sdp import SCPRequest
    chip = SimpleNamespace(n_cores=18, scamp_major=4, xy=(0, 0))
    m = Monitor(chip, proc=None)

    def broken(hdr, req):
        raise ZeroDivisionError("a bug")
    m.handlers[CMD.LED] = broken
    hdr = SDPHeader(flags=0x87, tag=0xFF, dest_port=0, dest_cpu=0, srce_port=7, srce_cpu=31,
                    dest_x=0, dest_y=0)
    rc, payload = asyncio.run(m.execute(hdr, SCPRequest(CMD.LED, 1, (0, 0, 0), b"")))
    assert (rc, payload) == (RC.CMD, b"")
    err = capsys.readouterr().err
    assert "error in the handler of SCP LED (answered RC_CMD)" in err and "ZeroDivisionError: a bug" in err


def test_run_directory_is_private(tmp_path, monkeypatch):
    from spinnaker_emu.board import fabric
    monkeypatch.setenv("SPINNAKER_EMU_RUN_DIR", str(tmp_path / "run"))
    path = fabric.make_board_dir("127.0.1.9")
    assert os.stat(tmp_path / "run").st_mode & 0o777 == 0o700
    assert os.stat(path).st_mode & 0o777 == 0o700
