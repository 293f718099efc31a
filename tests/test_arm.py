"""REAL SpiNNaker binaries (.aplx) on emulated ARM968 cores, on real emulated
boards (conftest) driven over real UDP: rig's test.aplx (SARK 3.0.0) and
SpiNNFrontEndCommon / sPyNNaker 1!7.4.1 binaries (SARK 4.0.0). Every test
skips, naming the binary and the places searched, when a binary is missing
(tests/arm_binaries.py find_aplx / require_aplx).

All boards are SpiNN-3 (4 chips: (0,0) E-> (1,0) N-> (1,1), (0,0) N-> (0,1));
virtual time is paced to the wall clock (the engine's default).
"""
import csv
import os
import socket
import struct
import time

import pytest

import arm_binaries as AB
from conftest import Board
from spinnaker_emu.apps.image import AppImage
from spinnaker_emu.board.router import DIAG_LOC_MC, DIAG_EXT_MC, DIAG_DUMP_MC
from spinnaker_emu.host.transceiver import Transceiver, route_word
from spinnaker_emu.protocol import constants as C
from spinnaker_emu.protocol.constants import CPUState, Signal, RTECode, SCPCommand as CMD, RC
from spinnaker_emu.protocol.structs import unpack_version

RIG_TEST = "test.aplx"
IF_CURR_EXP = "IF_curr_exp.aplx"

DTCM_TOP = C.DTCM_BASE + 0x10000
MODE_SVC, MODE_SYS = 0x13, 0x1F
ENGINE_RTE_MARK = "spinnaker-emu:"      # what the engine's own fallback RTE prints (engine.py rte())

# ---------------------------------------------------------------- helpers
def aplx(name):
    with open(AB.require_aplx(name), "rb") as f:
        return f.read()


@pytest.fixture
def spin3_tx(make_board):
    """A booted SpiNN-3 board and a Transceiver on it: spin3_tx("3.1.0") or spin3_tx()."""
    made = []

    def make(scamp_version=None):
        b = make_board(version=3, boot=False)
        kw = {"scamp_version": scamp_version} if scamp_version else {}
        tx = Transceiver(b.ip, version=3, **kw)
        made.append(tx)
        return b, tx
    yield make
    for tx in made:
        tx.close()


def sdram_slot(tx, x, y, p):
    """Where test.aplx (and the emulated "test" kernel) writes (x<<24)|(y<<16)|p."""
    return tx.sv_value(x, y, "sdram_base") + 4 * p


def xyp_word(x, y, p):
    return (x << 24) | (y << 16) | p


def cores_of(cores_by_chip):
    return [(x, y, p) for (x, y), ps in sorted(cores_by_chip.items()) for p in ps]


def start_emulated_test(tx, x, y, p, app_id):
    """The emulator's own "test" kernel (what rig's test.aplx does, in Python) on one core."""
    tx.write_word(x, y, sdram_slot(tx, x, y, p), 0)
    tx.execute_flood({(x, y): [p]}, AppImage("test", "emu_test").pack(), app_id)
    tx.wait_for_cores({(x, y): [p]}, CPUState.RUN, app_id=app_id, timeout=5)
    assert tx.read_word(x, y, sdram_slot(tx, x, y, p)) == xyp_word(x, y, p)


def scratch(tx, x, y):
    """64 bytes of SDRAM for assert_monitor_works, allocated up front: the "test"
    binaries write their word at sv->sdram_base + 4p, which (SpiNNMan's boot
    values: sdram_heap = 0) is where the SDRAM heap starts, on hardware too, so
    no SDRAM is allocated on a chip once one of them ran there."""
    return tx.malloc_sdram(x, y, 64, app_id=99)


def assert_monitor_works(tx, x, y, addr):
    ver = tx.conn.version(x, y, 0)
    assert ver["name"] == "SC&MP/SpiNNaker" and (ver["x"], ver["y"]) == (x, y)
    data = os.urandom(64)
    tx.write_memory(x, y, addr, data)
    assert tx.read_memory(x, y, addr, 64) == data


def assert_sark_dumped(v, rt_code, modes):
    """vcpu_t as SARK's own RTE path leaves it: rt_code, cpu_state RTE, and the
    registers it saved (sp in DTCM, a return address, the mode of the failing code)."""
    assert v["cpu_state"] == CPUState.RTE
    assert v["rt_code"] == rt_code, RTECode(v["rt_code"]).name
    assert C.DTCM_BASE < v["sp"] <= DTCM_TOP, hex(v["sp"])
    assert v["lr"] != 0
    assert v["psr"] & 0x1F in modes, hex(v["psr"])


def decode_iobuf(text, aplx_name):
    """sPyNNaker 7.x logs "id\\x1earg..." lines; the .dict shipped beside the
    .aplx maps ids to "preface", "format". [(preface + format, args)] or None
    when there is no .dict."""
    path = AB.find_aplx(aplx_name)[:-len(".aplx")] + ".dict"
    if not os.path.isfile(path):
        return None
    with open(path, newline="") as f:
        table = {row[0]: row[1] + row[2] for row in csv.reader(f) if len(row) >= 3}
    out = []
    for line in text.split("\n"):                # not splitlines(): it splits at \x1e too
        fields = line.split("\x1e")
        if fields[0] in table:
            out.append((table[fields[0]], fields[1:]))
    return out


# ------------------------------------------------- 1. rig test.aplx, SC&MP 3.1.0
def test_rig_test_aplx_waits_starts_runs_and_stops_on_scamp_3(spin3_tx):
    aplx_bytes = aplx(RIG_TEST)
    _b, tx = spin3_tx("3.1.0")
    assert tx.scamp_version == "3.1.0"
    cores = {(0, 0): [1, 2], (1, 1): [3]}
    for (x, y, p) in cores_of(cores):
        tx.write_word(x, y, sdram_slot(tx, x, y, p), 0)

    tx.execute_flood(cores, aplx_bytes, 30, wait=True)
    tx.wait_for_cores(cores, CPUState.WAIT, app_id=30, timeout=5)
    states = tx.get_core_states([(0, 0), (1, 1)])
    assert {c for c, s in states.items() if s == CPUState.WAIT} == set(cores_of(cores))
    for (x, y, p) in cores_of(cores):
        v = tx.get_cpu_info(x, y, p)
        assert v["app_name"] == "test" and v["app_id"] == 30
        assert tx.read_word(x, y, sdram_slot(tx, x, y, p)) == 0      # c_main has not run yet

    tx.send_signal(30, Signal.START)
    tx.wait_for_cores(cores, CPUState.RUN, app_id=30, timeout=5)
    iobufs = tx.get_iobuf(cores_of(cores))
    for (x, y, p) in cores_of(cores):
        assert tx.read_word(x, y, sdram_slot(tx, x, y, p)) == xyp_word(x, y, p)
        assert iobufs[(x, y, p)].startswith("Rig test APLX started on %d, %d, %d." % (x, y, p))

    tx.send_signal(30, Signal.STOP)
    tx.wait_for_cores(cores, CPUState.IDLE, timeout=5)
    assert tx.count_state(30, CPUState.RUN) == 0

    # the same cores take the binary again (no wait flag: straight to c_main)
    for (x, y, p) in cores_of(cores):
        tx.write_word(x, y, sdram_slot(tx, x, y, p), 0)
    tx.execute_flood(cores, aplx_bytes, 31)
    tx.wait_for_cores(cores, CPUState.RUN, app_id=31, timeout=5)
    for (x, y, p) in cores_of(cores):
        assert tx.read_word(x, y, sdram_slot(tx, x, y, p)) == xyp_word(x, y, p)
    tx.send_signal(31, Signal.STOP)
    tx.wait_for_cores(cores, CPUState.IDLE, timeout=5)


# ------------------------------------------ 2. the same binary, SC&MP 4.0.0
def test_sark_3_refuses_to_run_under_scamp_4_with_rte_version(spin3_tx):
    aplx_bytes = aplx(RIG_TEST)
    _b, tx = spin3_tx()
    assert tx.scamp_version == C.DEFAULT_SCAMP_VERSION == "4.0.0"
    assert RTECode(20) is RTECode.VERSION               # SARK's RTE_VER
    cores = {(0, 1): [4], (1, 0): [5]}
    spare = {xy: scratch(tx, *xy) for xy in cores}
    for (x, y, p) in cores_of(cores):
        tx.write_word(x, y, sdram_slot(tx, x, y, p), 0)

    tx.execute_flood(cores, aplx_bytes, 30, wait=True)
    tx.wait_for_cores(cores, CPUState.RTE, timeout=5)   # never reaches WAIT
    iobufs = tx.get_iobuf(cores_of(cores))
    for (x, y, p) in cores_of(cores):
        v = tx.get_cpu_info(x, y, p)
        assert v["app_name"] == "test" and v["app_id"] == 30
        assert_sark_dumped(v, RTECode.VERSION, (MODE_SVC, MODE_SYS))
        assert v["r"][0] == RTECode.VERSION              # rt_error(RTE_VER, ...) as SARK calls it
        assert ENGINE_RTE_MARK not in iobufs[(x, y, p)]  # SARK's own check, not the engine's
        assert tx.read_word(x, y, sdram_slot(tx, x, y, p)) == 0     # c_main never ran

    # the monitors and the other cores of those chips keep working
    for xy in cores:
        assert_monitor_works(tx, xy[0], xy[1], spare[xy])
    start_emulated_test(tx, 0, 1, 5, app_id=32)
    start_emulated_test(tx, 1, 0, 6, app_id=32)
    assert tx.get_core_states([(0, 1)])[(0, 1, 4)] == CPUState.RTE

    # STOP frees the failed cores, which then run something else
    tx.send_signal(30, Signal.STOP)
    tx.wait_for_cores(cores, CPUState.IDLE, timeout=5)
    start_emulated_test(tx, 0, 1, 4, app_id=33)
    assert tx.get_core_states([(0, 1)])[(0, 1, 5)] == CPUState.RUN
    for app in (32, 33):
        tx.send_signal(app, Signal.STOP)


# --------------------------------------- 3. SCP to SARK on an application core
def test_scp_to_an_application_core_is_answered_by_sark_on_that_core(spin3_tx):
    aplx_bytes = aplx(RIG_TEST)
    _b, tx = spin3_tx("3.1.0")
    x, y, p = 1, 0, 2
    tx.execute_flood({(x, y): [p]}, aplx_bytes, 30)
    tx.wait_for_cores({(x, y): [p]}, CPUState.RUN, app_id=30, timeout=5)
    conn = tx.conn

    # CMD_VER: sark_cmd_ver (sark_base.c), answered through the SHM mailbox
    rc, payload, hdr = conn.send(x, y, p, CMD.VER)
    assert rc == RC.OK
    assert (hdr.srce_x, hdr.srce_y, hdr.srce_cpu, hdr.srce_port) == (x, y, p, 0)
    arg1, arg2, _date = struct.unpack_from("<3I", payload)
    assert arg1 == (((x << 8) | y) << 16) | (p << 8) | p    # p2p_addr << 16 | phys << 8 | virt
    assert arg2 == 0xFFFF0000 + C.SDP_BUF_SIZE
    ver = unpack_version(payload)
    assert ver["name"] == "SARK/SpiNNaker"
    sw_ver = tx.get_cpu_info(x, y, p)["sw_ver"]             # SARK's own version, in vcpu_t
    assert ver["version"] == "%d.%d.%d" % (sw_ver >> 16, (sw_ver >> 8) & 0xFF, sw_ver & 0xFF)
    mon = conn.version(x, y, 0)                             # the monitor is somebody else
    assert (mon["name"], mon["version"]) == ("SC&MP/SpiNNaker", "3.1.0")

    # CMD_READ through SARK == the emulator's own view of that core's DTCM (bulk channel,
    # which reads core p's TCM directly, not through SARK)
    assert tx.bulk is not None
    sark_view = conn.send(x, y, p, CMD.READ, (C.DTCM_BASE, 256, 2))[1]
    direct = bytes(tx.bulk.read([(x, y, p, C.DTCM_BASE, 256)])[0])
    assert sark_view == direct and any(direct)
    # both ways, in free DTCM heap: SARK writes, the engine sees it; and back
    free_dtcm = C.DTCM_BASE + 0x8000
    pattern = bytes((7 * i + 3) & 0xFF for i in range(64))
    conn.send(x, y, p, CMD.WRITE, (free_dtcm, 64, 2), pattern)
    assert bytes(tx.bulk.read([(x, y, p, free_dtcm, 64)])[0]) == pattern
    tx.bulk.write([(x, y, p, free_dtcm + 256, pattern[::-1])])
    assert conn.send(x, y, p, CMD.READ, (free_dtcm + 256, 64, 2))[1] == pattern[::-1]
    # sark_cmd_read's own argument check: more than SDP_BUF_SIZE bytes is RC_ARG
    rc, _pl, _h = conn.send(x, y, p, CMD.READ, (C.DTCM_BASE, C.SDP_BUF_SIZE + 4, 2), check=False)
    assert rc == RC.ARG
    assert tx.get_core_states([(x, y)])[(x, y, p)] == CPUState.RUN
    tx.send_signal(30, Signal.STOP)


# ----------------------------- 4. FEC 7.4.1: multicast across chips, SDP in/out
APP = 30
RIP = (0, 0, 1)                 # reverse_iptag_multicast_source
LPG = (1, 1, 1)                 # live_packet_gather, two hops away through (1, 0)
LPG_TAG = 1
KEY_BASE, KEY_MASK = 0x12340000, 0xFFFFFF00
KEYS = [KEY_BASE | i for i in (0, 1, 2, 3, 5, 8, 13, 21, 34, 55)]
ROUTES = {(0, 0): route_word(links=[0]),        # E to (1, 0)
          (1, 0): route_word(links=[2]),        # N to (1, 1)
          (1, 1): route_word(cores=[LPG[2]])}


def _sim_command(sock, pkt, seq, timeout=1.0, tries=3):
    """Send a simulation-control SCP to port 3 and wait for its reply:
    (cmd_rc, seq, SDP header bytes), or None if none came."""
    for _ in range(tries):
        sock.send(pkt)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = sock.recv(1024)
            except socket.timeout:
                break
            rc, rseq = struct.unpack_from("<2H", data, 10)
            if rseq == seq:
                return rc, rseq, data[2:10]
    return None


def _run_fec_live_io(tx, board_ip, out):
    """The whole FEC start protocol (docs/notes/fec_binaries.md), recording what
    happened in ``out`` as it goes (so a failure late on still leaves the rest)."""
    listener = tx.listen(LPG_TAG, strip=True)
    ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ctl.connect((board_ip, C.SCP_PORT))
    try:
        for (x, y, p), regions in ((RIP, AB.riptmcs_regions()),
                                   (LPG, AB.lpg_regions(LPG_TAG, 0, 0))):
            base = tx.malloc_sdram(x, y, AB.ds_size(regions), APP,
                                   tag=AB.CORE_DATA_SDRAM_TAG_BASE + p)
            tx.write_memory(x, y, base, AB.ds_image(base, regions))
            tx.write_user(x, y, p, 0, base)
        for (x, y), route in ROUTES.items():
            tx.load_routes(x, y, [(KEY_BASE, KEY_MASK, route)], APP)
            tx.write_word(x, y, C.ROUTER_BASE + C.RTR_DIAG_CLEAR, 0xFFFF)
        for (x, y, p), name in ((RIP, AB.RIPTMCS_BINARY), (LPG, AB.LPG_BINARY)):
            tx.execute_flood({(x, y): [p]}, aplx(name), APP, wait=True)
        cores = [RIP, LPG]
        tx.wait_for_cores(cores, CPUState.WAIT, app_id=APP, timeout=5)
        tx.send_signal(APP, Signal.START)
        tx.wait_for_cores(cores, CPUState.PAUSE, app_id=APP, timeout=5)
        out["paused"] = True
        for seq, core in enumerate(cores, 1):
            out.setdefault("runtime_replies", {})[core] = _sim_command(
                ctl, AB.cmd_runtime(*core, 0, infinite=True, seq=seq), seq)
        tx.wait_for_cores(cores, CPUState.SYNC0, app_id=APP, timeout=3)
        tx.send_signal(APP, Signal.SYNC0)
        tx.wait_for_cores(cores, CPUState.RUN, app_id=APP, timeout=3)
        out["running"] = True
        ctl.send(AB.riptmcs_inject(*RIP, KEYS))
        got, deadline = [], time.monotonic() + 5
        while len(got) < len(KEYS) and time.monotonic() < deadline:
            data = listener.receive(0.25)
            if data is not None:
                got += AB.parse_lpg_datagram(data)
        out["keys"] = got
        out["tag_count"] = tx.get_tags()[LPG_TAG]["count"]
        tx.send_signal(APP, Signal.STOP)
        tx.wait_for_cores(cores, CPUState.IDLE, timeout=5)
        out["stopped"] = True
    finally:
        ctl.close()
        listener.close()
        try:
            # counters are gathered whatever happened, after the run (or its failure)
            time.sleep(0.3)
            out["diag"] = {xy: struct.unpack("<16I", tx.read_memory(
                xy[0], xy[1], C.ROUTER_BASE + C.RTR_DIAG_COUNTERS, 64)) for xy in ROUTES}
        except Exception as e:                               # reported by the tests
            out.setdefault("error", e)


@pytest.fixture(scope="module")
def fec_live_io():
    """One run of RIPTMCS (0,0,1) -> (1,0) -> LPG (1,1,1) -> IP tag -> host,
    shared by the tests below: {paused, runtime_replies, running, keys,
    tag_count, stopped, diag, error}."""
    for name in (AB.RIPTMCS_BINARY, AB.LPG_BINARY):
        AB.require_aplx(name)
    b = Board(3, boot=False)
    out = {}
    try:
        with Transceiver(b.ip, version=3) as tx:
            try:
                _run_fec_live_io(tx, b.ip, out)
            except Exception as e:
                out["error"] = e
        yield out
    finally:
        b.stop()


def _need(out, *keys):
    missing = [k for k in keys if k not in out]
    if missing:
        raise AssertionError("FEC run did not get to %s: %r (runtime replies %r)"
                             % ("/".join(missing), out.get("error"), out.get("runtime_replies")))


def test_fec_binaries_reach_pause_after_start(fec_live_io):
    """simulation_run -> spin1_start_paused: PAUSE, before any CMD_RUNTIME."""
    assert fec_live_io.get("paused"), fec_live_io.get("error")


def test_fec_cmd_runtime_is_acknowledged_by_both_cores(fec_live_io):
    _need(fec_live_io, "runtime_replies")
    replies = fec_live_io["runtime_replies"]
    for seq, core in enumerate((RIP, LPG), 1):
        assert replies.get(core) is not None, "no CMD_RUNTIME reply from %s" % (core,)
        rc, rseq, hdr = replies[core]
        assert (rc, rseq) == (RC.OK, seq)
        assert hdr[3] == (AB.CONTROL_SDP_PORT << 5) | core[2]          # srce port 3, core p
        assert (hdr[7], hdr[6]) == core[:2]                             # srce_x, srce_y
    _need(fec_live_io, "running")


def test_fec_keys_injected_as_eieio_come_back_through_the_lpg_ip_tag(fec_live_io):
    _need(fec_live_io, "keys")
    assert sorted(fec_live_io["keys"]) == sorted(KEYS)
    assert fec_live_io["tag_count"] >= 1
    _need(fec_live_io, "stopped")


def test_fec_multicast_counted_by_the_source_router(fec_live_io):
    _need(fec_live_io, "keys", "diag")
    diag = fec_live_io["diag"]
    assert diag[(0, 0)][DIAG_LOC_MC] == len(KEYS), diag
    assert diag[(0, 0)][DIAG_DUMP_MC] == 0, diag


def test_fec_multicast_counted_by_every_router_on_the_path(fec_live_io):
    _need(fec_live_io, "keys", "diag")
    diag = fec_live_io["diag"]
    assert diag[(1, 0)][DIAG_EXT_MC] == len(KEYS), diag       # in from (0,0), out N
    assert diag[(1, 1)][DIAG_EXT_MC] == len(KEYS), diag       # in from (1,0), to core 1
    assert all(diag[xy][DIAG_DUMP_MC] == 0 for xy in ROUTES), diag


# ------------------------------ 5. RTE from a real binary's own error handling
def test_spynnaker_binary_without_its_data_ends_in_rte_from_its_own_handlers(spin3_tx):
    """IF_curr_exp (sPyNNaker 7.4.1) on two cores of chip (0,1):
    core 2's user0 points at a zeroed block: data_specification_read_header
    logs "Magic number is incorrect" and c_main calls rt_error(RTE_API);
    core 3's user0 is 0: data_specification_get_data_address walks a region
    table read from address 0 (ITCM: the vector table) and takes a data abort
    in its checksum loop, recorded by SARK's abort handler (RTE_DABT).
    A neighbouring core and the monitor are unaffected; the cores are reusable."""
    aplx_bytes = aplx(IF_CURR_EXP)
    _b, tx = spin3_tx()
    x, y = 0, 1
    spare = scratch(tx, x, y)
    block = tx.malloc_sdram(x, y, 4096, 40, tag=AB.CORE_DATA_SDRAM_TAG_BASE + 2)
    start_emulated_test(tx, x, y, 4, app_id=41)               # the neighbour, running
    tx.write_memory(x, y, block, bytes(4096))
    tx.write_user(x, y, 2, 0, block)
    tx.write_user(x, y, 3, 0, 0)

    tx.execute_flood({(x, y): [2, 3]}, aplx_bytes, 40, wait=True)
    tx.wait_for_cores({(x, y): [2, 3]}, CPUState.WAIT, app_id=40, timeout=5)   # SARK 4 is accepted
    tx.send_signal(40, Signal.START)
    tx.wait_for_cores({(x, y): [2, 3]}, CPUState.RTE, timeout=5)
    iobufs = tx.get_iobuf([(x, y, 2), (x, y, 3)])

    bad_magic = tx.get_cpu_info(x, y, 2)
    assert bad_magic["app_name"] == "IF_curr_exp"
    assert_sark_dumped(bad_magic, RTECode.API, (MODE_SVC, MODE_SYS))
    assert bad_magic["r"][0] == RTECode.API                   # rt_error(RTE_API)
    text = iobufs[(x, y, 2)]
    assert text.strip() and ENGINE_RTE_MARK not in text       # the binary's own log
    decoded = decode_iobuf(text, IF_CURR_EXP)
    if decoded is not None:                                   # numeric log ids: use the .dict
        assert any("Magic number is incorrect" in fmt and args == ["00000000"]
                   for fmt, args in decoded), decoded

    aborted = tx.get_cpu_info(x, y, 3)
    assert_sark_dumped(aborted, RTECode.DABT, (MODE_SVC, MODE_SYS))
    assert ENGINE_RTE_MARK not in iobufs[(x, y, 3)]           # SARK's handler, not the engine's

    # the monitor, the neighbour and the rest of the chip are fine
    assert_monitor_works(tx, x, y, spare)
    states = tx.get_core_states([(x, y)])
    assert states[(x, y, 4)] == CPUState.RUN
    assert tx.read_word(x, y, sdram_slot(tx, x, y, 4)) == xyp_word(x, y, 4)
    start_emulated_test(tx, x, y, 5, app_id=42)

    tx.send_signal(40, Signal.STOP)
    tx.wait_for_cores({(x, y): [2, 3]}, CPUState.IDLE, timeout=5)
    start_emulated_test(tx, x, y, 2, app_id=43)
    assert tx.get_core_states([(x, y)])[(x, y, 4)] == CPUState.RUN
    for app in (41, 42, 43):
        tx.send_signal(app, Signal.STOP)


def _poll_timer_aplx(marker_addr, cycles):
    """A bare APLX (no SARK): starts Timer1 one-shot for ``cycles``, spins reading its
    COUNT until zero, then writes 0x5A to ``marker_addr`` and sleeps in WFI."""
    code = [
        0xE59F102C,             # 0x00 ldr r1, =0x21000000 (timers, buffered alias)
        0xE59F202C,             # 0x04 ldr r2, =cycles
        0xE5812000,             # 0x08 str r2, [r1, #0]      T1 LOAD
        0xE3A03083,             # 0x0C mov r3, #0x83         enabled, 32-bit, one-shot
        0xE5813008,             # 0x10 str r3, [r1, #8]      T1 CONTROL
        0xE5914004,             # 0x14 ldr r4, [r1, #4]      T1 COUNT   <- the busy-wait
        0xE3540000,             # 0x18 cmp r4, #0
        0x1AFFFFFC,             # 0x1C bne 0x14
        0xE59F5014,             # 0x20 ldr r5, =marker_addr
        0xE3A0605A,             # 0x24 mov r6, #0x5A
        0xE5856000,             # 0x28 str r6, [r5]
        0xEE070F90,             # 0x2C wfi
        0xEAFFFFFD,             # 0x30 b 0x2C
        0x21000000, cycles, marker_addr,
    ]
    body = struct.pack("<%dI" % len(code), *code)
    table = struct.pack("<4I", 2, C.ITCM_BASE, 32, len(body)) + struct.pack("<4I", 4, C.ITCM_BASE, 0, 0)
    return table + body


def test_a_busy_wait_on_a_timer_is_skipped_not_emulated(spin3_tx):
    """sPyNNaker's split synapse cores spin on T2_COUNT for the whole tick. A core that
    polls a running timer's COUNT sees it count down to zero and goes on, after the
    virtual time the timer was set for (paced by the wall clock: not sooner), without
    the engine emulating every poll (2e8 cycles of polling through a Python MMIO read
    would take minutes)."""
    _b, tx = spin3_tx()
    x, y, p = 0, 1, 6
    marker = sdram_slot(tx, x, y, p)
    tx.write_word(x, y, marker, 0)
    t0 = time.monotonic()
    tx.execute_flood({(x, y): [p]}, _poll_timer_aplx(marker, C.CPU_CLOCK_HZ), 50, wait=False)
    deadline = t0 + 30
    while tx.read_word(x, y, marker) != 0x5A and time.monotonic() < deadline:
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    assert tx.read_word(x, y, marker) == 0x5A, "the poll loop never saw COUNT reach 0"
    assert 0.9 <= elapsed < 20, elapsed      # one virtual second, paced by the wall clock
    tx.send_signal(50, Signal.STOP)


def test_arm_trace_flag_logs_what_a_traced_core_does(make_board, monkeypatch):
    """SPINNAKER_EMU_ARM_TRACE=x,y,p (read when the board starts) writes the named
    core's load, busy-wait skips and WFI into the board log with its virtual time;
    other cores stay silent."""
    monkeypatch.setenv("SPINNAKER_EMU_ARM_TRACE", "0,1,6")
    b = make_board(version=3, boot=False)
    monkeypatch.delenv("SPINNAKER_EMU_ARM_TRACE")
    log_start = os.path.getsize(b.handle.log_path)
    tx = Transceiver(b.ip, version=3)
    try:
        x, y = 0, 1
        for p in (6, 7):
            tx.write_word(x, y, sdram_slot(tx, x, y, p), 0)
            tx.execute_flood({(x, y): [p]}, _poll_timer_aplx(sdram_slot(tx, x, y, p), C.CPU_CLOCK_HZ // 10),
                             51 + p, wait=False)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(
                tx.read_word(x, y, sdram_slot(tx, x, y, p)) == 0x5A for p in (6, 7)):
            time.sleep(0.05)
    finally:
        tx.close()
    log = _log_since(b.handle.log_path, log_start)
    mine = [ln for ln in log.splitlines() if "chip 0,1 core 6: [" in ln]
    assert any("started: APLX" in ln and "entry 0x00000000" in ln for ln in mine), log[-2000:]
    assert any("busy-wait on a timer COUNT at pc 0x000000" in ln for ln in mine), mine
    assert any("WFI at pc 0x00000030" in ln for ln in mine), mine
    assert not any("chip 0,1 core 7: [" in ln for ln in log.splitlines())


def test_native_vic_nests_priorities_and_sets_the_due_words():
    """The VIC (vic.py, native code in the core's state words): an acknowledge masks
    its priority and lower until its end of service, a higher priority still
    interrupts, FIQ-selected sources are FIQs; the due words the block hook enters
    interrupts by follow. The same functions serve the core's MMIO natively."""
    from spinnaker_emu.board.arm import cycles
    from spinnaker_emu.board.arm.vic import Vic
    st = cycles.new_state()
    v = Vic(st)
    v.write(0x200, 0x20 | 4)                  # slot 0: timer 1 (highest priority)
    v.write(0x204, 0x20 | 12)                 # slot 1: DMA done
    v.write(0x100, 0x1000)
    v.write(0x104, 0x2000)
    v.write(0x34, 0x3000)                     # default vector
    v.write(0x0C, 1 << 24)                    # CC_MC -> FIQ
    v.write(0x10, (1 << 4) | (1 << 12) | (1 << 24) | (1 << 1))
    assert v.due() == (False, False) and st[cycles.WATCH] == 0
    v.lines = 1 << 12                         # DMA done
    assert v.due() == (False, True) and st[cycles.IRQ_DUE] == 1
    assert v.read(0x30) == 0x2000             # acknowledge slot 1
    assert v.due() == (False, False)          # its own priority waits
    v.lines |= 1 << 4                         # timer: higher priority
    assert v.due() == (False, True)
    assert v.read(0x30) == 0x1000             # nested
    v.lines &= ~(1 << 4)
    v.write(0x30, 0)                          # end of the timer's service
    assert v.due() == (False, False)          # slot 1 still in service
    v.write(0x30, 0)
    assert v.due() == (False, True)           # DMA line still high
    v.write(0x18, 1 << 1)                     # soft interrupt, in no slot: default
    v.lines = 1 << 24                         # a packet: FIQ
    assert v.due() == (True, True) and st[cycles.WATCH] == 3 << 6
    assert v.read(0x30) == 0x3000


def test_native_dma_round_trip_done_interrupt_and_bad_address():
    """An ARM program drives the DMA controller through its buffered alias (native MMIO,
    dma.py): SDRAM -> DTCM and back to another SDRAM place, STAT read in between; the
    done line reaches the VIC and makes an IRQ due; a transfer from an unmapped address
    counts as an error for the engine to log."""
    from spinnaker_emu.board.memory import ChipMemory, host_address
    from spinnaker_emu.board.router import Router
    from spinnaker_emu.board.arm import cycles
    from spinnaker_emu.board.arm.cpu import ArmCpu, WFI
    from spinnaker_emu.board.arm.dma import Dma
    from spinnaker_emu.board.arm.vic import Vic

    class Devices:                          # cc, timer, router, sysctl: not used here
        def __getattr__(self, name):
            return (lambda off: 0) if name.startswith("read_") else (lambda off, value: None)

    words = [0xE59F0038,                    # 00 ldr r0, =0x40000000   (DMA, buffered alias)
             0xE59F1038,                    # 04 ldr r1, =0x60001000
             0xE5801004,                    # 08 str r1, [r0, #4]      ADRS
             0xE59F1034,                    # 0c ldr r1, =0x00400100
             0xE5801008,                    # 10 str r1, [r0, #8]      ADRT
             0xE59F1030,                    # 14 ldr r1, =64           system -> TCM
             0xE580100C,                    # 18 str r1, [r0, #0xc]    DESC: the transfer
             0xE5902014,                    # 1c ldr r2, [r0, #0x14]   STAT
             0xE59F3028,                    # 20 ldr r3, =0x00400200
             0xE5832000,                    # 24 str r2, [r3]
             0xE59F1024,                    # 28 ldr r1, =64 | 1 << 19 TCM -> system
             0xE59F4024,                    # 2c ldr r4, =0x60002000
             0xE5804004,                    # 30 str r4, [r0, #4]      ADRS
             0xE580100C,                    # 34 str r1, [r0, #0xc]    DESC
             0xEE070F90,                    # 38 WFI
             0xEAFFFFFE,                    # 3c b .
             0x40000000, 0x60001000, 0x00400100, 64, 0x00400200, 64 | 1 << 19, 0x60002000]
    mem = ChipMemory(Router())
    core = 2
    mem.write(C.ITCM_BASE, b"".join(struct.pack("<I", w) for w in words), core)
    pattern = bytes(range(64))
    mem.write(0x60001000, pattern, core)
    cpu = ArmCpu(mem, core, Devices(), lambda text: None)
    vic = Vic(cpu.state)
    dma = Dma(cpu.state, 7, host_address(mem.sdram), host_address(mem.sysram),
              host_address(mem.itcm_of(core)), host_address(mem.dtcm_of(core)))
    dma.write(0x18, 1 << 10)                # GCTL: done interrupt enabled
    vic.write(0x10, 1 << 12)                # VIC: DMA done enabled
    cpu.reset(C.ITCM_BASE, 0)
    why = None
    for _ in range(100):
        _used, why, _detail = cpu.run(10_000)
        if why == WFI:
            break
    assert why == WFI
    assert mem.read(C.DTCM_BASE + 0x100, 64, core) == pattern
    assert mem.read(0x60002000, 64, core) == pattern
    stat = int.from_bytes(mem.read(C.DTCM_BASE + 0x200, 4, core), "little")
    assert stat >> 24 == 7 and stat & 1 << 10            # physical core id, transfer done
    assert dma.read(0x40) == 2                           # transfers so far
    assert cpu.state[cycles.IRQ_DUE] == 1 and vic.irq_status() == 1 << 12
    assert cpu.state[cycles.MMIO_ACCESSES] == 6          # all six served natively
    dma.write(0x10, 8)                                   # CTRL: acknowledge one
    dma.write(0x10, 8)
    assert vic.irq_status() == 0 and cpu.state[cycles.IRQ_DUE] == 0
    dma.write(0x04, 0x90000000)                          # nothing there
    dma.write(0x08, C.DTCM_BASE)
    dma.write(0x0C, 16)
    n, last = dma.failures()
    assert n == 1 and last == (16, 0x90000000, C.DTCM_BASE)
    assert dma.read(0x14) & 1 << 13                      # STAT: error


def test_native_comms_fifo_lines_and_sent_ring():
    """The comms controller (comms.py, native code in the state words): packets queued
    by the engine raise the FIQ (MC) or ready lines, RSR/RXDATA/RXKEY read them in order
    and taking the last drops the line; TCR/TXDATA/TXKEY sends go to the ring the
    engine drains after the slice."""
    from spinnaker_emu.board.arm import cycles
    from spinnaker_emu.board.arm.comms import Comms, MC, FR, RX_RECEIVED, PKT_PL
    from spinnaker_emu.board.arm.vic import Vic
    st = cycles.new_state()
    vic, cc = Vic(st), Comms(st)
    vic.write(0x0C, 1 << 24)                  # MC packets are FIQs
    vic.write(0x10, (1 << 24) | (1 << 27))
    assert cc.receive(MC, 0x1234, None) and cc.receive(FR, 0x99, 0xABCD)
    vic.lines = cc.lines()
    assert vic.due() == (True, False)
    assert cc.read(0x0C) == RX_RECEIVED       # MC, no payload
    assert cc.read(0x14) == 0x1234            # taken: now the FR packet is at the head
    assert st[cycles.FIQ_DUE] == 0 and st[cycles.IRQ_DUE] == 1
    assert cc.read(0x0C) == RX_RECEIVED | 3 << 22 | PKT_PL and cc.read(0x10) == 0xABCD
    assert cc.read(0x14) == 0x99
    assert vic.irq_status() == 0 and cc.read(0x0C) == 0
    cc.write(0x00, PKT_PL)                    # MC with payload
    cc.write(0x04, 7)
    cc.write(0x08, 0x500)
    cc.write(0x00, 0)
    cc.write(0x08, 0x501)
    assert cc.read(0x00) >> 28 & 9 == 9       # always empty and not full
    assert cc.sent() == ([(MC, 0x500, 7, 0), (MC, 0x501, None, 0)], 0)   # sent at cycle 0
    assert cc.sent() == ([], 0)


def _periodic_timer_aplx(counter_addr, counting):
    """A bare APLX (no SARK): Timer1 periodic every 10 us (2000 cycles) with its IRQ
    enabled in the VIC, the main loop in WFI. The IRQ handler acknowledges the timer
    and, if ``counting``, increments the word at ``counter_addr`` (SDRAM); otherwise it
    changes nothing, like sPyNNaker's extra monitor with an empty reinjection queue."""
    count = [0xE59A9000,        # ldr r9, [r10]
             0xE2899001,        # add r9, r9, #1
             0xE58A9000]        # str r9, [r10]
    nops = [0xE1A00000] * 3     # mov r0, r0
    code = [
        0xEA000006,             # 0x00 b 0x20
        0xEAFFFFFE, 0xEAFFFFFE, 0xEAFFFFFE, 0xEAFFFFFE, 0xEAFFFFFE,   # 0x04-0x14 other vectors: spin
        0xEA000010,             # 0x18 b 0x60 (IRQ)
        0xEAFFFFFE,             # 0x1C FIQ: spin
        0xE3A01421,             # 0x20 mov r1, #0x21000000 (timers)
        0xE3A0242F,             # 0x24 mov r2, #0x2F000000 (VIC)
        0xE59FA028,             # 0x28 ldr r10, [pc, #0x28] (=counter_addr at 0x58)
        0xE3A03E7D,             # 0x2C mov r3, #2000
        0xE5813000,             # 0x30 str r3, [r1]          T1 LOAD
        0xE3A030E2,             # 0x34 mov r3, #0xE2         enabled, periodic, interrupt, 32-bit
        0xE5813008,             # 0x38 str r3, [r1, #8]      T1 CONTROL
        0xE3A03010,             # 0x3C mov r3, #0x10         VIC line 4 (Timer1)
        0xE5823010,             # 0x40 str r3, [r2, #0x10]   VIC INT_ENABLE
        0xE321F013,             # 0x44 msr cpsr_c, #0x13     SVC, IRQ unmasked
        0xEE070F90,             # 0x48 wfi
        0xEAFFFFFD,             # 0x4C b 0x48
        0xEAFFFFFE, 0xEAFFFFFE,  # 0x50, 0x54
        counter_addr, 0,        # 0x58 literal
        0xE581100C,             # 0x60 str r1, [r1, #0xC]    T1 INT_CLR
    ] + (count if counting else nops) + [
        0xE25EF004,             # 0x70 subs pc, lr, #4
    ]
    body = struct.pack("<%dI" % len(code), *code)
    table = struct.pack("<4I", 2, C.ITCM_BASE, 32, len(body)) + struct.pack("<4I", 4, C.ITCM_BASE, 0, 0)
    return table + body


def _log_since(log_path, start):
    """The board log from byte ``start`` on (a board's log is appended to by every board
    that had its address before, earlier tests' included)."""
    with open(log_path, "rb") as f:
        f.seek(start)
        return f.read().decode(errors="replace")


def _stopped_line(log_path, start, x, y, p):
    import re
    lines = [ln for ln in _log_since(log_path, start).splitlines() if "chip %d,%d core %d: stopped:" % (x, y, p) in ln]
    assert lines, "no summary line for the core"
    m = re.search(r"([\d.]+) s virtual.* (\d+) IRQs.* (\d+) idle timer ticks folded", lines[-1])
    return float(m.group(1)), int(m.group(2)), int(m.group(3))


def test_idle_timer_ticks_are_folded_and_busy_ones_are_not(spin3_tx):
    """fold.py: a 10 us timer whose handler changes nothing costs one IRQ per fold, not
    100,000 a second; a handler that counts in SDRAM runs every tick (its count is the
    number of ticks, and nothing is folded)."""
    b, tx = spin3_tx()
    log_start = os.path.getsize(b.handle.log_path)
    x, y = 0, 1
    counter = sdram_slot(tx, x, y, 5)
    tx.write_word(x, y, counter, 0)
    tx.execute_flood({(x, y): [5]}, _periodic_timer_aplx(counter, True), 61, wait=False)
    tx.execute_flood({(x, y): [6]}, _periodic_timer_aplx(counter, False), 62, wait=False)
    deadline = time.monotonic() + 60                 # 0.6 virtual seconds, however loaded the host
    while tx.read_word(x, y, counter) < 60000 and time.monotonic() < deadline:
        time.sleep(0.1)
    for app in (61, 62):
        tx.send_signal(app, Signal.STOP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "core 6: stopped:" not in _log_since(b.handle.log_path, log_start):
        time.sleep(0.1)
    virtual, irqs, folded = _stopped_line(b.handle.log_path, log_start, x, y, 5)
    assert virtual > 0.5 and folded == 0
    count = tx.read_word(x, y, counter)
    assert count > 0.9 * virtual * 1e5, (virtual, count)     # every tick ran its handler
    assert irqs >= count, (irqs, count)
    virtual, irqs, folded = _stopped_line(b.handle.log_path, log_start, x, y, 6)
    assert virtual > 0.5 and irqs < 10, (virtual, irqs)
    assert folded > 0.9 * virtual * 1e5, (virtual, folded)


# Loaded by the board's interpreter (PYTHONPATH): the engine's quantum raises once the
# core has run a few, as a bug in the emulator's own code would.
_BROKEN_ENGINE = '''
from spinnaker_emu.board.arm import engine as _engine
_quantum = _engine.ArmEngine.quantum
def _broken(self):
    self._quanta_run = getattr(self, "_quanta_run", 0) + 1
    if self._quanta_run > 20:
        raise RuntimeError("injected engine bug")
    return _quantum(self)
_engine.ArmEngine.quantum = _broken
'''


def test_a_bug_in_the_engine_puts_the_cores_in_rte_and_the_chip_keeps_answering(make_board, monkeypatch,
                                                                                 tmp_path):
    """An exception that escapes the ARM engine's quantum (a bug of ours, injected here)
    is logged with its traceback and puts the chip's running cores in RTE SWERR: the
    host sees an error at once instead of cores that silently stop advancing, and the
    chip still answers SCP."""
    (tmp_path / "sitecustomize.py").write_text(_BROKEN_ENGINE)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), root]))
    b = make_board(version=3, boot=False)
    monkeypatch.delenv("PYTHONPATH")
    log_start = os.path.getsize(b.handle.log_path)
    tx = Transceiver(b.ip, version=3)
    try:
        x, y, p = 0, 1, 5
        counter = sdram_slot(tx, x, y, p)
        tx.execute_flood({(x, y): [p]}, _periodic_timer_aplx(counter, True), 63, wait=False)
        tx.wait_for_cores([(x, y, p)], CPUState.RTE, timeout=30)
        v = tx.conn.vcpu(x, y, p)
        assert v["rt_code"] == RTECode.SWERR, RTECode(v["rt_code"]).name
        assert tx.read_word(x, y, counter) < 1000          # it stopped where the bug hit
        assert tx.conn.version(x, y, 0)["name"] == "SC&MP/SpiNNaker"
        tx.write_word(x, y, counter, 7)
        assert tx.read_word(x, y, counter) == 7
    finally:
        tx.close()
    log = _log_since(b.handle.log_path, log_start)
    assert "internal error in the ARM engine" in log and "RuntimeError: injected engine bug" in log, log[-2000:]


def test_arm_profile_flag_logs_where_a_core_spends_its_time(make_board, monkeypatch):
    """SPINNAKER_EMU_ARM_PROFILE=x,y,p: the board log gets, every few seconds, the named
    core's most frequent program counters at quantum ends; a core spinning in a
    two-instruction loop is found only there, and other cores are not profiled."""
    import re
    monkeypatch.setenv("SPINNAKER_EMU_ARM_PROFILE", "0,1,4")
    b = make_board(version=3, boot=False)
    monkeypatch.delenv("SPINNAKER_EMU_ARM_PROFILE")
    log_start = os.path.getsize(b.handle.log_path)
    body = struct.pack("<3I", 0xE3A00000,      # 0x0 mov r0, #0
                       0xE2800001,             # 0x4 add r0, r0, #1
                       0xEAFFFFFD)             # 0x8 b 0x4
    aplx = struct.pack("<4I", 2, C.ITCM_BASE, 32, len(body)) + struct.pack("<4I", 4, C.ITCM_BASE, 0, 0) + body
    tx = Transceiver(b.ip, version=3)
    try:
        tx.execute_flood({(0, 1): [4, 5]}, aplx, 64, wait=False)
        deadline = time.monotonic() + 30
        line = None
        while line is None and time.monotonic() < deadline:
            time.sleep(0.5)
            line = next((ln for ln in _log_since(b.handle.log_path, log_start).splitlines()
                         if "chip 0,1 core 4: PCs at quantum ends" in ln), None)
        tx.send_signal(64, Signal.STOP)
    finally:
        tx.close()
    assert line is not None, _log_since(b.handle.log_path, log_start)[-2000:]
    shares = {int(a, 16): float(s) for a, s in re.findall(r"0x([0-9a-f]+) ([\d.]+)%", line)}
    assert set(shares) <= {0x4, 0x8} and sum(shares.values()) == pytest.approx(100, abs=0.2), line
    assert "core 5: PCs" not in _log_since(b.handle.log_path, log_start)
