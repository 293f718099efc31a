"""The chip process: an asyncio loop around one Chip, its fabric socket and, on
an Ethernet chip, the board's UDP endpoints (SCP 17893, boot 54321, reverse IP
tags). A chip with nothing to do blocks in epoll and costs no CPU.

The fabric's message kinds and their fields are protocol/fabric.py's KINDS table;
``_fabric_handlers`` maps each kind to its handler here. The parts of the process
live along their seams: ethernet.py (UDP endpoints, boot, SCP relay, IP tags, SDP to
cores), services.py (peeks, counts, broadcasts, flood fill), monitor.py (SCP
handlers), scheduler.py (ticks, lockstep, multicast).
"""
import asyncio
import collections
import itertools
import os
import signal as os_signal
import traceback

import zmq

from ..protocol import fabric as codec
from ..protocol.boot import BootAssembler
from ..protocol.sdp import SDPMessage, SCPRequest, ProtocolError, reply_header, scp_reply_data
from . import bulk, fabric
from .chip import Chip
from .chiplog import log
from .ethernet import EthernetMixin, _UDP
from .faults import Faults
from .monitor import Monitor
from .scheduler import Scheduler
from .services import ServicesMixin

# What injected link loss may drop: SCP relayed between boards, which hosts retry.
# (Multicast batches and lockstep markers carry no retry: losing one would hang a run,
# where hardware would count a dropped packet.)
LOSSY_KINDS = ("scp", "scp_reply")


class ChipProcess(EthernetMixin, ServicesMixin):
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
        self.reverse_socks = {}             # tag -> transport
        self.transports = {}
        self.stopping = None
        self.chip.scheduler = self.scheduler = Scheduler(self)
        self.chip.proc = self
        self.chip.arm.proc = self
        self.transient_tags = {}            # Ethernet: transient tag -> reply address
        self.signal_ids = itertools.count(1)
        self.fabric_handlers = self._fabric_handlers()

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
    def _fabric_handlers(self):
        """Fabric kind (protocol/fabric.py's KINDS) -> handler of its fields."""
        def later(coro_fn):
            return lambda *f: asyncio.ensure_future(coro_fn(*f))

        def bulk_kind(kind):
            return lambda *f: bulk.on_fabric(self, (kind,) + f)
        return {
            "scp": later(self._relayed_scp),
            "scp_reply": self.on_scp_reply,
            "peek": self._on_peek,
            "peek_reply": self._resolve,
            "poke": self._on_poke,
            "poke_reply": self._resolve,
            "count": self._on_count,
            "count_reply": self._resolve,
            "booted": lambda xy: self._resolve(("boot", xy), True),
            "boot": self._on_boot,
            "mc": lambda *f: self.scheduler.on_mc(*f),
            "ls_hello": lambda *f: self.scheduler.on_hello(*f),
            "ls_active": lambda *f: self.scheduler.on_active(*f),
            "rtr_table": lambda xy, entries: self.scheduler.set_table(xy, entries),
            "rtr_stats": lambda diag, links: self.scheduler.on_stats(diag, links),
            "nn": self.handle_nn,
            "ffd": self.handle_ffd,
            "signal": self.apply_signal,
            "sdp_in": self.deliver_raw_sdp,
            "sdp_out": self.send_to_host,
            "fr": lambda key, payload: self.chip.arm.fixed_route(key, payload),
            "bulk_write": bulk_kind("bulk_write"),
            "bulk_read": bulk_kind("bulk_read"),
            "bulk_ack": bulk_kind("bulk_ack"),
            "bulk_data": bulk_kind("bulk_data"),
            "bulk_error": bulk_kind("bulk_error"),
            "stop": lambda: self.stopping.set(),
        }

    def on_fabric(self, msg):
        self.fabric_handlers[msg[0]](*msg[1:])

    def _on_peek(self, token, origin, addr, n):
        self.send(origin, "peek_reply", token, self.chip.memory.read(addr, n) if self.chip.booted else None)

    def _on_poke(self, token, origin, addr, data):
        if self.chip.booted:
            self.chip.memory.write(addr, data)
        self.send(origin, "poke_reply", token, self.chip.booted)

    def _on_count(self, token, origin, app_id, state, mask):
        self.send(origin, "count_reply", token, self._count_local(app_id, state, mask))

    def _on_boot(self, sv, version, root, origin):
        self.do_boot(sv, version, root)
        self.send(origin, "booted", self.xy)

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
        try:
            result = await self.monitor.execute(hdr, req, host_ip)
        except Exception:
            log("chip %s: internal error executing SCP %d:\n%s" % (self.xy, req.cmd, traceback.format_exc()))
            return None
        self.scheduler.check_tables()
        if result is None or not hdr.reply_expected:
            return None
        rc, payload = result
        return reply_header(hdr, self.chip.x, self.chip.y).pack() + scp_reply_data(rc, req.seq, payload)


