"""Fixed-route packets through a chip's router to its ARM cores and links.

The router holds a packet its destination core cannot take (back-pressure), as on
hardware, rather than dropping it: packets wait per core, in order, for room in the
core's receive FIFO, and move in at the start of each quantum. sPyNNaker's fast data
out streams a whole SDRAM region as fixed-route packets from an extra monitor to the
gatherer, which sends one SDP message per 68 words and, while it waits for the monitor
to take each message, reads no packets; a dropped word would shift the data inside a
message the host takes as complete.
"""
import collections

from ...protocol import constants as C
from .comms import FR

MAX_WAITING = 1 << 20           # packets held per core before the router drops (a core that stopped reading)


class FixedRoutes:
    def __init__(self, engine):
        self.engine = engine
        self.waiting = {}              # core -> deque of (key, payload)

    def route(self, key, payload):
        """One packet, by the router's fixed route word: to cores of this chip, held
        while a core's FIFO is full, and over links to the neighbours."""
        engine = self.engine
        route = engine.chip.router.fixed_route
        for p in range(C.N_CORES):
            if route >> (6 + p) & 1:
                arm = engine.cores.get(p)
                if arm is None:
                    continue
                waiting = self.waiting.get(p)
                if waiting or not arm.comms.room():
                    if waiting is None:
                        waiting = self.waiting[p] = collections.deque()
                    if len(waiting) < MAX_WAITING:
                        waiting.append((key, payload))
                    else:
                        arm.comms.dropped += 1
                else:
                    arm.comms.receive(FR, key, payload)
                arm.mark_dirty()
        for link in range(C.N_LINKS):
            if route & (1 << link) and engine.proc is not None:
                nb = engine.chip.machine.neighbour(engine.chip.xy, link)
                if nb is not None and nb in engine.chip.machine.links:
                    engine.proc.send(nb, "fr", key, payload)

    def release(self):
        """Move held packets into their cores' FIFOs as room allows."""
        for p, waiting in list(self.waiting.items()):
            arm = self.engine.cores.get(p)
            if arm is None or arm.halted:
                del self.waiting[p]
                continue
            room = arm.comms.room()
            while waiting and room:
                key, payload = waiting.popleft()
                arm.comms.receive(FR, key, payload)
                room -= 1
            arm.mark_dirty()
            if not waiting:
                del self.waiting[p]
