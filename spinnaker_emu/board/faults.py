"""Injected packet loss, a per-board fault setting for people testing host tools
(this machine's kernel has no netem): a share of the SCP and bulk datagrams a board's
Ethernet chip receives and sends, and of the SCP requests and replies that cross an
inter-board link, is dropped. Boot packets are never dropped (a lost one fails the
ROM loader's boot for good, not a retry). Hosts are expected to retry, as SpiNNMan
and our transceiver do.

    boards/*.toml:     [faults] udp_loss = 0.05   link_loss = 0.05
    host/cluster.toml: a board's table: udp_loss = 0.05, link_loss = 0.05
"""
import random

FAULT_KEYS = ("udp_loss", "link_loss")


def check(faults, where="faults"):
    """{key: probability} validated: known keys, numbers in [0, 0.9]."""
    out = {}
    for k, v in dict(faults or {}).items():
        if k not in FAULT_KEYS:
            raise ValueError("%s: unknown fault %r (known: %s)" % (where, k, ", ".join(FAULT_KEYS)))
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 0.9:
            raise ValueError("%s: %s must be a probability from 0 to 0.9, got %r" % (where, k, v))
        out[k] = float(v)
    return out


class Faults:
    def __init__(self, udp_loss=0.0, link_loss=0.0, seed=None):
        self.udp_loss, self.link_loss = udp_loss, link_loss
        self.rng = random.Random(seed)
        self.dropped = {"udp": 0, "link": 0}

    def drop_udp(self):
        if self.udp_loss and self.rng.random() < self.udp_loss:
            self.dropped["udp"] += 1
            return True
        return False

    def drop_link(self):
        if self.link_loss and self.rng.random() < self.link_loss:
            self.dropped["link"] += 1
            return True
        return False


class LossyTransport:
    """A datagram transport whose sendto drops a share of what it sends."""

    def __init__(self, transport, faults):
        self.transport, self.faults = transport, faults

    def sendto(self, data, addr):
        if not self.faults.drop_udp():
            self.transport.sendto(data, addr)

    def close(self):
        self.transport.close()
