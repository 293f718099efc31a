"""A spalloc machine: triads of SpiNN-5 boards, which of them are in use, and where
chips are.  Pure bookkeeping; the server holds the lock around every call.

Board coordinates (x, y, z): x, y index triads, z the board within the triad.
The Ethernet chip of board z of triad (x, y) is (12x, 12y) + (0,0) / (8,4) / (4,8).
"""
import math
from dataclasses import dataclass

from ..machine.geometry import SPINN5_CHIPS, TRIAD_BOARD_OFFSETS, TRIAD_SIZE

_BOARD_CHIPS = frozenset(SPINN5_CHIPS)


@dataclass(frozen=True)
class Request:
    """A validated create_job request, in one of three shapes."""
    kind: str                    # "boards" (n), "rect" (w x h triads), "board" (x, y, z)
    n: int = 1
    width: int = 0
    height: int = 0
    xyz: tuple = None
    min_ratio: float = 0.333
    max_dead_boards: int = 0     # None = any
    max_dead_links: int = None   # None = any
    require_torus: bool = False


@dataclass
class Allocation:
    boards: list                 # [(x, y, z)]
    root: tuple                  # (x, y, z) the job's chip (0, 0) belongs to
    width: int                   # in chips
    height: int


def eth_chip(x, y, z):
    ox, oy = TRIAD_BOARD_OFFSETS[z]
    return (TRIAD_SIZE * x + ox, TRIAD_SIZE * y + oy)


class SpallocMachine:
    def __init__(self, cfg):
        self.cfg = cfg
        self.name = cfg.name
        self.tags = tuple(cfg.tags)
        self.width = cfg.width
        self.height = cfg.height
        self.boards = dict(cfg.boards)                   # live boards only
        self.dead_boards = set(cfg.dead_boards)
        self.dead_links = set(cfg.dead_links)
        self.by_physical = {b.physical: b.xyz for b in self.boards.values()}
        self.owner = {}         # (x, y, z) -> job id of the live job holding it
        self.releasing = set()  # boards being powered off / waiting to be freed
        self.queue = []         # FIFO of waiting jobs (Job objects)

    # --------------------------------------------------------------- properties
    @property
    def chip_width(self):
        return TRIAD_SIZE * self.width

    @property
    def chip_height(self):
        return TRIAD_SIZE * self.height

    def is_free(self, xyz):
        return xyz in self.boards and xyz not in self.owner and xyz not in self.releasing

    def summary(self):
        return {"name": self.name, "tags": list(self.tags), "width": self.width,
                "height": self.height,
                "dead_boards": [list(b) for b in sorted(self.dead_boards)],
                "dead_links": [list(b) for b in sorted(self.dead_links)]}

    # --------------------------------------------------------------- allocation
    def allocate(self, req, empty=False):
        """An Allocation satisfying ``req`` from the free boards (all live boards when
        ``empty``), or None.  Nothing is marked; the caller does that."""
        free = (lambda xyz: xyz in self.boards) if empty else self.is_free
        if req.kind == "board":
            return self._single(req.xyz) if free(req.xyz) else None
        if req.kind == "boards" and req.n == 1:
            return self._one_board(free, empty)
        if req.kind == "boards":
            return self._n_boards(req, free)
        return self._rect(req.width, req.height, req, free, live_needed=0)

    def _single(self, xyz):
        return Allocation([xyz], xyz, 8, 8)

    def _one_board(self, free, empty):
        # Fill partly used triads before starting on an empty one, so that whole
        # triads stay available for bigger jobs.
        candidates = [xyz for xyz in sorted(self.boards, key=lambda b: (b[1], b[0], b[2]))
                      if free(xyz)]
        if not candidates:
            return None
        if not empty:
            for xyz in candidates:
                x, y, _ = xyz
                if any((x, y, z) in self.owner or (x, y, z) in self.releasing for z in range(3)):
                    return self._single(xyz)
        return self._single(candidates[0])

    def _n_boards(self, req, free):
        triads = math.ceil(req.n / 3)
        shapes = []
        for w in range(1, self.width + 1):
            for h in range(1, self.height + 1):
                if w * h < triads:
                    continue
                if min(w, h) / max(w, h) < req.min_ratio:
                    continue
                shapes.append((w * h, -min(w, h) / max(w, h), w, h))
        for _, _, w, h in sorted(shapes):
            alloc = self._rect(w, h, req, free, live_needed=req.n)
            if alloc is not None:
                return alloc
        return None

    def _rect(self, w, h, req, free, live_needed):
        if w > self.width or h > self.height:
            return None
        if req.require_torus and (w, h) != (self.width, self.height):
            return None
        for y0 in range(self.height - h + 1):
            for x0 in range(self.width - w + 1):
                xyzs = [(x, y, z) for y in range(y0, y0 + h) for x in range(x0, x0 + w)
                        for z in range(3)]
                live = [b for b in xyzs if b in self.boards]
                dead = len(xyzs) - len(live)
                if req.max_dead_boards is not None and dead > req.max_dead_boards:
                    continue
                if len(live) < max(live_needed, 1):
                    continue
                if req.max_dead_links is not None:
                    inside = set(xyzs)
                    if sum(1 for l in self.dead_links if l[:3] in inside) > req.max_dead_links:
                        continue
                if not all(free(b) for b in live):
                    continue
                # 12 chips per triad, plus the 4-chip overhang of boards 1 and 2 unless
                # the allocation spans the whole torus in that direction and wraps.
                cw = TRIAD_SIZE * w + (0 if w == self.width else 4)
                ch = TRIAD_SIZE * h + (0 if h == self.height else 4)
                return Allocation(live, (x0, y0, 0), cw, ch)
        return None

    # ----------------------------------------------------------------- geometry
    def connections(self, alloc):
        """[[[x, y], ip], ...]: each board's Ethernet chip relative to the job root."""
        rx, ry = eth_chip(*alloc.root)
        out = []
        for xyz in sorted(alloc.boards, key=lambda b: (b[1], b[0], b[2])):
            ex, ey = eth_chip(*xyz)
            out.append([[(ex - rx) % self.chip_width, (ey - ry) % self.chip_height],
                        self.boards[xyz].ip])
        return out

    def board_at_chip(self, cx, cy):
        """(board (x, y, z), chip within the board) for a global chip, or None when the
        chip is on a dead or missing board.  The 48-chip boards of the triads tile the
        torus exactly, so exactly one board position claims any chip."""
        cx %= self.chip_width
        cy %= self.chip_height
        for x in range(self.width):
            for y in range(self.height):
                for z in range(3):
                    ex, ey = eth_chip(x, y, z)
                    local = ((cx - ex) % self.chip_width, (cy - ey) % self.chip_height)
                    if local in _BOARD_CHIPS:
                        if (x, y, z) not in self.boards:
                            return None
                        return (x, y, z), local
        return None
