"""Where each chip of a machine sits in the drawing, which chips and links the machine
should have, and so which of them are dead. Pure data from the discovered width,
height and board version: a real machine reports only what is alive, so what is
missing is found against the board shapes of machine/geometry.py."""
from ..machine.geometry import (LINK_DELTAS, SPINN3_CHIPS, SPINN3_LINKS, SPINN5_CHIPS,
                                TRIAD_BOARD_OFFSETS, TRIAD_SIZE)


class Layout:
    """``boards``: [(Ethernet chip (x, y), unwrapped drawing origin (x, y))];
    ``chips``: {(x, y): (board index, drawing position (u, v))}: the position is the
    chip's coordinates unwrapped from its board's Ethernet chip, so every board is drawn
    whole, the boards of a torus tiling the plane as they are wired."""

    def __init__(self, width, height, version, ethernets=(), live=(), wrap=False):
        """``ethernets``, ``live``, ``wrap``: what discovery found, for machines of other
        shapes (a spalloc job's part of a machine): a board at each Ethernet chip, and any
        live chip outside those boards where its coordinates say."""
        self.width, self.height, self.version = width, height, version
        self.wrap = False
        self.boards, self.chips = [], {}
        if version == 3:
            self.boards = [((0, 0), (0, 0))]
            self.chips = {xy: (0, xy) for xy in SPINN3_CHIPS}
            return
        if width % TRIAD_SIZE == 0 and height % TRIAD_SIZE == 0 and width and height:
            self.wrap = True              # a torus of triads
            origins = [(TRIAD_SIZE * tx + ox, TRIAD_SIZE * ty + oy)
                       for ty in range(height // TRIAD_SIZE)
                       for tx in range(width // TRIAD_SIZE)
                       for (ox, oy) in TRIAD_BOARD_OFFSETS]
        elif (width, height) == (8, 8) or not ethernets:
            origins = [(0, 0)]            # one SpiNN-5 board (8 x 8, no wrap-around)
        else:
            self.wrap = wrap
            origins = sorted(ethernets)
        for b, (ox, oy) in enumerate(origins):
            eth = (ox % width, oy % height)
            self.boards.append((eth, (ox, oy)))
            for (lx, ly) in SPINN5_CHIPS:
                xy = ((ox + lx) % width, (oy + ly) % height)
                if xy not in self.chips and (self.wrap or (ox + lx < width and oy + ly < height)):
                    self.chips[xy] = (b, (ox + lx, oy + ly))
        for xy in live:                   # never hide a chip that answers
            self.chips.setdefault(xy, (0, xy))

    def neighbour(self, xy, link):
        """The chip across ``link`` of ``xy`` if the machine has one, else None."""
        if self.version == 3:
            if link not in SPINN3_LINKS.get(xy, ()):
                return None
        dx, dy = LINK_DELTAS[link]
        x, y = xy[0] + dx, xy[1] + dy
        if self.wrap or self.version == 3:
            x, y = x % self.width, y % self.height
        n = (x, y)
        return n if n in self.chips else None

    def expected_links(self, xy):
        return [link for link in range(6) if self.neighbour(xy, link) is not None]
