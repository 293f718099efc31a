"""Chip-to-chip services of a chip process (the ChipProcess part that talks to other
chips for the monitor): neighbour peeks/pokes, COUNT over a board or the machine, and
the broadcasts from the root (NN packets: flood fill FFS/FFCS/FFE and signals; FFD
blocks; signals), applied here and sent to every reachable chip in order."""
import asyncio

from ..protocol import constants as C
from ..protocol import words as W

PEEK_TIMEOUT = 1.0
COUNT_TIMEOUT = 1.0          # SpiNNMan waits 2 s for a COUNT reply; leave room under load


class ServicesMixin:
    async def peek(self, xy, addr, n, big=False):
        if xy == self.xy:
            return self.chip.memory.read(addr, n)
        token, fut = self._future()
        self.send(xy, "peek", token, self.xy, addr, n)
        return await self._await(token, fut, PEEK_TIMEOUT * (5 if big else 1))

    async def poke(self, xy, addr, data):
        if xy == self.xy:
            self.chip.memory.write(addr, data)
            return True
        token, fut = self._future()
        self.send(xy, "poke", token, self.xy, addr, bytes(data))
        return bool(await self._await(token, fut, PEEK_TIMEOUT))

    def _count_local(self, app_id, state, mask=0xFF):
        if not self.chip.booted:
            return 0
        return sum(1 for c in self.chip.cores.app_cores()
                   if (c.app_id & mask) == app_id and c.state == state)

    async def _count(self, chips, app_id, state, mask=0xFF):
        total, futs = 0, []
        for xy in chips:
            if xy == self.xy:
                total += self._count_local(app_id, state, mask)
                continue
            token, fut = self._future()
            futs.append((token, fut))
            self.send(xy, "count", token, self.xy, app_id, state, mask)
        complete = True
        if futs:
            done, _p = await asyncio.wait([f for _t, f in futs], timeout=COUNT_TIMEOUT)
            for token, fut in futs:
                if fut in done:
                    total += fut.result()
                else:
                    complete = False
                    self.futures.pop(token, None)
        return total, complete

    async def count_board(self, app_id, state):
        """CMD_COUNT: cores in ``state`` with ``app_id`` on every chip of this board."""
        if self.counting:
            return None
        self.counting = True
        try:
            eth = self.machine.nearest_ethernet(self.xy)
            return await self._count(self.machine.board_chips(eth), app_id, state)
        finally:
            self.counting = False

    async def count_machine(self, app_id, state, mask=0xFF):
        n, _complete = await self._count(self.machine.chips, app_id, state, mask)
        return n

    # ---- broadcasts: every chip of the machine, in order, this chip first
    def _broadcast(self, *msg):
        for xy in self.machine.chips:
            if xy != self.xy and xy in self.chip.reachable:
                self.send(xy, *msg)

    def _new_id(self):
        # (origin chip, count): the origin gathers the run's active set (scheduler.py)
        return (self.xy, next(self.signal_ids))

    def broadcast_nn(self, key, data):
        nid = self._new_id()
        self.handle_nn(key, data, nid)
        self._broadcast("nn", key, data, nid)

    def broadcast_ffd(self, fid, block, addr, data):
        self.handle_ffd(fid, block, addr, data)
        self._broadcast("ffd", fid, block, addr, bytes(data))

    def broadcast_signal(self, word):
        sid = self._new_id()
        self.apply_signal(word, sid)
        self._broadcast("signal", word, sid)

    def apply_signal(self, word, sig_id=None):
        if self.chip.booted:
            sig, app_mask, app_id = W.unpack_signal(word)
            self.chip.cores.signal(sig, app_mask, app_id)
            self.scheduler.check_tables()
            self.scheduler.after_signal(sig, sig_id)

    def handle_nn(self, key, data, nid=None):
        chip = self.chip
        if not chip.booted:
            return
        cmd = W.nn_command(key)
        flood = chip.flood
        if cmd == C.NN_SIG0:
            if data >> 28 == C.NN_SIG0_OP_SIGNAL:
                self.apply_signal(data & W.SIGNAL_WORD_BITS, nid)
        elif cmd == C.NN_FFS:
            flood_id, n_blocks = W.unpack_ffs(key)
            chip.flood = {"id": flood_id, "n_blocks": n_blocks, "blocks": set(), "mask": 0, "load": False}
        elif cmd == C.NN_FFCS:
            if chip.scamp_major >= 4 or W.in_region(data, chip.x, chip.y):
                flood["load"] = True
                flood["mask"] |= W.unpack_ffcs(key) & ~1
        elif cmd == C.NN_FFE:
            if flood["load"] and len(flood["blocks"]) >= flood["n_blocks"]:
                start = W.unpack_start(data)
                chip.cores.start_app((start.mask | flood["mask"]) & ~1, start.app_id, start.flags)
            chip.flood = {"id": None, "n_blocks": 0, "blocks": set(), "mask": 0, "load": False}

    def handle_ffd(self, fid, block, addr, data):
        if not self.chip.booted:
            return
        self.chip.memory.write(addr, data)
        self.chip.flood["blocks"].add(block)
