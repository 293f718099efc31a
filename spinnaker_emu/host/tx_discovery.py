"""Machine discovery: dimensions from sv_t, live chips from the boot chip's P2P table,
CMD_INFO on every live chip (the discovery part of host/transceiver.Transceiver)."""
import socket

from ..machine.geometry import Machine, LINK_DELTAS, opposite
from ..protocol import constants as C
from ..protocol.constants import SCPCommand as CMD
from ..protocol.structs import SV, unpack_chip_info, sv_address, field_size, field_value, p2p_live_chips
from .scp import SCPTimeout
from .tx_model import ChipInfo, DiscoveredMachine, TransceiverError


class DiscoveryMixin:
    def discover(self):
        """Dimensions from SV, live chips from the boot chip's P2P table, then CMD_INFO
        on every live chip (8 in flight). Chips that do not answer are left out, and
        so are links to them."""
        conn = self.conn
        dims = conn.read(255, 255, sv_address("p2p_dims", alias=True), 2)
        width, height = dims[1], dims[0]
        ver = conn.version()
        boot = (ver["x"], ver["y"])
        words_per_col = (height + 7) // 8
        ops = [(boot[0], boot[1], 0, CMD.READ, (C.ROUTER_BASE + C.RTR_P2P_TABLE + 128 * x, 4 * words_per_col, 2), b"")
               for x in range(width)]
        cols = {}
        conn.pipeline(ops, lambda i, _rc, payload, _h: cols.__setitem__(i, payload), self.window)
        live = p2p_live_chips(b"".join(cols[x] for x in range(width)), width, height, 4 * words_per_col)
        infos = {}

        def got(i, rc, payload, hdr):
            if rc == C.RC.OK and len(payload) >= 36:
                infos[live[i]] = unpack_chip_info(payload)
        try:
            conn.pipeline([(x, y, 0, CMD.INFO, (0x5F,), b"") for (x, y) in live], got, self.window, check=False)
        except SCPTimeout:
            # One chip that does not answer must not hide the others: ask one by one.
            for i, (x, y) in enumerate(live):
                if (x, y) in infos:
                    continue
                try:
                    rc, payload, hdr = conn.send(x, y, 0, CMD.INFO, (0x5F,), check=False)
                    got(i, rc, payload, hdr)
                except SCPTimeout:
                    pass
        chips, wrap = {}, False
        for (x, y), info in infos.items():
            links = []
            for link in range(6):
                if not info["links"] & (1 << link):
                    continue
                dx, dy = LINK_DELTAS[link]
                nx, ny = x + dx, y + dy
                outside = not (0 <= nx < width and 0 <= ny < height)
                n = (nx % width, ny % height)
                other = infos.get(n)
                if other is not None and other["links"] & (1 << opposite(link)):
                    links.append(link)
                    wrap = wrap or outside
            ip = socket.inet_ntoa(info["ip"]) if info["eth_up"] and any(info["ip"]) else None
            chips[(x, y)] = ChipInfo(x, y, min(info["n_cores"], C.N_CORES), frozenset(links),
                                     info["parent_link"], (info["eth_x"], info["eth_y"]), ip,
                                     info["states"], info["largest_sdram"], info["largest_rtr"])
        machine = Machine(width, height, {xy: c.links for xy, c in chips.items()},
                          {xy: c.ip for xy, c in chips.items() if c.ip},
                          {xy: c.n_cores for xy, c in chips.items()}, wrap, self.version)
        if self.scamp_major < 4:            # no parent links in INFO: use the BFS tree SC&MP builds
            parents, _children = machine.spanning_tree(boot)
            for xy, c in chips.items():
                c.parent_link = parents.get(xy)
        self.machine = DiscoveredMachine(width, height, boot, chips, machine, self.scamp_version)
        return self.machine

    def _chip(self, x, y):
        if self.machine is not None and (x, y) not in self.machine.chips:
            raise TransceiverError("chip %d,%d is not in the machine (%d chips found)" % (x, y, len(self.machine)))
        return self.machine.chips[(x, y)] if self.machine else None

    def sv_value(self, x, y, name, cached=True):
        """An sv_t field of chip (x, y) (addresses fixed at boot are cached)."""
        key = (x, y, name)
        if cached and key in self._sv_cache:
            return self._sv_cache[key]
        v = field_value(SV, name, self.conn.read(x, y, sv_address(name), field_size(SV, name)))
        if cached:
            self._sv_cache[key] = v
        return v
