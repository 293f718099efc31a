"""Loading executables through the real SC&MP paths.

``flood_load``: NNP flood-fill start, core select, FFD blocks, flood-fill end
(what rig does; every chip of the machine receives the image).
``tree_load``: WRITE the image to (0,0), AR there, then APP_COPY_RUN along the
parent links of CMD_INFO, level by level (what SpiNNMan's execute_flood does).
"""
import struct

from ..protocol import constants as C
from ..protocol import words as W
from ..protocol.constants import SCPCommand as CMD
from ..protocol.structs import sv_address
from ..protocol.words import core_mask
from ..machine.geometry import LINK_DELTAS

ROOT = (255, 255)


def pad_image(image):
    """The image as bytes, padded to whole words."""
    return bytes(image) + b"\0" * ((-len(image)) % 4)


def flood_blocks(image):
    return (len(image) + W.FFD_BLOCK - 1) // W.FFD_BLOCK


def flood(conn, image, selections, app_id, wait=False, flood_id=2, sdram_sys=None, window=1):
    """One flood fill through the root chip: NNP FFS, an FFCS per (core mask, region) of
    ``selections``, the FFD blocks (``window`` in flight: they may arrive in any order,
    each names its block), FFE. ``sdram_sys()`` gives sv->sdram_sys (read from the root
    when None)."""
    image = pad_image(image)
    n_blocks = flood_blocks(image)
    if n_blocks > W.MAX_FLOOD_BLOCKS:
        raise ValueError("image too large for one flood fill (%d bytes)" % len(image))
    conn.send(*ROOT, 0, CMD.NNP, W.pack_ffs(flood_id, n_blocks))
    for mask, region in selections:
        conn.send(*ROOT, 0, CMD.NNP, W.pack_ffcs(mask, region))
    base = sdram_sys() if sdram_sys is not None else conn.read_word(*ROOT, sv_address("sdram_sys"))
    ops = []
    for b in range(n_blocks):
        chunk = image[b * W.FFD_BLOCK:(b + 1) * W.FFD_BLOCK]
        ops.append((*ROOT, 0, CMD.FFD, W.pack_ffd(flood_id, b, len(chunk), base + b * W.FFD_BLOCK), chunk))
    conn.pipeline(ops, None, window)
    conn.send(*ROOT, 0, CMD.NNP, W.pack_ffe(flood_id, app_id, int(wait)))


def flood_load(conn, image, cores, app_id, wait=False, flood_id=2):
    """Flood-fill ``image`` to every chip and start it on ``cores`` (core numbers)."""
    flood(conn, image, [(core_mask(cores), W.REGION_ALL)], app_id, wait, flood_id)


def tree_load(conn, chips, image, cores_by_chip, app_id, wait=False):
    """SpiNNMan-style loading: APP_COPY_RUN down the tree of CMD_INFO parent links.
    ``chips``: {(x, y): parent_link}; ``cores_by_chip``: {(x, y): iterable of cores}."""
    image = pad_image(image)
    checksum = sum(struct.unpack("<%dI" % (len(image) // 4), image)) & 0x1FFFFFFF
    conn.write(0, 0, C.SDRAM_SYS, image)
    flags = C.APP_FLAG_WAIT if wait else 0

    def a3(xy):
        return W.pack_start(app_id, flags, core_mask(cores_by_chip.get(xy, ())))
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
