"""Pure-layer tests: wire formats, geometry, heap and router structures."""
import struct

import pytest

from spinnaker_emu.apps.image import AppImage, parse_image, looks_like_aplx, ImageError
from spinnaker_emu.board.heap import Heap
from spinnaker_emu.board.memory import ChipMemory
from spinnaker_emu.board.router import Router
from spinnaker_emu.machine.geometry import (spinn5_board, spinn3_board, triads_machine, opposite,
                                            p2p_table_words)
from spinnaker_emu.protocol import constants as C
from spinnaker_emu.protocol import eieio
from spinnaker_emu.protocol.boot import (boot_packets, BootAssembler, image_sv_bytes, image_version,
                                         unpack_boot_packet)
from spinnaker_emu.protocol.sdp import SDPHeader, SDPMessage, SCPRequest, reply_header, ProtocolError
from spinnaker_emu.protocol.structs import pack_chip_info, unpack_chip_info, pack_version, unpack_version
from spinnaker_emu.host.scp import make_boot_image


def test_sdp_header_round_trip_and_byte_order():
    h = SDPHeader(flags=0x87, tag=0xFF, dest_port=0, dest_cpu=3, srce_port=7, srce_cpu=31,
                  dest_x=7, dest_y=4, srce_x=0, srce_y=0)
    raw = h.pack()
    assert raw == bytes([0x87, 0xFF, 0x03, 0xFF, 4, 7, 0, 0])   # y before x
    assert SDPHeader.unpack(raw) == h
    assert h.dest_addr == (7 << 8) | 4


def test_scp_request_partial_args():
    full = SCPRequest(2, 77, (0x60000000, 16, 2), b"").pack()
    r = SCPRequest.unpack(full)
    assert (r.cmd, r.seq, r.args) == (2, 77, (0x60000000, 16, 2))
    short = SCPRequest.unpack(full[:13])
    assert short.args == (0x60000000, 16) and short.data == b""
    with pytest.raises(ProtocolError):
        SCPRequest.unpack(b"\x01")


def test_reply_header_swaps_ports_and_names_executing_chip():
    req = SDPHeader(flags=0x87, tag=9, dest_port=0, dest_cpu=0, dest_x=3, dest_y=2, srce_x=0, srce_y=0)
    rep = reply_header(req, 3, 2)
    assert rep.flags == 0x07 and rep.tag == 9
    assert (rep.srce_x, rep.srce_y) == (3, 2) and (rep.dest_port, rep.dest_cpu) == (7, 31)


def test_boot_packets_assemble_to_the_image():
    image = make_boot_image(5, "4.0.0")
    image += bytes(range(256)) * 8             # a multi-block image with a short last block
    pkts = list(boot_packets(image))
    assert len(pkts) == 2 + (len(image) + 1023) // 1024
    op, _1, _2, op3, _d = unpack_boot_packet(pkts[0])
    assert op == C.BOOT_OP_FLOOD_FILL_START and op3 == len(pkts) - 3
    asm = BootAssembler()
    results = [asm.feed(p) for p in pkts]
    assert results[:-1] == [None] * (len(pkts) - 1)
    got = results[-1]
    assert got[:len(image)] == image
    assert image_version(got) == "4.0.0"
    sv = image_sv_bytes(got)
    assert struct.unpack_from("<I", sv, 0x50)[0] == 16384       # iobuf_size
    assert sv[0x0A] == 5                                         # hw_ver


def test_boot_assembler_ignores_garbage_and_incomplete_images():
    asm = BootAssembler()
    assert asm.feed(b"") is None
    assert asm.feed(b"\x00\x02" + bytes(16)) is None            # wrong protocol version
    pkts = list(boot_packets(make_boot_image()))
    assert asm.feed(pkts[0]) is None
    assert asm.feed(pkts[-1]) is None                            # CONTROL with blocks missing
    assert [asm.feed(p) for p in pkts][-1] is not None


def test_version_and_chip_info_layouts():
    v = pack_version(0, 0, 0x0102, "SC&MP", "SpiNNaker", "4.0.0")
    assert len(v) == 34
    d = unpack_version(v)
    assert (d["x"], d["y"], d["name"], d["version"]) == (1, 2, "SC&MP/SpiNNaker", "4.0.0")
    info = pack_chip_info(18, 0b000111, 1023, True, 123469792, 24288, [7] + [15] * 17, 0, 0,
                          bytes([127, 0, 1, 1]), 7)
    assert len(info) == 38
    u = unpack_chip_info(info)
    assert u["n_cores"] == 18 and u["links"] == 7 and u["largest_rtr"] == 1023 and u["eth_up"]
    assert u["parent_link"] == 7 and u["ip"] == bytes([127, 0, 1, 1])
    assert len(pack_chip_info(18, 7, 1023, True, 1, 1, [7], 0, 0, bytes(4), 7, with_parent=False)) == 36


def test_eieio_round_trip():
    p = eieio.EIEIOData(type=eieio.KEY_PAYLOAD_32, keys=[1, 0xFFFFFFFF], payloads=[5, 6], key_prefix=0x1234)
    q = eieio.unpack_data(p.pack())
    assert q.keys == [1, 0xFFFFFFFF] and q.payloads == [5, 6] and q.key_prefix == 0x1234
    cmd = eieio.pack_command(6, b"xy")
    assert eieio.is_command(cmd) and eieio.unpack_command(cmd) == (6, b"xy")
    with pytest.raises(ProtocolError):
        eieio.unpack_data(bytes([10, 0x08]) + b"\0" * 4)      # 10 keys promised, 1 given


def test_spinn5_shape_and_links():
    m = spinn5_board()
    assert len(m.chips) == 48
    assert m.links[(0, 0)] == {0, 1, 2} and m.links[(7, 7)] == {3, 4, 5}
    assert m.links[(4, 0)] == {1, 2, 3} and m.links[(0, 3)] == {0, 1, 5}
    for xy, links in m.links.items():               # symmetric
        for l in links:
            assert opposite(l) in m.links[m.neighbour(xy, l)]
    parent, children = m.spanning_tree()
    assert parent[(0, 0)] == C.P2P_SELF
    assert sum(len(c) for c in children.values()) == 47


def test_spinn3_links_and_p2p_table():
    m = spinn3_board()
    assert m.links[(0, 0)] == {0, 1, 2, 5} and m.links[(1, 1)] == {2, 3, 4, 5}
    words = p2p_table_words(m, (0, 0))
    def entry(x, y):
        i = (x << 8) | y
        return (words[i >> 3] >> (3 * (i & 7))) & 7
    assert entry(0, 0) == C.P2P_SELF and entry(1, 0) == 0 and entry(2, 2) == C.P2P_NONE


def test_triad_torus_has_no_edges():
    m = triads_machine(1, 1, {(0, 0, 0): "127.0.2.1", (0, 0, 1): "127.0.2.2", (0, 0, 2): "127.0.2.3"})
    assert len(m.chips) == 144 and all(len(l) == 6 for l in m.links.values())
    assert set(m.ethernets) == {(0, 0), (8, 4), (4, 8)}
    assert m.nearest_ethernet((9, 5)) == (8, 4)


def test_dead_links_are_removed_at_both_ends():
    m = spinn5_board(dead_links=[(3, 3, 0)], dead_chips=[(7, 7)])
    assert 0 not in m.links[(3, 3)] and 3 not in m.links[(4, 3)]
    assert (7, 7) not in m.links and len(m.chips) == 47


def test_heap_alloc_free_merge_and_tags():
    mem = ChipMemory(Router())
    h = Heap(mem, 0x60240000, 0x67800000)
    assert h.largest_free() == 123469792
    a = h.alloc(100, app_id=3, tag=1)
    b = h.alloc(1000, app_id=3)
    c = h.alloc(12, app_id=4)
    assert a == 0x60240018 and a < b < c
    assert h.tagged(3, 1) == a and h.owner(b) == (3, 0)
    assert h.free_app(3) == 2
    assert h.free(c)
    assert not h.free(c)                     # double free is refused
    assert h.largest_free() == 123469792    # everything merged back
    assert h.alloc(1 << 30) == 0


def test_router_allocator_and_lookup():
    r = Router()
    r.reset(1 << 6)
    assert r.largest_free() == 1023
    first = r.alloc(10, app_id=5)
    assert first == 1 and r.largest_free() == 1013
    r.set_entry(first, 0x1000, 0xFFFFF000, 1 << 7, app_id=5)
    assert r.lookup(0x1234) == 1 << 7 and r.lookup(0x2000) is None
    r.free_app(5)
    assert r.largest_free() == 1023 and r.lookup(0x1234) is None
    assert r.alloc(1024, 1) == 0


def test_image_format_and_aplx_recognition():
    img = AppImage("test", "hello", 1, b"abc").pack()
    assert len(img) % 4 == 0
    parsed = parse_image(img)
    assert (parsed.kernel, parsed.app_name, parsed.params) == ("test", "hello", b"abc")
    with pytest.raises(ImageError):
        parse_image(b"\0" * 64)
    aplx = struct.pack("<4I", 1, 0x400000, 0x40, 0x100) + struct.pack("<4I", 4, 0x10000, 0, 0)
    assert looks_like_aplx(aplx) and not looks_like_aplx(img) and not looks_like_aplx(bytes(64))
