"""The board management processor (BMP) of one SpiNN-5 frame, as a UDP SCP server.

A real frame has one BMP that switches the power of up to 24 boards and relays
commands to the other boards' BMPs over CAN.  Here one ``BMPServer`` stands for a
whole frame: it listens on the BMP's own address, UDP 17893, with the same padded
SDP/SCP framing as a board (scp.md section 11), and the SDP destination cpu picks
the board within the frame.

Power is real: switching a board on starts its emulated chips with
``spinnaker_emu.board.launcher.start_board`` on the board's own IP address, and
switching it off stops them and frees its ports.  A freshly powered board is
unbooted, as after a real power cycle.  The BMP owns its boards' processes, so
closing it (or killing its process with SIGTERM) powers everything off.

Run stand-alone:
    python -m spinnaker_emu.board.bmp --ip 127.0.2.10 --frame 0 \
        --board 0=127.0.2.11 --board 1=127.0.2.12
It prints ``READY <ip> <port>`` on stdout once its socket is bound.
"""
import argparse
import importlib
import os
import signal
import socket
import struct
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from ..protocol.constants import (SCP_PORT, UDP_PAD, SDP_HEADER_LEN, SCP_HEADER_LEN, SCP_ARGS_LEN,
                                  MAX_SCP_UDP, SCPCommand, RC, BMP_NAME, BMP_HARDWARE, BMP_VERSION,
                                  SDP_BUF_SIZE)
from ..protocol.sdp import (SDPMessage, SCPRequest, ProtocolError, reply_header, scp_reply_data,
                            pack_args)

BOARDS_PER_FRAME = 24
# Build date reported in VER a3 (seconds since the epoch); fixed so replies are stable.
BUILD_DATE = 1_600_000_000
DEFAULT_LAUNCHER = "spinnaker_emu.board.launcher:start_board"

# FPGA register file: three FPGAs per board, word registers.  Only what hosts read
# back matters; these defaults make the ID registers look like a healthy board
# (spalloc_server checks FLAG_ID: FPGA n reports id n).
FPGA_REG_FLAG = 0x0000C
FPGA_STOP = 0x5C


def load_callable(spec):
    """'package.module:function' -> the function."""
    mod, _, name = spec.partition(":")
    return getattr(importlib.import_module(mod), name)


class BoardSlot:
    """One board position in the frame: its IP, its power and its running board."""

    def __init__(self, number, ip):
        self.number = number
        self.ip = ip
        self.handle = None          # launcher.BoardHandle while powered
        self.leds = 0
        self.fpga = [dict() for _ in range(3)]   # FPGA registers, address -> word
        self.reset_fpgas()

    def reset_fpgas(self):
        for n, regs in enumerate(self.fpga):
            regs.clear()
            regs[FPGA_REG_FLAG] = n     # the FPGA id lives in the low bits of FLAG

    @property
    def powered(self):
        return self.handle is not None


class BMPServer:
    """The BMP of frame (cabinet, frame).  ``boards`` maps board number -> IP.

    ``board_factory(ip)`` starts a board and returns a handle with ``stop()``
    (defaults to the launcher's ``start_board``)."""

    def __init__(self, ip, boards, cabinet=0, frame=0, port=SCP_PORT, board_factory=None,
                 log=None):
        self.ip = ip
        self.port = port
        self.cabinet = cabinet
        self.frame = frame
        self.slots = {int(n): BoardSlot(int(n), bip) for n, bip in dict(boards).items()}
        for n in self.slots:
            if not 0 <= n < BOARDS_PER_FRAME:
                raise ValueError("board number %d outside a frame" % n)
        self._factory = board_factory
        self._log = log or (lambda msg: None)
        self._sock = None
        self._thread = None
        self._stopping = threading.Event()
        # Power operations are slow (they start processes), so they run on a worker
        # thread while the receive loop keeps answering; one at a time, like a BMP.
        self._power_lock = threading.Lock()
        self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bmp-power")
        self._in_progress = set()   # (source address, seq) of power requests being run
        self._send_lock = threading.Lock()
        self.memory = bytearray(64 * 1024)   # BMP RAM for READ/WRITE/FILL

    # ----------------------------------------------------------------- lifecycle
    def start(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.ip, self.port))
        sock.settimeout(0.2)
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="bmp-%s" % self.ip, daemon=True)
        self._thread.start()
        return self

    def close(self):
        """Stop serving and power every board off."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self._workers.shutdown(wait=True)
        with self._power_lock:
            self._power_off([n for n, s in self.slots.items() if s.powered])
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------- serving
    def _serve(self):
        while not self._stopping.is_set():
            try:
                datagram, addr = self._sock.recvfrom(1024)
            except socket.timeout:
                continue
            except OSError:
                if self._stopping.is_set():
                    break
                continue
            try:
                self._handle(datagram, addr)
            except Exception as exc:     # a BMP must never die from a packet
                self._log("bmp %s: error handling packet from %s: %r" % (self.ip, addr, exc))

    def _send(self, data, addr):
        with self._send_lock:
            try:
                self._sock.sendto(data, addr)
            except OSError:
                pass

    def _reply(self, msg, req, addr, rc, payload=b""):
        if not msg.header.reply_expected:
            return
        hdr = reply_header(msg.header, msg.header.dest_x, msg.header.dest_y)
        self._send(SDPMessage(hdr, scp_reply_data(rc, req.seq, payload)).to_udp(), addr)

    def _handle(self, datagram, addr):
        if len(datagram) > MAX_SCP_UDP or len(datagram) < UDP_PAD + SDP_HEADER_LEN + SCP_HEADER_LEN:
            return      # as SC&MP: too long or not even an SCP header -> dropped
        try:
            msg = SDPMessage.from_udp(datagram)
            req = SCPRequest.unpack(msg.data)
        except ProtocolError:
            return
        if msg.header.dest_port != 0:
            self._reply(msg, req, addr, RC.PORT)
            return
        if len(msg.data) < SCP_HEADER_LEN + SCP_ARGS_LEN:
            self._reply(msg, req, addr, RC.LEN)
            return
        board = msg.header.dest_cpu
        if req.cmd == SCPCommand.BMP_POWER:
            key = (addr, req.seq)
            if key in self._in_progress:
                return      # a duplicate of a power request still running
            self._in_progress.add(key)
            self._workers.submit(self._run_power, msg, req, addr, key)
            return
        if req.cmd == SCPCommand.RESET:
            self._workers.submit(self._run_reset, msg, req, addr)
            return
        rc, payload = self._command(board, req)
        self._reply(msg, req, addr, rc, payload)

    # ------------------------------------------------------------------ commands
    def _command(self, board, req):
        cmd = req.cmd
        if cmd == SCPCommand.VER:
            a1 = (0 << 24) | ((self.frame & 0xFF) << 16) | ((board & 0xFF) << 8) | (board & 0xFF)
            data = ("%s/%s\0%s\0" % (BMP_NAME, BMP_HARDWARE, BMP_VERSION)).encode("ascii")
            return RC.OK, pack_args(a1, 0xFFFF0000 | SDP_BUF_SIZE, BUILD_DATE) + data
        if cmd == SCPCommand.BMP_INFO:
            return self._info(board, req.arg1)
        if cmd == SCPCommand.LED:
            for n in self._mask_boards(req.arg2):
                self.slots[n].leds = req.arg1
            return RC.OK, b""
        if cmd in (SCPCommand.LINK_READ, SCPCommand.LINK_WRITE):
            return self._fpga(board, req)
        if cmd in (SCPCommand.READ, SCPCommand.WRITE, SCPCommand.FILL):
            return self._memory(req)
        return RC.CMD, b""

    def _mask_boards(self, mask):
        return [n for n in self.slots if mask & (1 << n)]

    def _info(self, board, kind):
        slot = self.slots.get(board)
        if kind == 0:       # basic: hardware version, serial number, flash buffer ...
            return RC.OK, struct.pack("<IIII16s", 5, 0x5000 + (self.frame << 8) + board,
                                      0, 0, b"")
        if kind == 1:       # EEPROM data: an erased EEPROM
            return RC.OK, b"\xff" * 128
        if kind == 2:       # CAN status: one byte per board, 0 = present
            return RC.OK, bytes(0 if n in self.slots else 0xFF for n in range(32))
        if kind == 3:       # board status: ADC, temperatures, fans, warning, shutdown
            powered = slot is not None and slot.powered
            # 1.2 V core, 1.8 V, 3.3 V ... in ADC counts (scales 2.5/4096 etc.); 0 when off
            volts = [1966, 2949, 2949, 1966, 2949, 3604, 0, 3276] if powered else [0] * 8
            t_int = [int(35.5 * 256)] * 2 + [-0x8000] * 2
            t_ext = [-0x8000] * 4
            fans = [0xFFFF] * 4
            return RC.OK, struct.pack("<8H4h4h4HII", *volts, *t_int, *t_ext, *fans, 0, 0)
        if kind == 4:       # IP blocks of the BMP and of the board's Ethernet chip
            bmp_ip = socket.inet_aton(self.ip)
            board_ip = socket.inet_aton(slot.ip) if slot is not None else b"\0\0\0\0"
            return RC.OK, self._ip_block(bmp_ip) + self._ip_block(board_ip)
        return RC.ARG, b""

    @staticmethod
    def _ip_block(ip):
        # flags, MAC address, IP, gateway, netmask, port: 32 bytes like the BMP's ip_data
        return struct.pack("<H6s4s4s4sH10s", 0, b"\0\0\0\0\0\0", ip, b"\0\0\0\0",
                           b"\xff\xff\xff\0", SCP_PORT, b"")

    def _fpga(self, board, req):
        slot = self.slots.get(board)
        if slot is None or req.arg3 > 2 or req.arg2 != 4 or req.arg1 & 3:
            return RC.ARG, b""
        regs = slot.fpga[req.arg3]
        if req.cmd == SCPCommand.LINK_READ:
            return RC.OK, struct.pack("<I", regs.get(req.arg1, 0))
        if len(req.data) < 4:
            return RC.LEN, b""
        regs[req.arg1] = struct.unpack_from("<I", req.data)[0]
        return RC.OK, b""

    def _memory(self, req):
        addr, n = req.arg1, req.arg2
        if req.cmd == SCPCommand.FILL:      # a2 = fill word, a3 = byte count
            n = req.arg3
            if addr + n > len(self.memory):
                return RC.ARG, b""
            word = struct.pack("<I", req.arg2)
            self.memory[addr:addr + n] = (word * (n // 4 + 1))[:n]
            return RC.OK, b""
        if n > SDP_BUF_SIZE or addr + n > len(self.memory):
            return RC.ARG, b""
        if req.cmd == SCPCommand.READ:
            return RC.OK, bytes(self.memory[addr:addr + n])
        data = req.data[:n]
        self.memory[addr:addr + len(data)] = data
        return RC.OK, b""

    # --------------------------------------------------------------------- power
    def _run_power(self, msg, req, addr, key):
        try:
            on = req.arg1 & 0xFF
            if on > 1:
                self._reply(msg, req, addr, RC.ARG)
                return
            boards = self._mask_boards(req.arg2)
            with self._power_lock:
                if on:
                    self._power_on(boards)
                else:
                    self._power_off(boards)
            self._reply(msg, req, addr, RC.OK)
        except Exception as exc:
            self._log("bmp %s: power failed: %r" % (self.ip, exc))
            self._reply(msg, req, addr, RC.TIMEOUT)
        finally:
            self._in_progress.discard(key)

    def _run_reset(self, msg, req, addr):
        """RESET: a reset of powered boards brings them back unbooted."""
        try:
            with self._power_lock:
                boards = [n for n in self._mask_boards(req.arg2) if self.slots[n].powered]
                self._power_off(boards)
                self._power_on(boards)
            self._reply(msg, req, addr, RC.OK)
        except Exception as exc:
            self._log("bmp %s: reset failed: %r" % (self.ip, exc))
            self._reply(msg, req, addr, RC.TIMEOUT)

    def _board_factory(self):
        if self._factory is None:
            self._factory = load_callable(DEFAULT_LAUNCHER)
        return self._factory

    def _power_on(self, boards):
        """Start every board of ``boards`` that is off, in parallel (each start waits
        for its ports); a board already on is left running, as on the real supply."""
        todo = [self.slots[n] for n in boards if not self.slots[n].powered]
        if not todo:
            return
        factory = self._board_factory()
        errors = []

        def start(slot):
            try:
                slot.handle = factory(slot.ip)
                slot.reset_fpgas()
            except Exception as exc:
                errors.append((slot.number, exc))

        threads = [threading.Thread(target=start, args=(s,), daemon=True) for s in todo]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self._log("bmp %s: powered on boards %s" % (self.ip, [s.number for s in todo]))
        if errors:
            raise RuntimeError("boards failed to start: %r" % errors)

    def _power_off(self, boards):
        todo = [self.slots[n] for n in boards if self.slots[n].powered]
        threads = [threading.Thread(target=self._stop_slot, args=(s,), daemon=True) for s in todo]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if todo:
            self._log("bmp %s: powered off boards %s" % (self.ip, [s.number for s in todo]))

    def _stop_slot(self, slot):
        handle, slot.handle = slot.handle, None
        try:
            handle.stop(timeout=5.0)
        except Exception as exc:
            self._log("bmp %s: stopping board %d: %r" % (self.ip, slot.number, exc))


# ----------------------------------------------------------------------- process
def _parse_board(text):
    n, _, ip = text.partition("=")
    if not ip:
        raise argparse.ArgumentTypeError("expected NUMBER=IP, got %r" % text)
    return int(n), ip


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m spinnaker_emu.board.bmp",
                                 description="Run the BMP of one emulated SpiNN-5 frame.")
    ap.add_argument("--ip", required=True, help="the BMP's own (loopback) address")
    ap.add_argument("--port", type=int, default=SCP_PORT)
    ap.add_argument("--cabinet", type=int, default=0)
    ap.add_argument("--frame", type=int, default=0)
    ap.add_argument("--board", type=_parse_board, action="append", default=[],
                    metavar="N=IP", help="board N of the frame has Ethernet address IP")
    ap.add_argument("--launcher", default=DEFAULT_LAUNCHER,
                    help="module:function that starts a board on an IP")
    ap.add_argument("--parent", type=int, default=None,
                    help="exit (powering off) when this process is gone")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    log = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    factory = load_callable(args.launcher)
    bmp = BMPServer(args.ip, dict(args.board), args.cabinet, args.frame, args.port,
                    board_factory=factory, log=log)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: done.set())
    bmp.start()
    print("READY %s %d" % (bmp.ip, bmp.port), flush=True)
    try:
        # Watch the parent so boards never outlive an allocator that was killed.
        while not done.wait(0.5):
            if args.parent is not None and os.getppid() != args.parent:
                break
    finally:
        bmp.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
