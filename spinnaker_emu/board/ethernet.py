"""The Ethernet side of a chip process (the ChipProcess part for its board's UDP
endpoints): boot (netinit), SCP from hosts (transient tags, relay to other chips over
the fabric, RC_ROUTE for absent chips), IP tags out and reverse IP tags in, and SDP
delivered to application cores (the runtime command of docs/RUNTIME.md)."""
import asyncio
import socket
import time
import traceback

from ..protocol import constants as C
from ..protocol import words as W
from ..protocol.boot import image_sv_bytes, image_version
from ..protocol.sdp import SDPHeader, reply_header, scp_reply_data
from .chiplog import log

BOOT_ACK_TIMEOUT = 10.0


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


class EthernetMixin:
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
        futs = {}
        for xy in self.machine.chips:
            if xy == self.xy:
                continue
            fut = self.loop.create_future()
            self.futures[("boot", xy)] = fut
            futs[fut] = xy
            self.send(xy, "boot", sv, version, self.root, self.xy)
        if futs:
            _done, pending = await asyncio.wait(futs, timeout=BOOT_ACK_TIMEOUT)
            if pending:
                log("board %s: %d chips did not come up within %.0f s: %s" % (
                    self.chip.ip, len(pending), BOOT_ACK_TIMEOUT,
                    " ".join("%d,%d" % futs[f] for f in sorted(pending, key=futs.get))))
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
