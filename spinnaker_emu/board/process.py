"""The chip process: an asyncio loop around one Chip, its fabric socket and, on
an Ethernet chip, the board's UDP endpoints (SCP 17893, boot 54321, reverse IP
tags). A chip with nothing to do blocks in epoll and costs no CPU.

Message kinds on the fabric (see fabric.py):
  scp(token, origin, sdp, host_ip) -> scp_reply(token, sdp)     SCP relayed over "P2P"
  peek(token, origin, addr, n) -> peek_reply(token, data)        link / neighbour reads
  poke(token, origin, addr, data) -> poke_reply(token, ok)
  count(token, origin, app, state, mask) -> count_reply(token, n)
  nn(key, data), ffd(id, block, addr, data), signal(word)        broadcasts from the root
  boot(sv, version, root, origin) -> booted(xy)
  sdp_in(sdp)   an SDP message for an application core (from a reverse IP tag)
  sdp_out(sdp)  an SDP message leaving the machine through an IP tag
  stop()
"""
import asyncio
import collections
import itertools
import os
import signal as os_signal
import socket
import sys
import time
import traceback

import zmq

from ..protocol import constants as C
from ..protocol import fabric as codec
from ..protocol import words as W
from ..protocol.boot import BootAssembler, image_sv_bytes, image_version
from ..protocol.sdp import (SDPHeader, SDPMessage, SCPRequest, ProtocolError, reply_header,
                            scp_reply_data)
from . import bulk, fabric
from .chip import Chip
from .faults import Faults
from .monitor import Monitor
from .scheduler import Scheduler

PEEK_TIMEOUT = 1.0
COUNT_TIMEOUT = 1.0          # SpiNNMan waits 2 s for a COUNT reply; leave room under load
BOOT_ACK_TIMEOUT = 10.0
# What injected link loss may drop: SCP relayed between boards, which hosts retry.
# (Multicast batches and lockstep markers carry no retry: losing one would hang a run,
# where hardware would count a dropped packet.)
LOSSY_KINDS = ("scp", "scp_reply")


def log(*a):
    print("[%s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, handler):
        self.handler = handler

    def datagram_received(self, data, addr):
        try:
            self.handler(data, addr)
        except Exception:            # no datagram may kill the chip
            log("error handling datagram from %s:\n%s" % (addr, traceback.format_exc()))

    def error_received(self, exc):
        pass


class ChipProcess:
    def __init__(self, xy, machine, run_dir, ip=None, udp_socks=None, ready_fd=None, clock=None,
                 endpoints=None, faults=None):
        self.ready_fd = ready_fd
        self.faults = faults or Faults()     # injected packet loss (board/faults.py)
        self.endpoints = endpoints or fabric.Endpoints(run_dir, machine)
        self.chip = Chip(xy, machine, ip, clock)
        self.machine = machine
        self.run_dir = run_dir
        self.monitor = Monitor(self.chip, self)
        self.udp_socks = udp_socks or {}
        self.tokens = itertools.count(1)
        self.futures = {}
        self.pushes = {}
        self.backlog = {}                   # chip -> messages its full queue could not take
        self.pending = {}                   # Ethernet: token -> (reply address, time)
        self.boot = BootAssembler()
        self.boot_started = False
        self.boot_complete = False
        self.root = (0, 0)
        self.next_transient = 0
        self.counting = False
        self.current_host_ip = b"\0\0\0\0"
        self.reverse_socks = {}             # tag -> transport
        self.transports = {}
        self.stopping = None
        self.chip.scheduler = self.scheduler = Scheduler(self)
        self.chip.proc = self
        self.chip.arm.proc = self
        self.transient_tags = {}            # Ethernet: transient tag -> reply address
        self.signal_ids = itertools.count(1)

    @property
    def xy(self):
        return self.chip.xy

    # ================================================================ main loop
    def run(self):
        try:
            asyncio.run(self.main())
        except KeyboardInterrupt:
            pass

    async def main(self):
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        for sig in (os_signal.SIGTERM, os_signal.SIGINT):
            self.loop.add_signal_handler(sig, self.stopping.set)
        # Plain (not zmq.asyncio) sockets: the PULL socket's fd sits in the event loop
        # and is drained with non-blocking receives; sends never wait. pyzmq's asyncio
        # futures cost ~0.3 ms of CPU per lockstep tick and message (py-spy, 4-chip ring).
        self.ctx = zmq.Context()
        self.pull = fabric.tune(self.ctx.socket(zmq.PULL))
        for endpoint in self.endpoints.binds(self.xy):
            self.pull.bind(endpoint)
        self.loop.add_reader(self.pull.getsockopt(zmq.FD), self.drain_fabric)
        if self.chip.is_ethernet:
            scp, boot = self.udp_socks["scp"], self.udp_socks["boot"]
            self.transports["scp"], _ = await self.loop.create_datagram_endpoint(
                lambda: _UDP(self.on_scp_datagram), sock=scp)
            self.transports["boot"], _ = await self.loop.create_datagram_endpoint(
                lambda: _UDP(self.on_boot_datagram), sock=boot)
            await bulk.start_endpoint(self)        # emulator bulk port 17894 (docs/BULK.md)
        if self.ready_fd is not None:          # tell the supervisor we are listening
            os.write(self.ready_fd, b"%d %d\n" % self.xy)
            os.close(self.ready_fd)
        self.drain_fabric()
        await self.stopping.wait()
        self.loop.remove_reader(self.pull.getsockopt(zmq.FD))
        for t in self.transports.values():
            t.close()
        for t in self.reverse_socks.values():
            t.close()
        self.ctx.destroy(linger=0)

    def drain_fabric(self, budget=256):
        """Handle what the PULL socket holds. ZeroMQ's fd is edge-triggered, so read
        until EAGAIN; after ``budget`` messages yield to the loop and come back."""
        for _ in range(budget):
            try:
                raw = self.pull.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                msg = codec.decode(raw)
            except codec.FabricFormatError as e:     # malformed: dropped, one line
                log("chip %s: dropped a fabric message: %s" % (self.xy, e))
                continue
            try:
                self.on_fabric(msg)
            except Exception:
                log("chip %s: error on fabric message:\n%s" % (self.xy, traceback.format_exc()))
        self.loop.call_soon(self.drain_fabric)

    def send(self, xy, *msg):
        if self.faults.link_loss and msg[0] in LOSSY_KINDS and self.faults.drop_link() \
                and self.machine.board_of.get(xy) != self.machine.board_of.get(self.xy):
            return                            # lost on an inter-board link (faults.py)
        sock = self.pushes.get(xy)
        if sock is None:
            sock = fabric.tune(self.ctx.socket(zmq.PUSH))
            sock.connect(self.endpoints.connect(xy))
            self.pushes[xy] = sock
        raw = codec.encode(*msg)
        queue = self.backlog.get(xy)
        if queue is not None:
            queue.append(raw)                 # behind earlier messages: keep the order
            return
        try:
            sock.send(raw, zmq.NOBLOCK)
        except zmq.Again:
            # The peer's queue is full (it is far behind, or dead): never block the chip.
            # Hold the message here; the tick loop waits while anything is held.
            self.backlog[xy] = collections.deque([raw])
            self.loop.call_later(0.002, self._flush_backlog, xy)

    def _flush_backlog(self, xy):
        queue, sock = self.backlog.get(xy), self.pushes[xy]
        while queue:
            try:
                sock.send(queue[0], zmq.NOBLOCK)
            except zmq.Again:
                self.loop.call_later(0.005, self._flush_backlog, xy)
                return
            queue.popleft()
        self.backlog.pop(xy, None)

    def _future(self):
        token = next(self.tokens)
        fut = self.loop.create_future()
        self.futures[token] = fut
        return token, fut

    def _resolve(self, token, value):
        fut = self.futures.pop(token, None)
        if fut is not None and not fut.done():
            fut.set_result(value)

    async def _await(self, token, fut, timeout):
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self.futures.pop(token, None)
            return None

    # ================================================================ fabric in
    def on_fabric(self, msg):
        kind = msg[0]
        if kind == "scp":
            _k, token, origin, sdp, host_ip = msg
            asyncio.ensure_future(self._relayed_scp(token, origin, sdp, host_ip))
        elif kind == "scp_reply":
            self.on_scp_reply(msg[1], msg[2])
        elif kind == "peek":
            _k, token, origin, addr, n = msg
            self.send(origin, "peek_reply", token, self.chip.memory.read(addr, n) if self.chip.booted else None)
        elif kind == "poke":
            _k, token, origin, addr, data = msg
            if self.chip.booted:
                self.chip.memory.write(addr, data)
            self.send(origin, "poke_reply", token, self.chip.booted)
        elif kind in ("peek_reply", "poke_reply", "count_reply"):
            self._resolve(msg[1], msg[2])
        elif kind == "booted":
            self._resolve(("boot", msg[1]), True)
        elif kind == "count":
            _k, token, origin, app_id, state, mask = msg
            self.send(origin, "count_reply", token, self._count_local(app_id, state, mask))
        elif kind == "mc":
            self.scheduler.on_mc(*msg[1:])
        elif kind == "ls_hello":
            self.scheduler.on_hello(*msg[1:])
        elif kind == "ls_active":
            self.scheduler.on_active(*msg[1:])
        elif kind == "rtr_table":
            self.scheduler.set_table(msg[1], msg[2])
        elif kind == "rtr_stats":
            self.scheduler.on_stats(msg[1], msg[2])
        elif kind == "nn":
            self.handle_nn(msg[1], msg[2], msg[3])
        elif kind == "ffd":
            self.handle_ffd(*msg[1:])
        elif kind == "signal":
            self.apply_signal(msg[1], msg[2])
        elif kind == "boot":
            _k, sv, version, root, origin = msg
            self.do_boot(sv, version, root)
            self.send(origin, "booted", self.xy)
        elif kind == "sdp_in":
            self.deliver_raw_sdp(msg[1])
        elif kind == "sdp_out":
            self.send_to_host(msg[1])
        elif kind == "fr":
            self.chip.arm.fixed_route(msg[1], msg[2])
        elif kind.startswith("bulk"):
            bulk.on_fabric(self, msg)
        elif kind == "stop":
            self.stopping.set()

    async def _relayed_scp(self, token, origin, sdp, host_ip):
        reply = await self.execute_sdp(sdp, host_ip)
        if reply is not None:
            self.send(origin, "scp_reply", token, reply)

    # ================================================================ SCP execution
    async def execute_sdp(self, sdp, host_ip=b"\0\0\0\0"):
        """Execute an SCP request held in SDP bytes; return the reply SDP bytes or None."""
        if not self.chip.booted:
            return None
        try:
            msg = SDPMessage.from_bytes(sdp)
            req = SCPRequest.unpack(msg.data)
        except ProtocolError:
            return None
        hdr = msg.header
        self.current_host_ip = host_ip
        try:
            result = await self.monitor.execute(hdr, req)
        except Exception:
            log("chip %s: internal error executing SCP %d:\n%s" % (self.xy, req.cmd, traceback.format_exc()))
            return None
        self.scheduler.check_tables()
        if result is None or not hdr.reply_expected:
            return None
        rc, payload = result
        return reply_header(hdr, self.chip.x, self.chip.y).pack() + scp_reply_data(rc, req.seq, payload)

    # ================================================================ Ethernet
    def on_boot_datagram(self, data, addr):
        if self.boot_started:
            return                     # a booted board no longer runs the ROM loader
        image = self.boot.feed(data)
        if image is not None:
            self.boot_started = True
            asyncio.ensure_future(self.boot_machine(image))

    async def boot_machine(self, image):
        """Netinit: bring every chip of the machine up with the sv values the host sent."""
        version = image_version(image)
        sv = image_sv_bytes(image)
        self.root = self.xy
        log("board %s: booting SC&MP %s" % (self.chip.ip, version))
        self.do_boot(sv, version, self.root)
        futs = []
        for xy in self.machine.chips:
            if xy == self.xy:
                continue
            fut = self.loop.create_future()
            self.futures[("boot", xy)] = fut
            futs.append(fut)
            self.send(xy, "boot", sv, version, self.root, self.xy)
        if futs:
            done, _pending = await asyncio.wait(futs, timeout=BOOT_ACK_TIMEOUT)
            if len(done) < len(futs):
                log("board %s: %d chips did not come up" % (self.chip.ip, len(futs) - len(done)))
        self.boot_complete = True
        log("board %s: booted (%d chips)" % (self.chip.ip, len(self.machine.chips)))

    def do_boot(self, sv, version, root):
        self.root = root
        self.chip.boot(sv, version, root)
        self.scheduler.adopt_boot_table()
        if self.chip.is_ethernet:
            self.boot_started = True
            if root != self.xy:
                self.boot_complete = True
        else:
            self.boot_complete = True

    def _udp_send(self, data, addr):
        if not self.faults.drop_udp():
            self.transports["scp"].sendto(data, addr)

    def on_scp_datagram(self, data, addr):
        if self.faults.udp_loss and self.faults.drop_udp():
            return
        if not self.boot_started:
            return                      # an unbooted board silently ignores SCP
        if len(data) > C.MAX_SCP_UDP or len(data) < C.UDP_PAD + C.SDP_HEADER_LEN + C.SCP_HEADER_LEN:
            return
        hdr = SDPHeader.unpack(data, C.UDP_PAD)
        reply_to = addr
        if hdr.reply_expected:
            if hdr.tag == C.TAG_NONE:
                hdr.tag = C.N_FIXED_TAGS + self.next_transient
                self.next_transient = (self.next_transient + 1) % C.N_POOL_TAGS
                self.transient_tags[hdr.tag] = reply_to       # SARK on a core replies through it
            else:
                tag = self.chip.tags.get(hdr.tag)
                if tag and not tag["reverse"] and tag.get("tx_port"):
                    reply_to = (socket.inet_ntoa(tag["ip"]), tag["tx_port"])
        if hdr.dest_port == 7 and hdr.dest_cpu == 31:
            return
        hdr.srce_x, hdr.srce_y = self.chip.x, self.chip.y
        dest = hdr.dest_addr
        if dest == C.ROOT_ADDR:
            dest = (self.root[0] << 8) | self.root[1]
            hdr.dest_x, hdr.dest_y = dest >> 8, dest & 0xFF
        target = (dest >> 8, dest & 0xFF)
        sdp = hdr.pack() + bytes(data[C.UDP_PAD + C.SDP_HEADER_LEN:])
        host_ip = socket.inet_aton(addr[0])
        if not self.boot_complete:
            # During netinit only VER is answered, with P2P address 0xFFFF.
            if len(data) >= 14 and data[10] == C.SCPCommand.VER and data[11] == 0 and hdr.reply_expected:
                asyncio.ensure_future(self._local_scp(sdp, reply_to, host_ip))
            return
        if target == self.xy:
            asyncio.ensure_future(self._local_scp(sdp, reply_to, host_ip))
        elif target in self.machine.links and target in self.chip.reachable:
            token = next(self.tokens)
            if hdr.reply_expected:
                self._prune_pending()
                self.pending[token] = (reply_to, time.monotonic())
            self.send(target, "scp", token, self.xy, sdp, host_ip)
        elif hdr.reply_expected:
            seq = data[12:14]
            reply = reply_header(hdr, self.chip.x, self.chip.y).pack() + \
                scp_reply_data(C.RC.ROUTE, int.from_bytes(seq, "little") if len(seq) == 2 else 0)
            self._udp_send(b"\0\0" + reply, reply_to)

    async def _local_scp(self, sdp, reply_to, host_ip):
        reply = await self.execute_sdp(sdp, host_ip)
        if reply is not None:
            self._udp_send(b"\0\0" + reply, reply_to)

    def on_scp_reply(self, token, reply):
        entry = self.pending.pop(token, None)
        if entry is not None and "scp" in self.transports:
            self._udp_send(b"\0\0" + reply, entry[0])

    def _prune_pending(self):
        if len(self.pending) > 4096:
            cutoff = time.monotonic() - 30
            for tok in [t for t, (_a, ts) in self.pending.items() if ts < cutoff]:
                del self.pending[tok]

    def requester_ip(self, hdr):
        return self.current_host_ip

    def requester_address(self, hdr):
        """(ip, port) of the host a request came from, through its transient reply tag
        (None when the request arrived otherwise)."""
        return self.transient_tags.get(hdr.tag)

    # ---- IP tags (board -> host) and reverse IP tags (host -> board)
    def send_to_host(self, sdp):
        """An SDP message with dest port PORT_ETH leaves through its IP tag."""
        eth = self.machine.nearest_ethernet(self.xy)
        if eth != self.xy:
            self.send(eth, "sdp_out", sdp)
            return
        hdr = SDPHeader.unpack(sdp)
        tag = self.chip.tags.get(hdr.tag)
        if tag is None and hdr.tag in self.transient_tags and "scp" in self.transports:
            self._udp_send(b"\0\0" + sdp, self.transient_tags[hdr.tag])
            return
        if tag is None or tag["reverse"] or not tag.get("tx_port") or "scp" not in self.transports:
            return
        tag["count"] += 1
        payload = sdp[C.SDP_HEADER_LEN:] if tag["strip"] else b"\0\0" + sdp
        self._udp_send(payload, (socket.inet_ntoa(tag["ip"]), tag["tx_port"]))

    def reverse_tag_changed(self, tag, entry):
        """Bind (or release) the UDP port of a reverse IP tag. False if it cannot be bound."""
        if not self.chip.is_ethernet:
            return True
        old = self.reverse_socks.pop(tag, None)
        if old is not None:
            old.close()
        if entry is None:
            return True
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((self.chip.ip, entry["rx_port"]))
        except OSError as e:
            log("board %s: reverse IP tag %d: cannot bind port %d: %s" % (self.chip.ip, tag, entry["rx_port"], e))
            s.close()
            return False
        s.setblocking(False)

        def on_datagram(data, addr, tag=tag, entry=entry):
            self._reverse_tag_input(tag, entry, data, addr)

        async def attach():
            tr, _ = await self.loop.create_datagram_endpoint(lambda: _UDP(on_datagram), sock=s)
            self.reverse_socks[tag] = tr
        asyncio.ensure_future(attach())
        return True

    def _reverse_tag_input(self, tag, entry, data, addr):
        entry["ip"] = socket.inet_aton(addr[0])
        entry["tx_port"] = addr[1]
        entry["count"] += 1
        dpc = entry["dest_port_cpu"]
        hdr = SDPHeader(flags=C.SDP_FLAGS_NO_REPLY, tag=tag, dest_port=dpc >> 5, dest_cpu=dpc & 31,
                        srce_port=7, srce_cpu=31, dest_x=entry["dest_x"], dest_y=entry["dest_y"],
                        srce_x=self.chip.x, srce_y=self.chip.y)
        sdp = hdr.pack() + bytes(data[:272])
        target = (entry["dest_x"], entry["dest_y"])
        if target == self.xy:
            self.deliver_raw_sdp(sdp)
        elif target in self.machine.links:
            self.send(target, "sdp_in", sdp)

    def deliver_raw_sdp(self, sdp):
        hdr = SDPHeader.unpack(sdp)
        if hdr.dest_port == 0 or hdr.dest_cpu >= self.chip.n_cores:
            return
        self.deliver_sdp(hdr.dest_cpu, hdr, sdp)

    def deliver_sdp(self, cpu, hdr, req_or_sdp):
        core = self.chip.cores.cores[cpu]
        if core.kernel is None:
            return
        sdp = req_or_sdp if isinstance(req_or_sdp, (bytes, bytearray)) else hdr.pack() + req_or_sdp.pack(len(req_or_sdp.args))
        command = W.unpack_sim_command(sdp[C.SDP_HEADER_LEN:])
        if hdr.dest_port == W.RUNNING_COMMAND_PORT and core.sim is not None and command is not None:
            if command.cmd == W.CMD_RUNTIME:
                n = command.n_ticks
                core.set_run_length(None if (command.infinite or n == W.RUN_FOREVER) else n)
                return
            if command.cmd == W.CMD_STOP:
                core.exit(0)
                return
        try:
            core.kernel.on_sdp(bytes(sdp))
        except Exception as e:
            core.rte(C.RTECode.SWERR, "spinnaker-emu: kernel error in SDP handler: %r" % (e,))

    # ================================================================ chip-to-chip services
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

