"""What the transceiver finds and names: its errors, the discovered machine (chips,
links, cores), routing entries (host/transceiver.py and its tx_* parts share these)."""
from dataclasses import dataclass, field

from ..machine.geometry import Machine
from ..protocol import constants as C
from ..protocol.constants import CPUState


class TransceiverError(IOError):
    pass


@dataclass
class ChipInfo:
    x: int
    y: int
    n_cores: int
    links: frozenset            # working links to chips that answered
    parent_link: int            # towards the root (7 = the root); None on SC&MP 3
    eth: tuple                  # nearest Ethernet chip
    ip: str                     # this chip's IP if it is an Ethernet chip, else None
    states: bytes               # cpu_state of cores 0..17 at discovery
    largest_sdram: int
    largest_rtr: int

    @property
    def xy(self):
        return (self.x, self.y)

    @property
    def idle_cores(self):
        """Application cores free at discovery (what SpiNNMan makes placeable)."""
        return [p for p in range(1, self.n_cores) if self.states[p] == CPUState.IDLE]


@dataclass
class DiscoveredMachine:
    width: int
    height: int
    boot_chip: tuple
    chips: dict = field(default_factory=dict)     # (x, y) -> ChipInfo
    machine: Machine = None                       # geometry model of what was found
    scamp_version: str = ""

    @property
    def ethernets(self):
        return {xy: c.ip for xy, c in self.chips.items() if c.ip}

    def __iter__(self):
        return iter(sorted(self.chips))

    def __len__(self):
        return len(self.chips)

    @property
    def n_cores(self):
        return sum(c.n_cores for c in self.chips.values())


@dataclass
class RoutingEntry:
    key: int
    mask: int
    route: int
    index: int = None
    app_id: int = None

    @property
    def links(self):
        return [l for l in range(6) if self.route & (1 << l)]

    @property
    def cores(self):
        return [p for p in range(C.N_CORES) if self.route & (1 << (6 + p))]


def route_word(links=(), cores=()):
    r = 0
    for l in links:
        r |= 1 << l
    for p in cores:
        r |= 1 << (6 + p)
    return r


def norm_cores(cores_by_chip):
    """{(x, y): iterable} or [(x, y, p)...] -> {(x, y): sorted cores}."""
    out = {}
    if isinstance(cores_by_chip, dict):
        for xy, ps in cores_by_chip.items():
            ps = sorted(set(ps))
            if ps:
                out[tuple(xy)] = ps
    else:
        for (x, y, p) in cores_by_chip:
            out.setdefault((x, y), set()).add(p)
        out = {xy: sorted(ps) for xy, ps in out.items()}
    return out
