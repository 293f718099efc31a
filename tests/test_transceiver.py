"""The host transceiver and the emulator bulk channel against real boards over
real UDP (conftest starts and always stops them)."""
import io
import os
import random
import select
import socket
import struct
import threading
import time

import pytest

from spinnaker_emu.apps.image import AppImage
from spinnaker_emu.host.bulk import BulkClient, BulkError
from spinnaker_emu.host.progress import Progress
from spinnaker_emu.host.scp import SCPConnection
from spinnaker_emu.host.transceiver import (Transceiver, CoreStateError, CoreStateTimeout, RoutingEntry,
                                            route_word)
from spinnaker_emu.machine.geometry import spinn5_board, spinn3_board
from spinnaker_emu.protocol import bulk as B
from spinnaker_emu.protocol import eieio
from spinnaker_emu.protocol.eieio import EIEIOData
from spinnaker_emu.protocol import constants as C
from spinnaker_emu.protocol.constants import CPUState, Signal, SCPCommand as CMD

from conftest import fresh_ip

EIGHT = [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7)]


@pytest.fixture(scope="module")
def tx(spin5):
    t = Transceiver(spin5.ip)
    yield t
    t.close()


def sdram_words(tx, x, y, p):
    return tx.read_word(x, y, tx.sv_value(x, y, "sdram_base") + 4 * p)


# ------------------------------------------------------------------ discovery
def test_discovers_a_spinn5_board(tx, spin5):
    m = tx.machine
    assert tx.has_bulk
    assert (m.width, m.height, m.boot_chip) == (8, 8, (0, 0))
    assert m.ethernets == {(0, 0): spin5.ip}
    ref = spinn5_board(spin5.ip)
    assert set(m.chips) == set(ref.links)
    assert m.machine.links == ref.links and not m.machine.wrap
    assert all(c.n_cores == 18 for c in m.chips.values()) and m.n_cores == 48 * 18
    assert m.chips[(0, 0)].parent_link == 7
    for xy, c in m.chips.items():                 # parent links lead to the root
        if xy != (0, 0):
            assert c.parent_link in c.links and c.eth == (0, 0) and c.ip is None
    assert len(m.chips[(5, 5)].idle_cores) >= 1


def test_discovers_a_spinn3_board_with_scamp_3(make_board):
    b = make_board(version=3, boot=False)
    with Transceiver(b.ip, version=3, scamp_version="3.1.0") as t:
        m = t.machine
        assert t.scamp_version == "3.1.0" and (m.width, m.height) == (2, 2)
        ref = spinn3_board(b.ip)
        assert m.machine.links == ref.links and m.machine.wrap
        assert m.ethernets == {(0, 0): b.ip}
        assert {xy: c.parent_link for xy, c in m.chips.items()}[(0, 0)] == 7   # from the BFS tree
        # SC&MP 3 honours flood-fill regions: one flood, a different core set per chip
        cores = {(0, 0): [1], (0, 1): [2, 3], (1, 1): [5]}
        t.execute_flood(cores, AppImage("test", "regions").pack(), 20, wait=True)
        t.wait_for_cores(cores, CPUState.WAIT, app_id=20, timeout=5)
        states = t.get_core_states(m.chips)
        loaded = {k for k, s in states.items() if s == CPUState.WAIT}
        assert loaded == {(x, y, p) for (x, y), ps in cores.items() for p in ps}
        t.send_signal(20, Signal.START)
        t.wait_for_cores(cores, CPUState.RUN, app_id=20, timeout=5)
        assert sdram_words(t, 0, 1, 3) == (0 << 24) | (1 << 16) | 3


# ------------------------------------------------------------------ memory
def test_bulk_round_trips_odd_sizes_and_alignments(tx):
    rng = random.Random(5)
    base = tx.malloc_sdram(4, 6, 4 << 20, app_id=50)
    for offset in (0, 1, 2, 3):
        for size in (1, 3, 255, 257, 4099, B.MAX_CHUNK - 1, B.MAX_CHUNK, B.MAX_CHUNK + 1):
            data = rng.randbytes(size)
            tx.write_memory(4, 6, base + offset, data)
            assert tx.read_memory(4, 6, base + offset, size) == data
    big = rng.randbytes((3 << 19) + 7)                  # 1.5 MiB + 7 at an odd address
    tx.write_memory(4, 6, base + 1, big)
    assert tx.read_memory(4, 6, base + 1, len(big)) == big
    # what the bulk channel wrote is what SC&MP reads back, and neighbours are untouched
    assert tx.conn.read(4, 6, base + 1 + 999_999, 300) == big[999_999:1_000_299]
    assert tx.conn.read(4, 5, base + 1, 64) != big[:64]


def test_bulk_spread_over_eight_chips(tx):
    rng = random.Random(6)
    regions = [(x, y, 0x63000000 + 4096 * k + k, rng.randbytes(300_000 + 977 * k)) for k, (x, y) in enumerate(EIGHT)]
    tx.write_memory_many(regions)
    got = tx.read_memory_many([(x, y, a, len(d)) for (x, y, a, d) in regions])
    assert got == [d for (_x, _y, _a, d) in regions]
    for (x, y, a, d) in regions[::3]:
        assert tx.conn.read(x, y, a + 12345, 256) == d[12345:12345 + 256]


def test_scp_path_round_trips(spin5):
    rng = random.Random(7)
    with Transceiver(spin5.ip, use_bulk=False) as t:
        assert not t.has_bulk
        for offset, size in ((0, 1), (1, 257), (3, 4099), (2, (1 << 20) + 5)):
            data = rng.randbytes(size)
            t.write_memory(6, 3, 0x64000000 + offset, data)
            assert t.read_memory(6, 3, 0x64000000 + offset, size) == data
        regions = [(x, y, 0x64200000 + x, rng.randbytes(1000 + 77 * x)) for (x, y) in EIGHT]
        t.write_memory_many(regions)
        assert t.read_memory_many([(x, y, a, len(d)) for (x, y, a, d) in regions]) == [r[3] for r in regions]


def test_progress_bar_only_when_asked(spin5, capsys):
    buf = io.StringIO()
    p = Progress("read", 1000, enabled=True, stream=buf)
    p(500)
    assert " 50% " in buf.getvalue()
    p.finish()
    assert buf.getvalue().endswith("\n")                 # finish ends the bar's line
    assert not Progress("read", 1000, stream=io.StringIO()).enabled        # not a TTY
    with Transceiver(spin5.ip, progress=True) as t:
        t.write_memory(1, 1, 0x65000000, bytes(2 << 20))
    assert "write 1,1" in capsys.readouterr().err


# ------------------------------------------------------------------ loss and retries
class LossyProxy:
    """Forwards UDP between one client and the board on the given ports, dropping a
    fraction of the datagrams each way, and counts byte-identical resends."""

    def __init__(self, board_ip, ports, drop, seed=1):
        self.ip, self.board_ip, self.drop = fresh_ip(), board_ip, drop
        self.rng = random.Random(seed)
        self.front, self.back, self.client = {}, {}, {}
        for port in ports:
            f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            f.bind((self.ip, port))
            b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            b.bind((self.ip, 0))
            for s in (f, b):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            self.front[f], self.back[b] = port, port
            self.client[port] = (None, f)
        self.seen, self.duplicates, self.dropped = set(), 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        socks = list(self.front) + list(self.back)
        backs = {port: s for s, port in self.back.items()}
        while not self.stop.is_set():
            ready, _, _ = select.select(socks, [], [], 0.05)
            for s in ready:
                data, addr = s.recvfrom(65536)
                if self.rng.random() < self.drop:
                    self.dropped += 1
                    continue
                if s in self.front:
                    port = self.front[s]
                    self.client[port] = (addr, s)
                    if data in self.seen:
                        self.duplicates += 1
                    elif len(self.seen) < 100000:
                        self.seen.add(data)
                    backs[port].sendto(data, (self.board_ip, port))
                else:
                    addr, front = self.client[self.back[s]]
                    if addr:
                        front.sendto(data, addr)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for s in list(self.front) + list(self.back):
            s.close()


@pytest.fixture
def proxies():
    made = []

    def make(*a, **kw):
        p = LossyProxy(*a, **kw)
        made.append(p)
        return p
    yield make
    for p in made:
        p.close()


def test_bulk_and_scp_survive_packet_loss(spin5, proxies):
    proxy = proxies(spin5.ip, (C.SCP_PORT, B.BULK_PORT), drop=0.1)
    rng = random.Random(8)
    with Transceiver(proxy.ip, boot=False, timeout=0.1, retries=20) as t:
        assert t.has_bulk and len(t.machine) == 48
        t.bulk.timeout = 0.05
        data = rng.randbytes((2 << 20) + 3)
        t.write_memory(2, 5, 0x66000001, data)
        assert t.read_memory(2, 5, 0x66000001, len(data)) == data
        assert t.bulk.stats["resent"] > 0
        small = rng.randbytes(20000)                       # SCP: resent with the same seq
        t.conn.write(3, 2, 0x66400000, small)
        assert t.conn.read(3, 2, 0x66400000, len(small)) == small
    assert proxy.dropped > 10 and proxy.duplicates > 0


def test_falls_back_to_scp_when_the_bulk_port_is_silent(spin5, proxies):
    proxy = proxies(spin5.ip, (C.SCP_PORT,), drop=0.0)        # a "real board": no 17894
    with Transceiver(proxy.ip, boot=False) as t:
        assert not t.has_bulk
        data = os.urandom(5000)
        t.write_memory(0, 1, 0x66800000, data)
        assert t.read_memory(0, 1, 0x66800000, len(data)) == data


def test_bad_bulk_datagrams_never_hurt_the_board(spin5):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((spin5.ip, B.BULK_PORT))
    s.settimeout(0.2)
    rng = random.Random(9)
    bad = [b"", b"\x42", b"BK", B.header(B.OP_WRITE, 1), B.header(0x55, 1), B.header(B.OP_READ, 1) + b"\0" * 5,
           B.read(1, 0, 0, 0, 0x60000000, 10, 0, 0, 1), B.read(1, 0, 0, 0, 0x60000000, 10, 70000, 0, 1),
           B.read(1, 0, 0, 0, 0xFFFFFFF0, 100, 64, 0, 1), B.read(1, 0, 0, 0, 0x60000000, 100, 64, 9, 1),
           B.read(1, 0, 0, 0, 0x60000000, 100, 64, 0, 1000), B.write(1, 7, 0, 0, 0, 0x60000000, b"x"),
           B.write(1, 200, 200, 0, 0, 0x60000000, b"x"), B.write(1, 1, 1, 200, 0, 0x60000000, b"x")]
    bad += [bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 100))) for _ in range(300)]
    bad += [B.header(rng.choice((1, 2, 3)), 7) + bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 40)))
            for _ in range(300)]
    for pkt in bad:
        s.send(pkt)
    errors = 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        if B.parse_header(data)[0] == B.OP_ERROR:
            errors += 1
    s.close()
    assert errors >= 6                       # the parseable but wrong requests are refused
    c = BulkClient(spin5.ip)
    try:
        assert c.probe() is not None
        c.write([(5, 5, 0, 0x66900000, b"still alive")])
        assert bytes(c.read([(5, 5, 0, 0x66900000, 11)])[0]) == b"still alive"
        with pytest.raises(BulkError, match="7,0.*no route"):
            c.write([(7, 0, 0, 0x60000000, b"x" * 1000)])
    finally:
        c.close()
    assert SCPConnection(spin5.ip).version(3, 3)["x"] == 3


# ------------------------------------------------------------------ applications
def test_load_different_core_sets_on_different_chips(tx):
    app = 60
    cores = {(0, 0): [1, 2], (1, 1): [3], (4, 7): list(range(1, 17)), (7, 7): [16, 17]}
    tx.execute_flood(cores, AppImage("test", "coresets").pack(), app, wait=True)
    tx.wait_for_cores(cores, CPUState.WAIT, app_id=app, timeout=5)
    states = tx.get_core_states(tx.machine.chips)
    loaded = {k for k, s in states.items() if s == CPUState.WAIT}
    assert loaded == {(x, y, p) for (x, y), ps in cores.items() for p in ps}
    assert tx.count_state(app, CPUState.WAIT) == 21
    tx.send_signal(app, Signal.START)
    tx.wait_for_cores(cores, CPUState.RUN, app_id=app, timeout=5)
    assert sdram_words(tx, 4, 7, 9) == (4 << 24) | (7 << 16) | 9
    assert tx.get_iobuf({(7, 7): [17]}) == {(7, 7, 17): "Test app started on 7, 7, 17.\n"}
    # the same core set everywhere: one flood with that mask
    tx.execute_flood({xy: [12] for xy in tx.machine.chips}, AppImage("test", "everywhere").pack(), app + 1)
    tx.wait_for_cores({xy: [12] for xy in tx.machine.chips}, CPUState.RUN, app_id=app + 1, timeout=5)
    assert tx.get_cpu_info(6, 6, 12)["app_name"] == "everywhere"
    for a in (app, app + 1):
        tx.stop_application(a)
    tx.wait_for_cores(cores, CPUState.IDLE, timeout=5)


def test_image_too_big_for_a_flood_goes_down_the_parent_tree(tx):
    app = 68
    image = AppImage("test", "big", params=bytes(70000)).pack()        # > 255 flood-fill blocks
    cores = {(0, 0): [3], (5, 6): [2, 4], (7, 7): [1]}
    tx.execute_flood(cores, image, app, wait=True)
    tx.wait_for_cores(cores, CPUState.WAIT, app_id=app, timeout=10)
    assert tx.count_state(app, CPUState.WAIT) == 4
    assert tx.read_memory(7, 7, tx.sv_value(7, 7, "sdram_sys"), len(image)) == image
    tx.stop_application(app)


def test_wait_errors_name_the_cores(tx):
    app = 62
    tx.execute_flood({(3, 4): [5, 6]}, AppImage("test", "waits").pack(), app)
    with pytest.raises(CoreStateTimeout) as e:
        tx.wait_for_cores({(3, 4): [5, 6]}, CPUState.EXIT, app_id=app, timeout=0.3)
    assert "3,4,5 in RUN" in str(e.value) and set(e.value.cores) == {(3, 4, 5), (3, 4, 6)}
    aplx = struct.pack("<4I", 1, 0x400000, 0x40, 0x100) + struct.pack("<4I", 4, 0x10000, 0, 0) + bytes(256)
    tx.execute_flood({(2, 2): [7], (3, 4): [9]}, aplx, app + 1)
    with pytest.raises(CoreStateError) as e:
        tx.wait_for_cores({(2, 2): [7], (3, 4): [9]}, CPUState.RUN, app_id=app + 1, timeout=5)
    msg = str(e.value)
    assert "2,2,7" in msg and "3,4,9" in msg and "rt_code PABT" in msg and "RTE PABT" in msg
    assert e.value.cores[(2, 2, 7)]["state"] == "RTE"
    for a in (app, app + 1):
        tx.stop_application(a)


# ------------------------------------------------------------------ routes, tags, user words
def test_routing_tables_load_read_clear(tx):
    app = 64
    routes = [RoutingEntry(0x10000 * (i + 1), 0xFFFF0000, route_word(links=[i % 6], cores=[i + 1])) for i in range(6)]
    base = tx.load_routes(7, 7, routes, app)
    got = tx.read_routes(7, 7, app_id=app)
    assert [(r.key, r.mask, r.route, r.index) for r in got] == \
        [(e.key, e.mask, e.route, base + i) for i, e in enumerate(routes)]
    assert got[2].links == [2] and got[2].cores == [3]
    assert tx.read_routes(7, 7)[0].key == 0xFFFF5554           # SC&MP's own entry stays
    tx.clear_routes(7, 7)
    assert [r.index for r in tx.read_routes(7, 7)] == [0]
    tx.set_fixed_route(1, 0, 0x81)
    assert tx.read_fixed_route(1, 0) == 0x81


def test_ip_tags_reverse_tags_and_output_through_a_tag(tx, spin5):
    with tx.listen(2, strip=False) as listener:
        tags = tx.get_tags()
        assert tags[2]["port"] == listener.port and tags[2]["ip"] == listener.ip and not tags[2]["strip"]
        # SC&MP sends the reply of a request that names a tag out through that tag
        pkt = bytearray(SCPConnection.packet(0, 0, 0, CMD.VER, seq=77))
        pkt[3] = 2
        tx.conn.sock.send(bytes(pkt))
        hdr, data = listener.receive_sdp(timeout=2.0)
        assert struct.unpack_from("<HH", data)[0:2] == (C.RC.OK, 77)
        # the listener decodes EIEIO (what STRIP tags carry from live-output cores)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(EIEIOData(keys=[5, 6]).pack(), (listener.ip, listener.port))
        s.sendto(eieio.pack_command(3), (listener.ip, listener.port))
        s.close()
        kind, packet = listener.receive_eieio(timeout=2.0)
        assert kind == "data" and list(packet.keys) == [5, 6]
        assert listener.receive_eieio(timeout=2.0)[:2] == ("command", 3)
    rx = 18000 + os.getpid() % 500
    tx.set_reverse_ip_tag(5, rx, 1, 1, 3, sdp_port=2)
    t = tx.get_tags()[5]
    assert t["reverse"] and (t["rx_port"], t["x"], t["y"], t["p"], t["sdp_port"]) == (rx, 1, 1, 3, 2)
    tx.send_sdp(1, 1, 3, 1, b"\x02\0\0\0" + bytes(12))      # to a core with no app: dropped quietly
    for tag in (2, 5):
        tx.clear_ip_tag(tag)
    assert 2 not in tx.get_tags() and 5 not in tx.get_tags()


def test_user_words_and_sdram_allocation(tx):
    tx.write_user(2, 3, 4, 1, 0xDEADBEEF)
    assert tx.read_user(2, 3, 4, 1) == 0xDEADBEEF
    a = tx.malloc_sdram(2, 3, 1000, app_id=66, tag=3)
    assert tx.malloc_sdram(2, 3, 1000, app_id=66, tag=3) == a           # tag retry: same block
    assert tx.free_sdram_by_app(2, 3, 66) >= 1
