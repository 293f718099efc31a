"""Talking to the frames' BMPs: an SCP client, a worker per BMP that runs power
commands in order, and the child processes that run emulated BMPs.

The allocator never starts boards itself: it sends CMD_BMP_POWER to the BMP of
the board's frame, exactly as spalloc_server does with real hardware.
"""
import logging
import os
import queue
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time

from ..protocol.constants import SCP_PORT, SCPCommand, RC, SDP_FLAGS_REPLY, SDP_BUF_SIZE
from ..protocol.sdp import SDPHeader, SDPMessage, SCPRequest, parse_scp_reply, pack_args


class BMPError(RuntimeError):
    pass


class BMPClient:
    """One SCP request at a time to one BMP (a connected UDP socket, so only the
    BMP's replies are seen)."""

    def __init__(self, ip, port=SCP_PORT):
        self.ip = ip
        self.port = port
        self._seq = random.randrange(0x10000)
        self._lock = threading.Lock()

    def request(self, cmd, a1=0, a2=0, a3=0, board=0, data=b"", timeout=1.0, tries=1):
        with self._lock:
            self._seq = (self._seq + 1) & 0xFFFF
            seq = self._seq
            hdr = SDPHeader(flags=SDP_FLAGS_REPLY, tag=0xFF, dest_port=0, dest_cpu=board,
                            srce_port=7, srce_cpu=31, dest_x=0, dest_y=0, srce_x=0, srce_y=0)
            packet = SDPMessage(hdr, SCPRequest(cmd, seq, (a1, a2, a3), data).pack()).to_udp()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.connect((self.ip, self.port))
                for _ in range(max(1, tries)):
                    try:
                        sock.send(packet)
                    except OSError as exc:
                        raise BMPError("BMP %s: %s" % (self.ip, exc))
                    deadline = time.monotonic() + timeout
                    while True:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        sock.settimeout(left)
                        try:
                            reply = sock.recv(1024)
                        except socket.timeout:
                            break
                        except OSError as exc:      # e.g. ECONNREFUSED: nothing listening
                            raise BMPError("BMP %s: %s" % (self.ip, exc))
                        try:
                            rc, rseq, payload = parse_scp_reply(SDPMessage.from_udp(reply).data)
                        except ValueError:
                            continue
                        if rseq != seq:
                            continue            # a late reply to an earlier request
                        if rc != RC.OK:
                            raise BMPError("BMP %s: command %d failed with rc 0x%x"
                                           % (self.ip, cmd, rc))
                        return payload
                raise BMPError("BMP %s: no reply to command %d" % (self.ip, cmd))
            finally:
                sock.close()

    def version(self, timeout=1.0, tries=3):
        payload = self.request(SCPCommand.VER, timeout=timeout, tries=tries)
        text = payload[12:].split(b"\0")
        return text[0].decode("ascii", "replace"), text[1].decode("ascii", "replace")

    def write(self, addr, data, timeout=1.0):
        """Write BMP RAM in SCP-sized pieces (retried: a write can be repeated)."""
        for off in range(0, len(data), SDP_BUF_SIZE):
            piece = data[off:off + SDP_BUF_SIZE]
            self.request(SCPCommand.WRITE, addr + off, len(piece), 0, data=piece,
                         timeout=timeout, tries=3)

    def power(self, on, boards, timeout=30.0):
        mask = 0
        for b in boards:
            mask |= 1 << b
        # Power commands are not retried blindly (as SpiNNMan): a late reply would
        # otherwise be mistaken for the second attempt's.  The BMP ignores duplicates.
        self.request(SCPCommand.BMP_POWER, 1 if on else 0, mask, timeout=timeout, tries=1)


class BMPWorker:
    """Runs power tasks for one BMP strictly in order (power commands for a frame
    are serialised, as in spalloc_server).  ``submit(steps, done)``: ``steps`` is a
    list of (on, [board numbers]) or ("write", (address, bytes)); ``done(error)`` is called afterwards with None
    or the exception."""

    def __init__(self, ip, timeout=30.0, retry_delay=1.0):
        self.client = BMPClient(ip)
        self.timeout = timeout
        self.retry_delay = retry_delay
        self._q = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="bmpw-%s" % ip, daemon=True)
        self._thread.start()

    def submit(self, steps, done):
        self._q.put((steps, done))

    def close(self):
        self._q.put(None)
        self._thread.join(self.timeout + 5)

    def _run(self):
        while True:
            item = self._q.get()
            if item is None:
                return
            steps, done = item
            error = None
            for step in steps:
                try:
                    self._step(step)
                except Exception:
                    # one retry, as spalloc_server does, but sooner than its 15 s
                    time.sleep(self.retry_delay)
                    try:
                        self._step(step)
                    except Exception as exc2:
                        error = exc2
                        break
            try:
                done(error)
            except Exception:            # the server's callback: log it, keep the worker alive
                logging.getLogger(__name__).exception("%s: power callback failed (ignored)", self._thread.name)


    def _step(self, step):
        """(True|False, [boards]): power; ("write", (address, data)): BMP RAM."""
        what, arg = step
        if what == "write":
            self.client.write(*arg)
        else:
            self.client.power(what, arg, self.timeout)


class BMPProcess:
    """An emulated BMP (spinnaker_emu.board.bmp) as a child process."""

    def __init__(self, ip, boards, cabinet=0, frame=0, launcher=None, log_path=None,
                 start_timeout=15.0):
        cmd = [sys.executable, "-m", "spinnaker_emu.board.bmp", "--ip", ip,
               "--cabinet", str(cabinet), "--frame", str(frame), "--parent", str(os.getpid())]
        for n, bip in sorted(boards.items()):
            cmd += ["--board", "%d=%s" % (n, bip)]
        if launcher:
            cmd += ["--launcher", launcher]
        self.ip = ip
        self._log = open(log_path, "ab") if log_path else None
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._log if self._log else subprocess.DEVNULL)
        self.pid = self.proc.pid
        line = self._read_line(start_timeout)
        if not line.startswith(b"READY"):
            self.stop()
            raise BMPError("BMP %s did not start (%r)" % (ip, line))

    def _read_line(self, timeout):
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                break
            chunk = os.read(fd, 256)
            if not chunk:
                break
            buf += chunk
        return buf.split(b"\n")[0]

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=20.0):
        """SIGTERM: the BMP powers its boards off, then exits."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        if self._log:
            self._log.close()
