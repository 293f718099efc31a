"""The SC&MP monitor: executes SCP commands addressed to a chip.

``Monitor.execute`` takes a decoded SDP header and SCP request and returns
(rc, payload) or None (no reply). Commands that involve other chips (flood
fill, signals, COUNT, link peeks, APP_COPY_RUN) go through the chip process's
fabric (``self.proc``).

Error codes: SC&MP 4.0.0 sends handler-level errors (bad arguments, unknown
commands) through return_msg_ok, which overwrites the code with RC_OK; we
reproduce that for 4.x images (raise HandlerError) and report the real code
for 3.x images. Routing-level errors are always reported.
"""
import socket
import struct
import traceback

from ..protocol import constants as C
from ..protocol.constants import SCPCommand as CMD, RC, CPUState, Signal
from ..protocol.sdp import pack_args
from ..protocol.structs import pack_version, pack_chip_info, pack_iptag, RTR_ENTRY
from ..protocol import words as W
from .chiplog import log

SARK_SCP = {CMD.VER, CMD.READ, CMD.WRITE, CMD.FILL}


class HandlerError(Exception):
    def __init__(self, rc):
        super().__init__(rc)
        self.rc = rc


def _cmd_name(cmd):
    return CMD(cmd).name if cmd in CMD._value2member_map_ else str(cmd)


def _arg(ok):
    if not ok:
        raise HandlerError(RC.ARG)


class Monitor:
    def __init__(self, chip, proc):
        self.chip = chip
        self.proc = proc
        self.handlers = {
            CMD.VER: self.cmd_ver, CMD.READ: self.cmd_read, CMD.WRITE: self.cmd_write,
            CMD.FILL: self.cmd_fill, CMD.COUNT: self.cmd_count, CMD.REMAP: self.cmd_remap,
            CMD.LINK_READ: self.cmd_link_read, CMD.LINK_WRITE: self.cmd_link_write,
            CMD.AR: self.cmd_ar, CMD.AS: self.cmd_as, CMD.NNP: self.cmd_nnp,
            CMD.APP_COPY_RUN: self.cmd_app_copy_run, CMD.SIG: self.cmd_sig, CMD.FFD: self.cmd_ffd,
            CMD.LED: self.cmd_led, CMD.IPTAG: self.cmd_iptag, CMD.ALLOC: self.cmd_alloc,
            CMD.RTR: self.cmd_rtr, CMD.INFO: self.cmd_info, CMD.SYNC: self.cmd_sync,
        }
        # Commands SC&MP 3.1.0 does not have
        self.v4_only = {CMD.COUNT, CMD.APP_COPY_RUN, CMD.SYNC}

    async def execute(self, hdr, req, host_ip=b"\0\0\0\0"):
        """``host_ip``: the address of the host the request came from (IPTAG SET with
        IP 0 points the tag there)."""
        chip = self.chip
        cpu = hdr.dest_cpu
        if cpu >= chip.n_cores:
            return RC.CPU, b""
        if cpu != 0 and chip.cores.cores[cpu].state == CPUState.DEAD:
            return RC.DEAD, b""
        if hdr.dest_port != 0:
            if cpu == 0:
                return RC.PORT, b""
            # An SDP message for an application core: no SCP reply from SARK.
            self.proc.deliver_sdp(cpu, hdr, req)
            return None
        if cpu != 0 and chip.cores.cores[cpu].arm is not None:
            # SARK on the core answers its own SCP (VER, READ, WRITE, FILL).
            self.proc.deliver_sdp(cpu, hdr, req)
            return None
        if len(req.args) < 3:
            return RC.LEN, b""
        try:
            if cpu != 0 and req.cmd not in SARK_SCP:
                raise HandlerError(RC.CMD)
            handler = self.handlers.get(req.cmd)
            if handler is None or (req.cmd in self.v4_only and chip.scamp_major < 4):
                raise HandlerError(RC.CMD)
            result = handler(hdr, req, host_ip) if req.cmd == CMD.IPTAG else handler(hdr, req)
            if hasattr(result, "__await__"):
                result = await result
            return result
        except HandlerError as e:
            if chip.scamp_major >= 4:
                return RC.OK, b""
            return e.rc, b""
        except Exception:
            # A bug of ours, not the host's: answer at once (RC_CMD) rather than leave the
            # host to time out five times, and say what happened in the board's log.
            log("chip %s: error in the handler of SCP %s (answered RC_CMD):\n%s"
                % (chip.xy, _cmd_name(req.cmd), traceback.format_exc()))
            return RC.CMD, b""

    # ----------------------------------------------------------- memory
    def cmd_ver(self, hdr, req):
        chip = self.chip
        cpu = hdr.dest_cpu
        p2p = chip.p2p_addr if self.proc.boot_complete else 0xFFFF
        name = C.SCAMP_NAME if cpu == 0 else C.SARK_NAME
        return RC.OK, pack_version(cpu, cpu, p2p, name, C.HARDWARE_NAME, chip.version,
                                   build_date=int(chip.boot_time))

    def _check_rw(self, req):
        _arg(1 <= req.arg2 <= C.SDP_BUF_SIZE and req.arg3 <= 2)

    def cmd_read(self, hdr, req):
        self._check_rw(req)
        self.chip.refresh_clock()
        return RC.OK, self.chip.memory.read(req.arg1, req.arg2, hdr.dest_cpu)

    def cmd_write(self, hdr, req):
        self._check_rw(req)
        data = req.data[:req.arg2]
        self.chip.memory.write(req.arg1, data, hdr.dest_cpu)
        _arg(len(data) == req.arg2)
        return RC.OK, b""

    def cmd_fill(self, hdr, req):
        _arg(req.arg1 % 4 == 0 and req.arg3 % 4 == 0)
        addr, n = req.arg1, req.arg3
        # Clip to the region the address is in so a huge length cannot exhaust memory.
        region = self.chip.memory._region(addr, hdr.dest_cpu)
        if region is not None:
            n = min(n, region[2])
            self.chip.memory.fill(addr, req.arg2, n, hdr.dest_cpu)
        return RC.OK, b""

    def cmd_remap(self, hdr, req):
        core = req.arg1
        _arg(0 < core < self.chip.n_cores)
        self.chip.cores.cores[core].set_state(CPUState.DEAD)
        return RC.OK, b""

    def _link_target(self, req):
        _arg(req.arg1 % 4 == 0 and req.arg2 <= C.SDP_BUF_SIZE and req.arg2 % 4 == 0 and req.arg3 <= 5)
        link = req.arg3
        if link not in self.chip.links:
            return None
        return self.chip.machine.neighbour(self.chip.xy, link)

    async def cmd_link_read(self, hdr, req):
        target = self._link_target(req)
        data = None if target is None else await self.proc.peek(target, req.arg1, req.arg2)
        if data is None:
            return RC.TIMEOUT, b""
        return RC.OK, data

    async def cmd_link_write(self, hdr, req):
        target = self._link_target(req)
        ok = target is not None and await self.proc.poke(target, req.arg1, req.data[:req.arg2])
        return (RC.OK, b"") if ok else (RC.TIMEOUT, b"")

    # ----------------------------------------------------------- applications
    def cmd_ar(self, hdr, req):
        start = W.unpack_start(req.arg1)
        _arg(not start.mask & 1)
        self.chip.cores.start_app(start.mask, start.app_id, start.flags)
        return RC.OK, b""

    def cmd_as(self, hdr, req):
        start = W.unpack_start(req.arg2)
        _arg(not start.mask & 1)
        self.chip.cores.start_app(start.mask, start.app_id, start.flags, image_addr=req.arg1)
        return RC.OK, b""

    async def cmd_app_copy_run(self, hdr, req):
        link = req.arg1 & 7
        checksum = req.arg1 >> 3
        size = req.arg2
        _arg(link <= 5 and size % 4 == 0 and size <= C.SDRAM_TOP - self.chip.sdram_sys)
        start = W.unpack_start(req.arg3)
        _arg(not start.mask & 1)
        if link not in self.chip.links:
            return RC.TIMEOUT, b""
        neighbour = self.chip.machine.neighbour(self.chip.xy, link)
        data = await self.proc.peek(neighbour, self.chip.sdram_sys, size, big=True)
        if data is None:
            return RC.TIMEOUT, b""
        total = sum(struct.unpack("<%dI" % (size // 4), data)) & 0xFFFFFFFF if size else 0
        if checksum and (total & 0x1FFFFFFF) != checksum:
            return RC.SUM, pack_args(total)
        self.chip.memory.write(self.chip.sdram_sys, data)
        if start.mask:
            self.chip.cores.start_app(start.mask, start.app_id, start.flags)
        return RC.OK, b""

    def cmd_nnp(self, hdr, req):
        key, data = req.arg1, req.arg2       # arg3: forward/retry, moot on the fabric
        self.proc.broadcast_nn(key, data)
        return RC.OK, b""

    def cmd_ffd(self, hdr, req):
        flood_id, block, n_bytes = W.unpack_ffd(req.arg1, req.arg2)
        self.proc.broadcast_ffd(flood_id, block, req.arg3, req.data[:n_bytes])
        return RC.OK, b""

    async def cmd_sig(self, hdr, req):
        kind, word = req.arg1, req.arg2
        if kind == C.SIG_TYPE_P2P:
            if self.chip.scamp_major >= 4:
                raise HandlerError(RC.ARG)
            if W.is_state_count(word):       # SC&MP 3.x state count: [21:20] mode, [19:16] state
                state, app_mask, app_id = W.unpack_signal(word)
                n = await self.proc.count_machine(app_id, state, app_mask)
                return RC.OK, pack_args(n)
        elif kind == C.SIG_TYPE_MC:
            if self.chip.sv_get("root_chip") != 1:
                raise HandlerError(RC.ARG)
        elif kind != C.SIG_TYPE_NN:
            raise HandlerError(RC.ARG)
        _arg(W.unpack_signal(word).signal <= Signal.USR3)
        self.proc.broadcast_signal(word & W.SIGNAL_WORD_BITS)
        return RC.OK, b""

    async def cmd_count(self, hdr, req):
        app_id, state = req.arg1 & 0xFF, req.arg2
        _arg(state <= 15)
        result = await self.proc.count_board(app_id, state)
        if result is None:
            return RC.P2P_BUSY, b""
        n, complete = result
        return (RC.OK if complete else RC.P2P_NOREPLY), pack_args(n)

    def cmd_sync(self, hdr, req):
        self.chip.sync_enabled = bool(req.arg1)
        return RC.OK, b""

    def cmd_led(self, hdr, req):
        for led in range(4):
            action = (req.arg1 >> (2 * led)) & 3
            bit = 1 << led
            if action == 1:
                self.chip.leds ^= bit
            elif action == 2:
                self.chip.leds &= ~bit
            elif action == 3:
                self.chip.leds |= bit
        return RC.OK, b""

    # ----------------------------------------------------------- IP tags
    def cmd_iptag(self, hdr, req, host_ip=b"\0\0\0\0"):
        a1 = W.unpack_iptag_arg(req.arg1)
        op, tag = a1.op, a1.tag
        _arg(op <= C.IPTAG_TTO and (op in (C.IPTAG_NEW, C.IPTAG_TTO) or tag < C.N_TAGS))
        chip = self.chip
        if op == C.IPTAG_TTO:
            old = chip.transient_timeout
            if req.arg2 < 16:
                chip.transient_timeout = req.arg2
            return RC.OK, pack_args(W.pack_tto_reply(old))
        if op == C.IPTAG_GET:
            count = req.arg2
            _arg(count * C.IPTAG_T_SIZE <= C.SDP_BUF_SIZE and tag + count <= C.N_TAGS)
            return RC.OK, b"".join(self._pack_tag(t) for t in range(tag, tag + count))
        if op == C.IPTAG_CLR:
            old = chip.tags.pop(tag, None)
            if old and old.get("reverse"):
                self.proc.reverse_tag_changed(tag, None)
            return RC.OK, b""
        if op == C.IPTAG_NEW:
            free = [t for t in range(C.N_FIXED_TAGS) if t not in chip.tags]
            if not free:
                return RC.OK, pack_args(0xFF)
            tag = free[0]
        flags = a1.flags
        dest_x, dest_y, port = W.unpack_reverse_dest(req.arg2)
        ip = req.arg3
        entry = {"strip": bool(flags & W.IPTAG_STRIP), "reverse": bool(flags & W.IPTAG_REVERSE),
                 "use_sender": bool(flags & W.IPTAG_USE_SENDER), "timeout": a1.timeout, "count": 0}
        if entry["reverse"]:
            entry.update(rx_port=port, dest_x=dest_x, dest_y=dest_y,
                         dest_port_cpu=a1.dest_port_cpu, ip=b"\0\0\0\0", tx_port=0)
            _arg(port not in (C.SCP_PORT, C.BOOT_PORT) and port != 0)
        else:
            ipb = struct.pack("<I", ip)
            sender = self.proc.requester_address(hdr) if entry["use_sender"] else None
            if sender is not None:
                # scamp-cmd.c: the address and port of the request's own (transient) reply
                # tag, i.e. whoever sent this request: SpiNNMan points a tag at a listening
                # socket this way (reprogram_tag_to_listener)
                if ip == 0:
                    ipb = socket.inet_aton(sender[0])
                port = sender[1]
            elif ip == 0:
                ipb = host_ip
            entry.update(ip=ipb, tx_port=port)
        old = chip.tags.get(tag)
        chip.tags[tag] = entry
        if entry["reverse"] or (old and old.get("reverse")):
            if not self.proc.reverse_tag_changed(tag, entry if entry["reverse"] else None):
                chip.tags.pop(tag, None)
                raise HandlerError(RC.ARG)
        return RC.OK, pack_args(tag)

    def _pack_tag(self, t):
        e = self.chip.tags.get(t)
        if e is None:
            return bytes(C.IPTAG_T_SIZE)
        flags = C.TAG_FLAG_VALID | e["timeout"]
        if e["strip"]:
            flags |= C.TAG_FLAG_STRIP
        if e["reverse"]:
            flags |= C.TAG_FLAG_REVERSE
        if e["use_sender"]:
            flags |= C.TAG_FLAG_USE_SENDER
        ip = e.get("ip", b"\0\0\0\0")
        mac = b"\x02\x00" + ip if any(ip) else bytes(6)   # a locally administered pseudo-MAC
        return pack_iptag(ip, mac, e.get("tx_port", 0), 0, flags, e["count"], e.get("rx_port", 0),
                          (e.get("dest_x", 0) << 8) | e.get("dest_y", 0), e.get("dest_port_cpu", 0))

    # ----------------------------------------------------------- allocation
    def cmd_alloc(self, hdr, req):
        op, app_id, extra = W.unpack_alloc_arg(req.arg1)
        _arg(op <= C.HEAP_TAG_PTR)
        chip = self.chip
        heap = chip.sdram_heap
        alloc_tag = chip.sv_get("alloc_tag")
        if op == C.ALLOC_SDRAM:
            size, tag = req.arg2, req.arg3 & 0xFF
            if tag:
                old = heap.tagged(app_id, tag)
                if old:
                    if extra & C.ALLOC_FLAG_TAG_RETRY and heap.size_of(old) >= ((size + 3) & ~3):
                        return RC.OK, pack_args(old)
                    return RC.OK, pack_args(0)
            addr = heap.alloc(size, app_id, tag) if 0 < size < C.SDRAM_SIZE else 0
            if addr and tag:
                chip.memory.write_word(alloc_tag + 4 * ((app_id << 8) + tag), addr)
            return RC.OK, pack_args(addr)
        if op == C.FREE_SDRAM:
            own = heap.owner(req.arg2)
            if own and heap.free(req.arg2) and own[1]:
                chip.memory.write_word(alloc_tag + 4 * ((own[0] << 8) + own[1]), 0)
            return RC.OK, b""
        if op == C.FREE_SDRAM_ID:
            for (app, tag) in [k for k in heap.tags if k[0] == app_id]:
                chip.memory.write_word(alloc_tag + 4 * ((app << 8) + tag), 0)
            return RC.OK, pack_args(heap.free_app(app_id) if app_id else 0)
        if op == C.ALLOC_RTR:
            return RC.OK, pack_args(chip.router.alloc(req.arg2, app_id))
        if op == C.FREE_RTR:
            chip.router.free(req.arg2, bool(req.arg3))
            return RC.OK, b""
        if op == C.FREE_RTR_ID:
            return RC.OK, pack_args(chip.router.free_app(app_id, bool(req.arg2)))
        if op == C.SDRAM_SPACE:
            return RC.OK, pack_args(heap.free_bytes(), heap.largest_free())
        # HEAP_TAG_PTR
        return RC.OK, pack_args(heap.tagged(app_id, req.arg2))

    def cmd_rtr(self, hdr, req):
        op, app_id, count = W.unpack_rtr_arg(req.arg1)
        router = self.chip.router
        _arg(op <= C.RTR_FIXED)
        if op == C.RTR_INIT:
            router.init_all()
        elif op == C.RTR_CLEAR:
            _arg(1 <= req.arg2 and req.arg2 + count <= C.N_ROUTER_ENTRIES)
            router.clear_entries(req.arg2, count)
        elif op == C.RTR_LOAD:
            _arg(count <= C.N_ROUTER_ENTRIES)
            table = self.chip.memory.read(req.arg2, 16 * count)
            for k in range(count):
                index, _u, route, key, mask = RTR_ENTRY.unpack_from(table, 16 * k)
                i = index + req.arg3
                if 1 <= i < C.N_ROUTER_ENTRIES:
                    router.set_entry(i, key, mask, route, app_id, hdr.srce_cpu)
        else:
            if req.arg2 & W.RTR_FIXED_READ:
                return RC.OK, pack_args(router.fixed_route)
            router.fixed_route = req.arg2 & W.FIXED_ROUTE_BITS
            self.chip.sv_set("fr_copy", router.fixed_route)
        return RC.OK, b""

    # ----------------------------------------------------------- info
    def cmd_info(self, hdr, req):
        chip = self.chip
        links = 0
        for link in chip.links:
            links |= 1 << link
        eth = chip.machine.nearest_ethernet(chip.xy)
        ip = bytes(int(b) for b in chip.ip.split(".")) if chip.ip else bytes(4)
        return RC.OK, pack_chip_info(
            chip.n_cores, links, chip.router.largest_free(), chip.is_ethernet,
            chip.sdram_heap.largest_free(), chip.sysram_heap.largest_free(), chip.cores.states(),
            eth[0], eth[1], ip, chip.parent_link, with_parent=chip.scamp_major >= 4)
