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


# ------------------------------------------------------------------ argument words (protocol/words.py)
from spinnaker_emu.protocol import words as W
from spinnaker_emu.protocol.structs import (SV, VCPU, IOBUF_HEAD, pack_iobuf_head, unpack_iobuf_head,
                                            sv_address, vcpu_address, vcpu_sysram_offset, field_value,
                                            unpack_all, get_field, set_field, SV_SYSRAM_OFFSET)


def test_start_word_round_trip_and_layout():
    w = W.pack_start(30, C.APP_FLAG_WAIT, W.core_mask([1, 2, 17]))
    assert w == (30 << 24) | (1 << 18) | (1 << 1) | (1 << 2) | (1 << 17)
    assert W.unpack_start(w) == (30, 1, 0x20006)
    assert W.unpack_start(W.pack_start(255, 0x3F, 0x3FFFE)) == (255, 0x3F, 0x3FFFE)
    with pytest.raises(ValueError):
        W.core_mask([0])


def test_flood_fill_words_match_what_rig_and_spinnman_send():
    key, data, a3 = W.pack_ffs(7, 12)
    assert (key, data, a3) == ((C.NN_FFS << 24) | (7 << 16) | (12 << 8), 0, (1 << 31) | 0x3F18)
    assert W.nn_command(key) == C.NN_FFS and W.unpack_ffs(key) == (7, 12)
    key, region, a3 = W.pack_ffcs(0b110, W.REGION_ALL)
    assert (region, a3) == (0x3FFFF, 0x3F18) and W.nn_command(key) == C.NN_FFCS
    assert W.unpack_ffcs(key) == 0b110
    key, data, a3 = W.pack_ffe(7, 30, 1)
    assert (key, a3) == ((C.NN_FFE << 24) | 7, 0x3F00) and W.unpack_start(data) == (30, 1, 0)
    a1, a2, a3 = W.pack_ffd(7, 3, 256, 0x67800300)
    assert a1 == (0x3F << 24) | (0x18 << 16) | 7 and a3 == 0x67800300
    assert W.unpack_ffd(a1, a2) == (7, 3, 256)
    assert W.unpack_ffd(*W.pack_ffd(2, 0, 4, 0)[:2]) == (2, 0, 4)


def test_flood_region_word_membership():
    bits = (1 << (1 + 4 * 2)) | 1          # chips (5, 10) and (4, 8) of the block at (4, 8)
    region = W.pack_region(4, 8, bits)
    assert region == (4 << 24) | (8 << 16) | (3 << 16) | bits
    assert W.in_region(region, 5, 10) and W.in_region(region, 4, 8)
    assert not W.in_region(region, 5, 9) and not W.in_region(region, 0, 0)
    assert all(W.in_region(W.REGION_ALL, x, y) for x in range(4) for y in range(4))


def test_signal_word_round_trip():
    w = W.pack_signal(C.Signal.SYNC0, 30)
    assert w == (4 << 16) | 0xFF00 | 30 and W.unpack_signal(w) == (C.Signal.SYNC0, 0xFF, 30)
    assert W.unpack_signal(W.pack_signal(13, 7, 0xF0)) == (13, 0xF0, 7)
    count = W.pack_state_count(C.CPUState.PAUSE, 30)
    assert count == (2 << 20) | (1 << 22) | (10 << 16) | 0xFF00 | 30
    assert W.is_state_count(count) and not W.is_state_count(w)
    assert W.unpack_signal(count) == (10, 0xFF, 30)


def test_iptag_alloc_rtr_words_round_trip():
    a1 = W.pack_iptag_arg(C.IPTAG_SET, 5, W.IPTAG_STRIP | W.IPTAG_USE_SENDER)
    assert a1 == (1 << 28) | (1 << 30) | (C.IPTAG_SET << 16) | 5
    a1 = W.pack_iptag_arg(C.IPTAG_SET, 3, W.IPTAG_REVERSE | W.IPTAG_STRIP, timeout=9, dest_port_cpu=(1 << 5) | 4)
    assert a1 == (1 << 29) | (1 << 28) | (9 << 24) | (C.IPTAG_SET << 16) | (1 << 13) | (4 << 8) | 3
    assert W.unpack_iptag_arg(a1) == (C.IPTAG_SET, 3, 3, 9, (1 << 5) | 4)
    assert W.unpack_reverse_dest(W.pack_reverse_dest(7, 4, 12345)) == (7, 4, 12345)
    assert W.pack_tto_reply(4) == (8 << 24) | (8 << 16) | (32 << 8) | 4
    a1 = W.pack_alloc_arg(C.ALLOC_SDRAM, 30, C.ALLOC_FLAG_TAG_RETRY)
    assert a1 == (4 << 16) | (30 << 8) | C.ALLOC_SDRAM
    assert W.unpack_alloc_arg(a1) == (C.ALLOC_SDRAM, 30, 4)
    a1 = W.pack_rtr_arg(C.RTR_LOAD, 30, 1000)
    assert a1 == (1000 << 16) | (30 << 8) | C.RTR_LOAD
    assert W.unpack_rtr_arg(a1) == (C.RTR_LOAD, 30, 1000)


def test_runtime_command_round_trip():
    data = W.pack_runtime(1234)
    assert data == struct.pack("<HHIII", 1, 0, 1234, 0, 0)       # what pynn/loader.py sends
    assert W.unpack_sim_command(data) == (W.CMD_RUNTIME, 1234, False)
    assert W.unpack_sim_command(W.pack_runtime(0, infinite=True)) == (W.CMD_RUNTIME, 0, True)
    assert W.unpack_sim_command(struct.pack("<HH", W.CMD_STOP, 0)) == (W.CMD_STOP, 0, False)
    assert W.unpack_sim_command(struct.pack("<HHI", 1, 0, 5)) == (1, 5, False)
    assert W.unpack_sim_command(b"\1\0") is None


def test_iobuf_head_and_sv_vcpu_field_access():
    raw = pack_iobuf_head(0x1000, 17, 250, 42)
    assert len(raw) == IOBUF_HEAD.size == 16 and unpack_iobuf_head(raw) == (0x1000, 17, 250, 42)
    assert unpack_iobuf_head(b"xx" + raw, 2).used == 42
    assert sv_address("sdram_sys") == C.SV_BASE + 0xC8
    assert sv_address("sdram_base") == C.SV_BASE + 0xC0
    assert sv_address("p2p_dims", alias=True) == C.SV_BASE_ALIAS + 2
    assert vcpu_sysram_offset(3, "user0") == vcpu_address(3, "user0") - C.SYSRAM_BASE
    sysram = bytearray(C.SYSRAM_SIZE)
    set_field(SV, sysram, "p2p_dims", 0x0808, SV_SYSRAM_OFFSET)
    set_field(SV, sysram, "shm_root", (1, 2, 3), SV_SYSRAM_OFFSET)
    assert get_field(SV, sysram, "p2p_dims", SV_SYSRAM_OFFSET) == 0x0808
    assert get_field(SV, sysram, "shm_root", SV_SYSRAM_OFFSET) == (1, 2, 3)
    assert field_value(SV, "p2p_dims", bytes(sysram[SV_SYSRAM_OFFSET + 2:SV_SYSRAM_OFFSET + 4])) == 0x0808
    vcpu = bytearray(C.VCPU_SIZE)
    set_field(VCPU, vcpu, "app_id", 30)
    set_field(VCPU, vcpu, "user1", 0xDEADBEEF)
    fields = unpack_all(VCPU, vcpu)
    assert fields["app_id"] == 30 and fields["user1"] == 0xDEADBEEF and fields["cpu_state"] == 0


def test_p2p_live_chips_whole_table_or_column_by_column():
    from spinnaker_emu.protocol.structs import p2p_live_chips
    m = spinn5_board()
    table = struct.pack("<8192I", *p2p_table_words(m, (0, 0)))
    live = p2p_live_chips(table, 8, 8)
    assert sorted(live) == sorted(m.chips) and len(live) == 48
    cols = b"".join(table[128 * x:128 * x + 4] for x in range(8))     # one word per column (height 8)
    assert p2p_live_chips(cols, 8, 8, col_bytes=4) == live
