"""Test support for driving REAL SpiNNFrontEndCommon / sPyNNaker 1!7.4.1 ARM
binaries (.aplx) on the emulator: where to find them, the SDRAM block a core
reads through vcpu user0 (data specification header + region table +
regions), and the region packers for live_packet_gather.aplx (LPG) and
reverse_iptag_multicast_source.aplx (RIPTMCS). Everything here is pure
(struct only, no board, no I/O except find_aplx's file look-up).

Sources (C at tag 7.4.1 of SpiNNakerManchester/SpiNNFrontEndCommon and
spinnaker_tools; Python from the installed 1!7.4.1 wheels):
  [ds.h]   c_common/front_end_common_lib/include/data_specification.h
  [ds.c]   c_common/front_end_common_lib/src/data_specification.c
  [sim.h]  c_common/front_end_common_lib/include/simulation.h
  [sim.c]  c_common/front_end_common_lib/src/simulation.c
  [rec.c]  c_common/front_end_common_lib/src/recording.c
  [eieio]  c_common/front_end_common_lib/include/eieio.h
  [lpg.c]  c_common/models/live_packet_gather/src/live_packet_gather.c
  [rip.c]  c_common/models/reverse_iptag_multicast_source/src/
           reverse_iptag_multicast_source.c
  [load]   spinn_front_end_common/interface/interface_functions/
           load_data_specification.py  (_python_load_core, malloc_core)
  [const]  spinn_front_end_common/utilities/constants.py
  [lpgmv]  spinn_front_end_common/utility_models/
           live_packet_gather_machine_vertex.py
  [ripmv]  spinn_front_end_common/utility_models/
           reverse_ip_tag_multicast_source_machine_vertex.py
  [simu]   spinn_front_end_common/interface/simulation/simulation_utilities.py
See docs/notes/fec_binaries.md for the run protocol.
"""
import glob
import hashlib
import importlib.util
import os
import struct

# ---------------------------------------------------------------- find_aplx

#: The acceptance venvs find_aplx falls back on, last: rig's (test.aplx) and
#: sPyNNaker 1!7.4.1's (the FEC and neuron binaries).
RIG_VENV = "/root/.cache/spinnaker-emu-acceptance/venv"
SPYNNAKER_VENV = "/root/.cache/spinnaker-emu-acceptance/venv-spynnaker"

# (top-level package, binaries directory inside it), searched in this order
_PACKAGE_BINARIES = (
    ("rig", ("binaries",)),
    ("spynnaker", ("pyNN", "model_binaries")),
    ("spinn_front_end_common", ("common_model_binaries",)),
)


def _package_dirs(package):
    """Directories of a top-level package of the current interpreter, found
    with find_spec (which does not execute the package: importing rig fails
    on Python 3.11)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return list(spec.submodule_search_locations)


def aplx_search_path():
    """Every directory find_aplx looks in, in order."""
    dirs = []
    for package, sub in _PACKAGE_BINARIES:
        dirs += [os.path.join(d, *sub) for d in _package_dirs(package)]
    dirs += [d for d in os.environ.get(
        "SPINNAKER_EMU_APLX_PATH", "").split(os.pathsep) if d]
    for venv, packages in ((RIG_VENV, _PACKAGE_BINARIES[:1]),
                           (SPYNNAKER_VENV, _PACKAGE_BINARIES[1:])):
        for site in sorted(glob.glob(os.path.join(
                venv, "lib", "python3*", "site-packages"))):
            for package, sub in packages:
                dirs.append(os.path.join(site, package, *sub))
    return dirs


def find_aplx(name):
    """Path of a shipped binary ("live_packet_gather" or
    "live_packet_gather.aplx"), or None when none of aplx_search_path()
    holds it."""
    if not name.endswith(".aplx"):
        name += ".aplx"
    for d in aplx_search_path():
        path = os.path.join(d, name)
        if os.path.isfile(path):
            return path
    return None


def require_aplx(name):
    """find_aplx, or skip the calling test with the reason."""
    path = find_aplx(name)
    if path is None:
        import pytest
        searched = os.pathsep.join(aplx_search_path()) or "no candidate directory"
        pytest.skip("%s not found: install rig (test.aplx) or "
                    "sPyNNaker/SpiNNFrontEndCommon 1!7.4.1 (the FEC and neuron "
                    "binaries), or list its directory in SPINNAKER_EMU_APLX_PATH "
                    "(searched %s)" % (name, searched))
    return path


# ------------------------------------------------------- data specification

#: [ds.c] l.30 DATA_SPECIFICATION_MAGIC_NUMBER; [const] APPDATA_MAGIC_NUM
DS_MAGIC = 0xAD130AD6
#: [ds.c] l.32 DATA_SPECIFICATION_VERSION (checked for equality, not 1.x)
DS_VERSION = 0x00010000
#: [ds.c] l.40 N_REGIONS: get_data_address verifies all 32 table entries,
#: so the table must always have 32 entries. [const] MAX_MEM_REGIONS
DS_N_REGIONS = 32
#: [const] APP_PTR_TABLE_BYTE_SIZE = 2 words + 32 * 3 words = 392
DS_TABLE_BYTES = 8 + DS_N_REGIONS * 12

#: Where the tools write the block's address: vcpu[p].user0 ([ds.c] l.82;
#: sark.h vcpu_t is 128 bytes at SV_VCPU 0xe5007000, user0 at offset 112).
VCPU_BASE = 0xE5007000
VCPU_BYTES = 128
VCPU_USER0 = 112
#: [const] CORE_DATA_SDRAM_BASE_TAG: the tools' SDRAM alloc tag is 200 + p
#: ([load] __malloc_region_storage, with the run's app id).
CORE_DATA_SDRAM_TAG_BASE = 200


def user0_address(p):
    """System-RAM address of core p's vcpu user0 word."""
    return VCPU_BASE + VCPU_BYTES * p + VCPU_USER0


def _words_padded(content):
    if len(content) % 4:
        content = content + bytes(4 - len(content) % 4)
    return content


def _region_layout(regions, sizes):
    """{region: (offset from base, reserved bytes)} as [load] malloc_core:
    regions ascending, packed one after another after the table."""
    sizes = dict(sizes or {})
    ids = sorted(set(regions) | set(sizes))
    for r in ids:
        if not 0 <= r < DS_N_REGIONS:
            raise ValueError("region %d outside 0..%d" % (r, DS_N_REGIONS - 1))
    layout, offset = {}, DS_TABLE_BYTES
    for r in ids:
        need = len(_words_padded(regions.get(r) or b""))
        size = max(need, sizes.get(r, 0))
        size += -size % 4           # DataSpecificationGenerator rounds up
        layout[r] = (offset, size)
        offset += size
    return layout, offset


def ds_size(regions, sizes=None):
    """Bytes to allocate for ds_image(regions, sizes) (the tools' malloc)."""
    return _region_layout(regions, sizes)[1]


def ds_region_addresses(base_address, regions, sizes=None):
    """{region: address} of each region in ds_image(base_address, ...)."""
    layout, _ = _region_layout(regions, sizes)
    return {r: base_address + off for r, (off, _) in layout.items()}


def ds_image(base_address, regions, sizes=None):
    """The whole SDRAM block a 7.4.1 binary reads, to be written at
    base_address (and base_address written to vcpu[p].user0).

    regions: {region id: content bytes}; sizes: optional {region id:
    reserved bytes} for regions bigger than their content or with no content
    at all (e.g. provenance). Layout ([ds.h] l.31-51, [load] l.192-254):

      +0   uint32 magic_number = DS_MAGIC          [ds.h] l.46, [ds.c] l.98
      +4   uint32 version      = DS_VERSION        [ds.h] l.48, [ds.c] l.103
      +8   region_desc_t regions[32]               [ds.h] l.50
             uint32 pointer   absolute address of the region, 0 if unused
                                                   [ds.h] l.32
             uint32 checksum  sum of the content's uint32 words mod 2**32
                                                   [ds.h] l.34, [ds.c] l.61-64
             uint32 n_words   content words (bytes rounded up / 4); 0 means
                              "not checked" (reserved-only regions)
                                                   [ds.h] l.36, [ds.c] l.55
      +392 region contents, ascending region id, each at its pointer,
           reserved size rounded up to a word      [load] l.200-203

    A wrong checksum makes data_specification_get_data_address() rt_error
    (RTE_SWERR); after checking, the binary zeroes checksum/n_words itself
    ([ds.c] l.72-73). Unreserved regions keep pointer 0.
    """
    layout, total = _region_layout(regions, sizes)
    table = [(0, 0, 0)] * DS_N_REGIONS
    image = bytearray(total)
    for r, (off, _size) in layout.items():
        content = _words_padded(regions.get(r) or b"")
        n_words = len(content) // 4
        checksum = sum(struct.unpack("<%dI" % n_words, content)) & 0xFFFFFFFF
        table[r] = (base_address + off, checksum, n_words)
        image[off:off + len(content)] = content
    image[0:DS_TABLE_BYTES] = struct.pack("<2I", DS_MAGIC, DS_VERSION) + b"".join(
        struct.pack("<3I", *entry) for entry in table)
    return bytes(image)


# ------------------------------------------------------- system / recording

#: [sim.h] simulation_commands: SCP cmd_rc values on the control SDP port
CMD_STOP, CMD_RUNTIME, CMD_PROVENANCE, CMD_IOBUF_CLEAR = 6, 7, 8, 9
CMD_PAUSE, CMD_GET_TIME = 10, 11
#: spinnman SDP_PORTS.RUNNING_COMMAND_SDP_PORT, written by [simu]
CONTROL_SDP_PORT = 3
#: spinnman SDP_PORTS.INPUT_BUFFERING_SDP_PORT: RIPTMCS's EIEIO input port
INPUT_SDP_PORT = 1


def app_hash(binary_name):
    """APPLICATION_NAME_HASH of a binary: first 8 hex digits of md5(APP),
    APP being the file name without ".aplx" (local.mk l.97, [simu] l.30).
    e.g. live_packet_gather -> 0x9332f52f (checked against the .aplx)."""
    name = os.path.basename(binary_name)
    if name.endswith(".aplx"):
        name = name[:-5]
    return int(hashlib.md5(name.encode()).hexdigest()[:8], 16)


def system_region(binary_name, timestep_us=1000, control_sdp_port=CONTROL_SDP_PORT):
    """Region 0 of every simulation-interface binary: [sim.h] struct
    simulation_config {application_magic_number, timer_period (us, also
    the spin1 timer tick), control_sdp_port, ...}; 7.4.1 writes only these
    three words ([simu] get_simulation_header_array, [const]
    SIMULATION_N_BYTES = 12). simulation_initialise fails (RTE_SWERR) on a
    hash mismatch ([sim.c] l.379)."""
    return struct.pack("<3I", app_hash(binary_name), timestep_us, control_sdp_port)


def recording_region(spaces=(0,)):
    """[rec.c] recording_regions_t {n_regions; recording_region_t
    {space, size:31|missing:1, data*}[n_regions]}; the tools write
    [n, (space, 0, 0) * n] (recording_utilities.get_recording_header_array).
    space 0 leaves a channel off; space > 0 makes recording_initialize
    sark_xalloc that many bytes from sv->sdram_heap."""
    out = struct.pack("<I", len(spaces))
    for space in spaces:
        out += struct.pack("<3I", space, 0, 0)
    return out


def provenance_bytes(n_extra_words):
    """Provenance region size: [sim.h] struct simulation_provenance has 6
    words, then the model's own (ProvidesProvenanceDataFromMachineImpl)."""
    return (6 + n_extra_words) * 4


# ------------------------------------------------------------------- EIEIO

#: [eieio] eieio_data_message_types (bits 10-11 of the 16-bit header)
EIEIO_KEY_16, EIEIO_KEY_PAYLOAD_16, EIEIO_KEY_32, EIEIO_KEY_PAYLOAD_32 = 0, 1, 2, 3


def eieio_header(count, packet_type=EIEIO_KEY_32, apply_prefix=False,
                 prefix_upper=False, payload_prefix=False, timestamp=False):
    """[eieio] eieio_bit_offsets: P(15) F(14) D(13) T(12) type(11:10)
    count(7:0), little-endian uint16."""
    return ((int(apply_prefix) << 15) | (int(prefix_upper) << 14)
            | (int(payload_prefix) << 13) | (int(timestamp) << 12)
            | (packet_type << 10) | (count & 0xFF))


def eieio_keys32(keys):
    """An EIEIO data message: 32-bit keys, no prefix, no payload (what
    LiveEventConnection.send_events(send_full_keys=True) builds; it puts at
    most 63 keys in one message). An SDP message has 272 bytes after its
    8-byte header (sark.h: cmd_rc..arg3 + SDP_BUF_SIZE 256), so at most 67."""
    keys = list(keys)
    if not 0 < len(keys) <= 67:
        raise ValueError("1..67 keys per EIEIO message in one SDP message")
    return struct.pack("<H%dI" % len(keys), eieio_header(len(keys)), *keys)


def parse_eieio_keys32(data):
    """Keys of an EIEIO 32-bit-key data message without prefix or payload
    (the LPG configuration of lpg_regions()). Raises on anything else."""
    (hdr,) = struct.unpack_from("<H", data)
    if hdr & 0xFC00 != EIEIO_KEY_32 << 10:
        raise ValueError("not a plain 32-bit-key EIEIO message: 0x%04x" % hdr)
    count = hdr & 0xFF
    return list(struct.unpack_from("<%dI" % count, data, 2))


# --------------------------------------------------------------------- SDP

#: SDP flags: reply not expected / expected (sark.h SDPF_REPLY = 0x80)
SDP_NO_REPLY, SDP_REPLY = 0x07, 0x87


def sdp_packet(x, y, p, port, data, flags=SDP_NO_REPLY, tag=0xFF,
               srce_port=7, srce_cpu=31, srce_x=0, srce_y=0):
    """A host->core SDP datagram for UDP port 17893: 2 pad bytes, sark.h
    sdp_hdr_t {flags, tag, dest_port<<5|cpu, srce_port<<5|cpu, dest_y,
    dest_x, srce_y, srce_x}, data (which starts at the core's msg->cmd_rc).
    Source 7/31 = 0xFF (PORT_ETH) is SpiNNMan's default; with tag 0xFF and
    SDP_REPLY SCAMP assigns a transient reply tag (scamp-3.c l.499)."""
    return struct.pack("<2x8B", flags, tag, (port << 5) | p,
                       (srce_port << 5) | srce_cpu, y, x, srce_y, srce_x) + data


def sim_command(x, y, p, cmd, arg1=0, arg2=0, arg3=0, data=b"", seq=0,
                flags=SDP_REPLY):
    """A simulation-control SCP message to the core's control port 3
    ([sim.c] simulation_control_scp_callback)."""
    scp = struct.pack("<2H3I", cmd, seq, arg1, arg2, arg3) + data
    return sdp_packet(x, y, p, CONTROL_SDP_PORT, scp, flags=flags)


def cmd_runtime(x, y, p, run_until, infinite=False, start_time=0,
                n_sync_steps=0, seq=0):
    """CMD_RUNTIME as spinn_front_end_common's UpdateRuntimeProcess sends it:
    arg1 = run-until timestep, arg2 = infinite flag, arg3 = first timestep
    (the core sets time = arg3 - 1), data[0] = n_sync_steps (0 = none).
    Reply: cmd_rc RC_OK (0x80), same seq, SDP length 12."""
    return sim_command(x, y, p, CMD_RUNTIME, run_until, int(bool(infinite)),
                       start_time, struct.pack("<I", n_sync_steps), seq)


# --------------------------------------------------------------------- LPG

LPG_BINARY = "live_packet_gather.aplx"
#: [lpg.c] l.103-107 / [lpgmv] _REGIONS
LPG_SYSTEM, LPG_CONFIG, LPG_PROVENANCE = 0, 1, 2
#: [lpgmv] _N_ADDITIONAL_PROVENANCE_ITEMS = 4 ([lpg.c] lpg_provenance_data_t)
LPG_PROVENANCE_BYTES = provenance_bytes(4)


def lpg_config_region(tag, dest_x=0, dest_y=0, *, apply_prefix=False,
                      prefix=0, prefix_type=0, packet_type=EIEIO_KEY_32,
                      key_right_shift=0, payload_timestamp=False,
                      payload_apply_prefix=False, payload_prefix=0,
                      payload_right_shift=0, packets_per_timestep=0,
                      received_key_mask=0xFFFFFFFF,
                      translated_key_right_shift=0, translations=()):
    """[lpg.c] l.46-91 struct lpg_config (15 uint32, then
    key_translation_entry {key, mask, lo_atom}[n]), written in this order by
    [lpgmv] _write_configuration_region:
      apply_prefix, prefix, prefix_type, packet_type (EIEIO type),
      key_right_shift (16-bit types only), payload_timestamp,
      payload_apply_prefix, payload_prefix, payload_right_shift,
      sdp_tag (the IP tag number), sdp_dest = (x << 8) | y of the chip
      holding the IP tag, packets_per_timestamp (0 = no limit),
      received_key_mask (applied when no translation entry matches),
      translated_key_right_shift, n_translation_entries.
    translations: (key, mask, lo_atom) sorted by key (binary search).
    The defaults: every received key goes out unchanged, 32-bit, no payload.
    """
    words = [int(apply_prefix), prefix, prefix_type, packet_type,
             key_right_shift, int(payload_timestamp),
             int(payload_apply_prefix), payload_prefix, payload_right_shift,
             tag, (dest_x << 8) | dest_y, packets_per_timestep,
             received_key_mask, translated_key_right_shift, len(translations)]
    for key, mask, lo_atom in translations:
        words += [key, mask, lo_atom]
    return struct.pack("<%dI" % len(words), *words)


def lpg_regions(tag, dest_x=0, dest_y=0, timestep_us=1000, **config):
    """{region: bytes} for live_packet_gather.aplx: system, config (see
    lpg_config_region for **config) and a zeroed provenance region (the
    tools reserve it without content; zeros check out with checksum 0).
    The output goes out as SDP dest_port 0xFF, tag `tag`, to chip
    (dest_x, dest_y), i.e. through IP tag `tag` of that Ethernet chip."""
    return {LPG_SYSTEM: system_region(LPG_BINARY, timestep_us),
            LPG_CONFIG: lpg_config_region(tag, dest_x, dest_y, **config),
            LPG_PROVENANCE: bytes(LPG_PROVENANCE_BYTES)}


def parse_lpg_datagram(data, stripped=True):
    """Keys from one UDP datagram the LPG's IP tag delivers (plain config):
    with a strip-SDP tag (SpiNNMan's default for the LPG) the payload is the
    EIEIO message; otherwise 2 pad bytes + 8-byte SDP header come first
    (flags 0x07, tag, dest_port 0xFF, srce_port (3 << 5) | p, [lpg.c]
    l.586-595)."""
    return parse_eieio_keys32(data if stripped else data[10:])


# ----------------------------------------------------------------- RIPTMCS

RIPTMCS_BINARY = "reverse_iptag_multicast_source.aplx"
#: [rip.c] l.85-91 enum region_ids / [ripmv] _Regions
(RIPTMCS_SYSTEM, RIPTMCS_CONFIG, RIPTMCS_RECORDING, RIPTMCS_SEND_BUFFER,
 RIPTMCS_PROVENANCE) = 0, 1, 2, 3, 4
#: [ripmv] _n_additional_data_items = 5 ([rip.c] ripmcs_provenance_t)
RIPTMCS_PROVENANCE_BYTES = provenance_bytes(5)


def riptmcs_config_region(*, apply_prefix=False, prefix=0, prefix_type=0,
                          check_keys=False, has_key=True, key_space=0,
                          mask=0, buffer_region_size=0,
                          space_before_data_request=0, return_tag_id=0,
                          return_tag_dest=0, receive_sdp_port=INPUT_SDP_PORT,
                          tx_offset_us=0):
    """[rip.c] l.52-82 struct config (13 uint32, [ripmv] _write_configuration):
      apply_prefix, prefix, prefix_type, check_keys, has_key, key_space,
      mask, buffer_region_size, space_before_data_request, return_tag_id,
      return_tag_dest, buffered_in_sdp_port, tx_offset.
    has_key must be 1 or NOTHING is sent ([rip.c] l.620/678: the tools set
    it when the vertex has an outgoing key, and then also apply_prefix=1
    with the key as prefix); check_keys=1 drops keys with
    (key & mask) != key_space. buffer_region_size 0 = no pre-recorded
    spikes (no SEND_BUFFER region, no buffer requests to the host).
    tx_offset is the first timer tick's extra delay in us
    (spin1_set_timer_tick_and_phase); the tools write timestep_us // 20 for
    the first RIPTMCS of a run.
    """
    return struct.pack(
        "<13I", int(apply_prefix), prefix, prefix_type, int(check_keys),
        int(has_key), key_space, mask, buffer_region_size,
        space_before_data_request, return_tag_id, return_tag_dest,
        receive_sdp_port, tx_offset_us)


def riptmcs_regions(timestep_us=1000, recording_space=0, **config):
    """{region: bytes} for reverse_iptag_multicast_source.aplx, simplest
    config: system, config (riptmcs_config_region(**config): every key of an
    EIEIO message received on SDP port 1 goes out as a multicast packet, key
    unchanged), a 1-channel recording header (space 0 = not recording) and a
    zeroed provenance region; no SEND_BUFFER region."""
    return {RIPTMCS_SYSTEM: system_region(RIPTMCS_BINARY, timestep_us),
            RIPTMCS_CONFIG: riptmcs_config_region(**config),
            RIPTMCS_RECORDING: recording_region((recording_space,)),
            RIPTMCS_PROVENANCE: bytes(RIPTMCS_PROVENANCE_BYTES)}


def riptmcs_inject(x, y, p, keys, port=INPUT_SDP_PORT):
    """The datagram (for the board's UDP 17893) that makes the RIPTMCS on
    (x, y, p) send `keys` as multicast packets: SDP to port 1 of the core,
    no reply, EIEIO 32-bit keys (LiveEventConnection._send in 7.4.1 does the
    same with tag 0 and source 0)."""
    return sdp_packet(x, y, p, port, eieio_keys32(keys), flags=SDP_NO_REPLY,
                      tag=0, srce_port=0, srce_cpu=0)
