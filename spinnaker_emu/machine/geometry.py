"""Machine geometry: chips, hexagonal links, board shapes, tori of triads.

Pure data, no I/O. Link numbers: 0=E(+1,0) 1=NE(+1,+1) 2=N(0,+1) 3=W(-1,0)
4=SW(-1,-1) 5=S(0,-1); link l and link (l+3)%6 are the two ends of one wire.
"""
from collections import deque
from dataclasses import dataclass, field

from ..protocol.constants import N_CORES, P2P_NONE, P2P_SELF

LINK_DELTAS = ((1, 0), (1, 1), (0, 1), (-1, 0), (-1, -1), (0, -1))
LINK_NAMES = ("E", "NE", "N", "W", "SW", "S")


def opposite(link):
    return (link + 3) % 6


# The 48 chips of a SpiNN-5 board: column x -> range of y
SPINN5_COLUMNS = {0: range(0, 4), 1: range(0, 5), 2: range(0, 6), 3: range(0, 7),
                  4: range(0, 8), 5: range(1, 8), 6: range(2, 8), 7: range(3, 8)}
SPINN5_CHIPS = tuple((x, y) for x, ys in sorted(SPINN5_COLUMNS.items()) for y in ys)
# Ethernet chips of a SpiNN-5 board relative to the board origin and the boards of a triad
TRIAD_BOARD_OFFSETS = ((0, 0), (8, 4), (4, 8))
TRIAD_SIZE = 12

SPINN3_CHIPS = ((0, 0), (0, 1), (1, 0), (1, 1))
SPINN3_LINKS = {(0, 0): (0, 1, 2, 5), (0, 1): (0, 1, 2, 5),
                (1, 0): (2, 3, 4, 5), (1, 1): (2, 3, 4, 5)}


@dataclass
class Machine:
    """A machine: live chips with their working links, Ethernet chips with their
    board IPs. Coordinates are global; ``width``/``height`` wrap when ``wrap``."""
    width: int
    height: int
    links: dict                      # (x, y) -> frozenset of working link numbers
    ethernets: dict                  # (x, y) of each Ethernet chip -> IP string
    cores: dict = field(default_factory=dict)   # (x, y) -> working cores (default 18)
    wrap: bool = False
    version: int = 5

    @property
    def chips(self):
        return sorted(self.links)

    def n_cores(self, xy):
        return self.cores.get(xy, N_CORES)

    def neighbour(self, xy, link):
        dx, dy = LINK_DELTAS[link]
        return ((xy[0] + dx) % self.width, (xy[1] + dy) % self.height)

    def nearest_ethernet(self, xy):
        """The Ethernet chip of the board ``xy`` is on."""
        return self.board_of.get(xy, (0, 0))

    def __post_init__(self):
        self.board_of = {}
        if len(self.ethernets) == 1:
            eth = next(iter(self.ethernets))
            self.board_of = {xy: eth for xy in self.links}
        else:
            for (ex, ey) in self.ethernets:
                for (lx, ly) in SPINN5_CHIPS:
                    xy = ((ex + lx) % self.width, (ey + ly) % self.height)
                    if xy in self.links:
                        self.board_of[xy] = (ex, ey)

    def board_chips(self, eth_xy):
        return [xy for xy in self.chips if self.board_of.get(xy) == eth_xy]

    def bfs(self, source):
        """Breadth-first search over working links from ``source``.
        Returns {chip: (distance, link from its predecessor towards it)}."""
        seen = {source: (0, None)}
        queue = deque([source])
        while queue:
            xy = queue.popleft()
            d = seen[xy][0]
            for link in sorted(self.links[xy]):
                n = self.neighbour(xy, link)
                if n in self.links and n not in seen and opposite(link) in self.links[n]:
                    seen[n] = (d + 1, link)
                    queue.append(n)
        return seen

    def p2p_table(self, source):
        """First-hop link from ``source`` to every chip (P2P_SELF for itself)."""
        table = {source: P2P_SELF}
        seen = {source: None}
        queue = deque()
        for link in sorted(self.links[source]):
            n = self.neighbour(source, link)
            if n in self.links and n not in seen and opposite(link) in self.links[n]:
                seen[n] = link
                table[n] = link
                queue.append(n)
        while queue:
            xy = queue.popleft()
            first = table[xy]
            for link in sorted(self.links[xy]):
                n = self.neighbour(xy, link)
                if n in self.links and n not in seen and opposite(link) in self.links[n]:
                    seen[n] = first
                    table[n] = first
                    queue.append(n)
        return table

    def spanning_tree(self, root=(0, 0)):
        """{chip: parent link} where the parent link is the link from a chip towards its
        parent in the BFS tree from ``root`` (7 = the root itself), and {chip: [children]}."""
        found = self.bfs(root)
        parent_link, children = {}, {xy: [] for xy in found}
        for xy, (dist, link) in found.items():
            if link is None:
                parent_link[xy] = P2P_SELF
            else:
                back = opposite(link)
                parent_link[xy] = back
                children[self.neighbour(xy, back)].append(xy)
        return parent_link, children


def p2p_table_words(machine, source):
    """The router's P2P table as 8192 words (3 bits per destination (x<<8)|y)."""
    none_word = sum(P2P_NONE << (3 * k) for k in range(8))
    words = [none_word] * 8192
    for (x, y), v in machine.p2p_table(source).items():
        i = (x << 8) | y
        shift = 3 * (i & 7)
        words[i >> 3] = (words[i >> 3] & ~(7 << shift)) | (v << shift)
    return words


def spinn5_board(ip="127.0.1.1", dead_chips=(), dead_links=(), cores=None):
    """A single SpiNN-5 board: 48 chips, 8x8, no wrap-around."""
    chips = set(SPINN5_CHIPS) - set(map(tuple, dead_chips))
    return _from_chip_set(8, 8, chips, False, {(0, 0): ip}, dead_links, cores, 5)


def spinn3_board(ip="127.0.1.1", dead_chips=(), dead_links=(), cores=None):
    """A SpiNN-3 board: 4 chips, 2x2, links as on the real board."""
    chips = set(SPINN3_CHIPS) - set(map(tuple, dead_chips))
    links = {xy: frozenset(SPINN3_LINKS[xy]) for xy in chips}
    m = Machine(2, 2, links, {(0, 0): ip}, dict(cores or {}), True, 3)
    _remove_dead_links(m, dead_links)
    return m


def triads_machine(width, height, board_ips, dead_chips=(), dead_links=(), cores=None):
    """``width`` x ``height`` triads of SpiNN-5 boards on a torus (12w x 12h chips).
    ``board_ips`` maps (triad x, triad y, z) -> IP of that board's Ethernet chip."""
    W, H = TRIAD_SIZE * width, TRIAD_SIZE * height
    chips, ethernets = set(), {}
    for (tx, ty, z), ip in board_ips.items():
        ox, oy = TRIAD_SIZE * tx + TRIAD_BOARD_OFFSETS[z][0], TRIAD_SIZE * ty + TRIAD_BOARD_OFFSETS[z][1]
        ethernets[(ox % W, oy % H)] = ip
        for (lx, ly) in SPINN5_CHIPS:
            chips.add(((ox + lx) % W, (oy + ly) % H))
    chips -= set(map(tuple, dead_chips))
    return _from_chip_set(W, H, chips, True, ethernets, dead_links, cores, 5)


def _links(chips, w, h, wrap_x, wrap_y):
    """Each chip's links to chips that exist (wrapping in x and/or y)."""
    links = {}
    for (x, y) in chips:
        ok = []
        for link, (dx, dy) in enumerate(LINK_DELTAS):
            nx, ny = x + dx, y + dy
            if wrap_x:
                nx %= w
            if wrap_y:
                ny %= h
            if (nx, ny) in chips:
                ok.append(link)
        links[(x, y)] = frozenset(ok)
    return links


def _from_chip_set(w, h, chips, wrap, ethernets, dead_links, cores, version):
    links = _links(chips, w, h, wrap, wrap)
    m = Machine(w, h, links, dict(ethernets), dict(cores or {}), wrap, version)
    _remove_dead_links(m, dead_links)
    return m


def _remove_dead_links(machine, dead_links):
    """Dead links are removed at both ends, keeping the link sets symmetric."""
    for (x, y, link) in dead_links:
        if (x, y) in machine.links:
            machine.links[(x, y)] = machine.links[(x, y)] - {link}
            n = machine.neighbour((x, y), link)
            if n in machine.links:
                machine.links[n] = machine.links[n] - {opposite(link)}


def job_machine(width, height, boards, wrap_x=True, wrap_y=True):
    """The machine a spalloc job's boards form, in the job's coordinates (its root
    board's Ethernet chip at (0, 0)): ``boards`` maps each board's Ethernet chip
    (x, y) -> IP. A job that spans the whole machine in a direction wraps in it
    (12 chips per triad); one that does not is 4 chips wider (the overhang of
    boards 1 and 2) and does not wrap, as spalloc describes jobs."""
    chips = set()
    for (ex, ey) in boards:
        for (lx, ly) in SPINN5_CHIPS:
            x, y = ex + lx, ey + ly
            if wrap_x:
                x %= width
            if wrap_y:
                y %= height
            if 0 <= x < width and 0 <= y < height:
                chips.add((x, y))
    links = _links(chips, width, height, wrap_x, wrap_y)
    return Machine(width, height, links, dict(boards), {}, wrap_x and wrap_y, 5)


def board_chip_index(machine, xy):
    """(Ethernet chip of the board ``xy`` is on, the chip's index among the board's 48)."""
    ex, ey = machine.board_of[xy]
    local = ((xy[0] - ex) % machine.width, (xy[1] - ey) % machine.height)
    return (ex, ey), SPINN5_CHIPS.index(local)
