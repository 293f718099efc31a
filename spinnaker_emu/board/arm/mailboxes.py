"""SC&MP's side of SARK's mailboxes for a chip's ARM cores (the monitor, core 0, is
Python here, never ARM code).

Host -> core: a signal or an SDP message waits in ``ArmCore.mailbox`` until the core's
vcpu_t mailbox (mbox_ap_cmd) is idle; an SDP message is copied into one of the SHM
buffers chained from ``sv->shm_root`` (taken under SARK's MSG lock), the mailbox is
set and the core's CPU_INT raised, as SC&MP's msg handling does.

Core -> anywhere: ``sark_msg_send`` leaves an SHM buffer in the core's mbox_mp_msg,
sets its bit in ``sv->mbox_flags`` and raises the monitor's CPU_INT (the system
controller calls back; the engine sets ``monitor_pending``). ``service`` is the
monitor's CPU_INT handler: it takes every flagged message (unless a core holds the
MBOX or MSG lock), frees its buffer and routes it: port 0xFF to the host through its
IP tag, else to a core of this or another chip.
"""
import struct

from ...protocol import constants as C
from ...protocol.constants import ShmCmd, Lock
from ...protocol.structs import VCPU, vcpu_address, SDP_MSG_T, SDP_MSG_BODY, SDP_MSG_MAX_BODY

PORT_ETH = 0xFF                # SDP dest port byte of "the host, through an IP tag"


class Mailboxes:
    def __init__(self, engine):
        self.engine = engine           # its chip process (engine.proc) is set after it is made
        self.chip = chip = engine.chip
        self.memory = chip.memory
        self.sysctl = chip.memory.sysctl
        self.monitor_pending = False   # the monitor's CPU_INT was raised: service() is due
        self.abandoned = 0             # messages a core gave up on before service() came

    def post(self, arm, cmd, data):
        """Queue a mailbox command for ``arm`` and hand it over if its mailbox is free."""
        arm.mailbox.append((cmd, data))
        self.flush(arm)

    def flush(self, arm):
        """Hand ``arm`` its queued commands while its mailbox is idle."""
        core = arm.core
        while arm.mailbox and core._vget("mbox_ap_cmd") == ShmCmd.IDLE:
            cmd, data = arm.mailbox[0]
            if cmd == ShmCmd.MSG:
                if self.sysctl.lock_held(Lock.MSG):
                    return
                addr = self._shm_get()
                if not addr:
                    return                      # every buffer in use: try after the next quantum
                body = data[:SDP_MSG_MAX_BODY]
                self.memory.write(addr, SDP_MSG_T.pack(0, len(body), 0) + body)
                data = addr
            arm.mailbox.pop(0)
            core._vset("mbox_ap_msg", data)
            core._vset("mbox_ap_cmd", int(cmd))
            self.sysctl.raise_irq(1 << arm.p)

    def _shm_get(self):
        free, count, top = self.chip.sv_get("shm_root")
        if not free:
            return 0
        nxt = self.memory.read_word(free)
        count += 1
        self.chip.sv_set("shm_root", (nxt, count & 0xFFFF, max(top, count) & 0xFFFF))
        return free

    def _shm_free(self, addr):
        free, count, top = self.chip.sv_get("shm_root")
        self.memory.write_word(addr, free)
        self.chip.sv_set("shm_root", (addr, max(0, count - 1), top))

    def service(self):
        """SC&MP's CPU_INT handler: take the messages cores left in their mailboxes."""
        self.monitor_pending = False
        self.sysctl.irq &= ~(1 << C.MONITOR_CPU)
        if self.sysctl.lock_held(Lock.MBOX) or self.sysctl.lock_held(Lock.MSG):
            self.monitor_pending = True         # a core is inside its critical section
            return
        flags = self.chip.sv_get("mbox_flags")
        sysram = self.memory.sysram
        free = None                    # the SHM free list, read once if a message is there
        taken = set()
        for v in range(1, C.N_CORES):
            if not flags >> v & 1:
                continue
            base = vcpu_address(v) - C.SYSRAM_BASE
            cmd = sysram[base + VCPU["mbox_mp_cmd"].offset]
            if cmd == ShmCmd.MSG:
                addr = struct.unpack_from("<I", sysram, base + VCPU["mbox_mp_msg"].offset)[0]
                # sark_msg_send gives up after its timeout (sv->clock_ms) and frees the
                # buffer, leaving the mailbox set: that message was abandoned (the core
                # sends it again). Taking it would free the buffer twice, and two later
                # messages would share it.
                if free is None:
                    free = self._shm_free_list()
                if addr in free or addr in taken:
                    self.abandoned += 1
                    if self.abandoned & (self.abandoned - 1) == 0:     # 1, 2, 4, ...: not every one
                        self.engine.core_log_p(v, "%d SDP messages abandoned so far: sark_msg_send timed out "
                                                  "before the monitor took them (sent again by the core)"
                                               % self.abandoned)
                else:
                    taken.add(addr)
                    _nxt, length, _ck = SDP_MSG_T.unpack(self.memory.read(addr, SDP_MSG_T.size))
                    sdp = self.memory.read(addr + SDP_MSG_BODY, min(length, SDP_MSG_MAX_BODY))
                    self._shm_free(addr)
                    self._route_sdp(sdp)
            sysram[base + VCPU["mbox_mp_cmd"].offset] = ShmCmd.IDLE
            flags &= ~(1 << v)
        self.chip.sv_set("mbox_flags", flags)

    def _shm_free_list(self):
        """The SHM buffers on sv->shm_root's free list (at most sv->num_buf of them)."""
        free, _count, _top = self.chip.sv_get("shm_root")
        found = set()
        for _ in range(max(1, self.chip.sv_get("num_buf"))):
            if not free or free in found:
                break
            found.add(free)
            free = self.memory.read_word(free)
        return found

    def _route_sdp(self, sdp):
        proc = self.engine.proc
        if len(sdp) < 8 or proc is None:
            return
        dest_port, dest_addr = sdp[2], int.from_bytes(sdp[4:6], "little")
        if dest_port == PORT_ETH:
            proc.send_to_host(bytes(sdp))
            return
        xy = (dest_addr >> 8, dest_addr & 0xFF)
        if xy == self.chip.xy:
            proc.deliver_raw_sdp(bytes(sdp))
        elif xy in self.chip.machine.links:
            proc.send(xy, "sdp_in", bytes(sdp))
