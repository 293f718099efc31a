"""Loading images onto cores (the loading part of host/transceiver.Transceiver): one
flood fill, per-chip AR, or APP_COPY_RUN down the parent-link tree."""
from ..protocol import constants as C
from ..protocol import words as W
from ..protocol.constants import SCPCommand as CMD
from ..protocol.words import core_mask
from .loader import flood, flood_blocks, pad_image, tree_load
from .tx_model import TransceiverError, norm_cores


class LoadingMixin:
    def execute_flood(self, cores_by_chip, image, app_id, wait=False):
        """Load ``image`` onto the given cores ({(x, y): cores} or [(x, y, p)]).

        One flood fill carries the image to every chip. SC&MP 4 ignores flood-fill
        regions, so its core selection (FFCS) applies to every chip alike: when all
        chips of the machine want the same cores we flood with that mask; otherwise
        we flood with an empty mask (the image lands in every chip's sdram_sys,
        nothing starts) and start each chip's own cores with an AR to that chip (8
        in flight). SC&MP 3 honours regions, so there one flood carries an FFCS per
        (4x4 block, core set) and nothing else is needed (what rig does). Images
        larger than one flood fill (255 blocks) go SpiNNMan's way: APP_COPY_RUN down
        the tree of parent links."""
        targets = norm_cores(cores_by_chip)
        if not targets:
            return
        for (x, y), cores in targets.items():
            chip = self._chip(x, y)
            bad = [p for p in cores if not 1 <= p < (chip.n_cores if chip else C.N_CORES)]
            if bad:
                raise TransceiverError("chip %d,%d has no application core(s) %s" % (x, y, bad))
        image = pad_image(image)
        if flood_blocks(image) > W.MAX_FLOOD_BLOCKS:
            self._tree_load(targets, image, app_id, wait)
            return
        masks = {xy: core_mask(cores) for xy, cores in targets.items()}
        all_chips = set(self.machine.chips) if self.machine else set(targets)
        if self.scamp_major < 4:
            selections = []
            by_mask = {}
            for xy, m in masks.items():
                by_mask.setdefault(m, []).append(xy)
            for m, chips in by_mask.items():
                blocks = {}
                for (x, y) in chips:
                    key = (x & ~3, y & ~3)
                    blocks[key] = blocks.get(key, 0) | (1 << ((x & 3) + 4 * (y & 3)))
                for (bx, by), bits in blocks.items():
                    selections.append((m, W.pack_region(bx, by, bits)))
            self._flood(image, selections, app_id, wait)
        elif set(masks) == all_chips and len(set(masks.values())) == 1:
            self._flood(image, [(next(iter(masks.values())), W.REGION_ALL)], app_id, wait)
        else:
            self._flood(image, [(0, W.REGION_ALL)], app_id, wait)
            flags = C.APP_FLAG_WAIT if wait else 0
            ops = [(x, y, 0, CMD.AR, (W.pack_start(app_id, flags, m),), b"")
                   for (x, y), m in sorted(masks.items())]
            self.conn.pipeline(ops, None, self.window)

    def _flood(self, image, selections, app_id, wait):
        """One flood fill (host/loader.flood), its FFD blocks pipelined."""
        flood(self.conn, image, selections, app_id, wait, flood_id=(app_id % 250) + 1,
              sdram_sys=lambda: self.sv_value(255, 255, "sdram_sys"), window=self.window)

    def _tree_load(self, targets, image, app_id, wait):
        boot = self.machine.boot_chip
        if self.bulk is not None:             # the one big write goes fast; tree_load's is then a no-op size
            self.write_memory(boot[0], boot[1], self.sv_value(boot[0], boot[1], "sdram_sys"), image)
        chips = {xy: c.parent_link for xy, c in self.machine.chips.items()}
        tree_load(_SkipWrite(self.conn) if self.bulk is not None else self.conn, chips, image, targets, app_id, wait)


class _SkipWrite:
    """tree_load's connection, minus the image write already done over the bulk channel."""

    def __init__(self, conn):
        self._conn = conn

    def write(self, *a, **kw):
        pass

    def __getattr__(self, name):
        return getattr(self._conn, name)
