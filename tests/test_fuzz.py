"""Fuzz: 100,000 random and mutated packets to a booted board's SCP and boot ports;
afterwards every chip still answers VER and memory round trips still work."""
import random
import socket
import struct
import time

from spinnaker_emu.host.scp import SCPConnection
from spinnaker_emu.protocol import constants as C
from spinnaker_emu.protocol.constants import SCPCommand as CMD

N_PACKETS = 100_000
SEED = 20261121


def templates():
    """One valid packet for every SC&MP command, to mutate."""
    P = SCPConnection.packet
    out = []
    for cmd in CMD:
        if cmd in (CMD.NNP, CMD.SIG):
            continue         # kept below with safe arguments: random signals are fine, but
                             # we want mostly mutations of the other commands too
        out.append(P(0, 0, 0, cmd, (0x60300000, 16, 2), b"\x11" * 16))
        out.append(P(3, 4, 0, cmd, (0xE5007F00, 8, 0), b"\x22" * 8))
        out.append(P(255, 255, 1, cmd, (0, 4, 1), b"abcd"))
    out.append(P(255, 255, 0, CMD.SIG, (2, (3 << 16) | 0xFF00 | 7, 0xFFFF)))
    out.append(P(255, 255, 0, CMD.NNP, ((6 << 24) | (2 << 16) | (1 << 8), 0, 0x3F18)))
    return out


def mutate(rng, pkt):
    b = bytearray(pkt)
    for _ in range(rng.randint(1, 6)):
        r = rng.random()
        if r < 0.5 and b:
            b[rng.randrange(len(b))] = rng.getrandbits(8)
        elif r < 0.7:
            del b[rng.randrange(len(b) + 1):]
        elif r < 0.85:
            b += bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40)))
        elif len(b) >= 26:
            struct.pack_into("<I", b, 14 + 4 * rng.randrange(3), rng.getrandbits(32))
    return bytes(b)


def test_fuzz_then_every_chip_still_answers(spin5):
    rng = random.Random(SEED)
    temps = templates()
    ip = spin5.ip
    fuzz = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fuzz.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # replies are not read
    sync = SCPConnection(ip, timeout=2.0, retries=5)
    t0 = time.monotonic()
    try:
        for i in range(N_PACKETS):
            r = rng.random()
            if r < 0.15:
                pkt = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300)))
            else:
                pkt = mutate(rng, rng.choice(temps))
            port = C.BOOT_PORT if rng.random() < 0.1 else C.SCP_PORT
            fuzz.sendto(pkt, (ip, port))
            if i % 500 == 499:
                sync.version()        # pace the fuzzer to what the board can take
    finally:
        fuzz.close()
    elapsed = time.monotonic() - t0
    # Every chip still answers VER, with its own coordinates.
    for (x, y) in [(x, y) for x in range(8) for y in range(8)]:
        if (x, y) not in spin5.chips:
            continue
        v = sync.version(x, y)
        assert (v["x"], v["y"]) == (x, y)
    # And memory round trips still return the same data.
    data = bytes(range(256)) * 4 + b"tail"
    for (x, y) in ((0, 0), (4, 4), (7, 7)):
        sync.write(x, y, 0x63000000, data)
        assert sync.read(x, y, 0x63000000, len(data)) == data
    sync.close()
    print("fuzz: %d packets in %.1f s" % (N_PACKETS, elapsed))
