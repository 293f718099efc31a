"""Loading executables through the real SC&MP paths.

``flood_load``: NNP flood-fill start, core select, FFD blocks, flood-fill end
(what rig does; every chip of the machine receives the image).
``tree_load``: WRITE the image to (0,0), AR there, then APP_COPY_RUN along the
parent links of CMD_INFO, level by level (what SpiNNMan's execute_flood does).
"""
import struct

from ..protocol import constants as C
from ..protocol.constants import SCPCommand as CMD
from ..machine.geometry import LINK_DELTAS

_FFD_BLOCK = 256


def core_mask(cores):
    m = 0
    for p in cores:
        if not 1 <= p < C.N_CORES:
            raise ValueError("core %d is not an application core" % p)
        m |= 1 << p
    return m


def flood_load(conn, image, cores, app_id, wait=False, flood_id=2):
    """Flood-fill ``image`` to every chip and start it on ``cores`` (core numbers)."""
    image = bytes(image) + b"\0" * ((-len(image)) % 4)
    n_blocks = (len(image) + _FFD_BLOCK - 1) // _FFD_BLOCK
    if n_blocks > 255:
        raise ValueError("image too large for one flood fill (%d bytes)" % len(image))
    mask = core_mask(cores)
    conn.send(255, 255, 0, CMD.NNP, ((C.NN_FFS << 24) | (flood_id << 16) | (n_blocks << 8), 0,
                                      (1 << 31) | (0x3F << 8) | 0x18))
    conn.send(255, 255, 0, CMD.NNP, ((C.NN_FFCS << 24) | mask, 0xFFFF | (3 << 16), (0x3F << 8) | 0x18))
    sdram_sys = conn.read_word(255, 255, C.SV_BASE + 0xC8)
    for b in range(n_blocks):
        chunk = image[b * _FFD_BLOCK:(b + 1) * _FFD_BLOCK]
        words = len(chunk) // 4
        conn.send(255, 255, 0, CMD.FFD, ((0x3F << 24) | (0x18 << 16) | flood_id,
                                          (b << 16) | ((words - 1) << 8), sdram_sys + b * _FFD_BLOCK), chunk)
    conn.send(255, 255, 0, CMD.NNP, ((C.NN_FFE << 24) | flood_id, (app_id << 24) | (int(wait) << 18), 0x3F00))


def tree_load(conn, chips, image, cores_by_chip, app_id, wait=False):
    """SpiNNMan-style loading: APP_COPY_RUN down the tree of CMD_INFO parent links.
    ``chips``: {(x, y): parent_link}; ``cores_by_chip``: {(x, y): iterable of cores}."""
    image = bytes(image) + b"\0" * ((-len(image)) % 4)
    checksum = sum(struct.unpack("<%dI" % (len(image) // 4), image)) & 0x1FFFFFFF
    conn.write(0, 0, C.SDRAM_SYS, image)
    flags = 1 if wait else 0

    def a3(xy):
        cores = cores_by_chip.get(xy, ())
        return (app_id << 24) | (flags << 18) | (core_mask(cores) if cores else 0)
    if cores_by_chip.get((0, 0)):
        conn.send(0, 0, 0, CMD.AR, (a3((0, 0)),))
    # levels by distance from the root along parent links
    level = {(0, 0): 0}

    def depth(xy, guard=0):
        if xy in level:
            return level[xy]
        link = chips[xy]
        dx, dy = LINK_DELTAS[link]
        parent = (xy[0] + dx, xy[1] + dy)
        if guard > 512 or parent not in chips:
            level[xy] = 10 ** 6
        else:
            level[xy] = depth(parent, guard + 1) + 1
        return level[xy]
    for xy in chips:
        depth(xy)
    for d in sorted(set(v for v in level.values() if 0 < v < 10 ** 6)):
        for xy in [c for c, v in level.items() if v == d]:
            conn.send(xy[0], xy[1], 0, CMD.APP_COPY_RUN, ((checksum << 3) | chips[xy], len(image), a3(xy)),
                      timeout=6.0)
