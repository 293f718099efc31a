"""The shape of a spalloc job's machine, as the allocator leaves it in a BMP's RAM.

On hardware the boards of a job form one machine because spalloc enables the
FPGA links between them and disables those on the job's edge, and SC&MP numbers
the chips from the board that is booted. An emulated board's chip processes are
numbered when they start, so they must know the job's shape at power-on. The
allocator writes it (SCP WRITE, the BMP's RAM, ``SHAPE_ADDR``) just before it
sends CMD_BMP_POWER; the BMP reads it when it switches a board on. A board the
shape does not name comes up as a machine of its own.

Layout: a little-endian uint32 byte count, then that many bytes of UTF-8 JSON:
    {"width": 12, "height": 12, "wrap_x": true, "wrap_y": true,
     "boards": [[x, y, "ip"], ...]}   # each board's Ethernet chip in job coordinates
It comes from the network, so parse() checks every field and bounds every size.
"""
import ipaddress
import json
import struct

SHAPE_ADDR = 0x8000          # in the BMP's 64 KiB of RAM (board/bmp.py)
SHAPE_MAX = 0x8000 - 4       # the rest of that RAM
MAX_CHIPS_SIDE = 256         # P2P addresses are 8 bits per coordinate


class ShapeError(ValueError):
    pass


def pack(width, height, wrap_x, wrap_y, boards):
    text = json.dumps({"width": width, "height": height, "wrap_x": bool(wrap_x),
                       "wrap_y": bool(wrap_y), "boards": [[x, y, ip] for (x, y), ip in boards]},
                      separators=(",", ":")).encode()
    if len(text) > SHAPE_MAX:
        raise ShapeError("a job of %d boards does not fit the BMP's RAM" % len(boards))
    return struct.pack("<I", len(text)) + text


def parse(memory):
    """The shape in ``memory`` (the bytes from SHAPE_ADDR on), or None if none was written."""
    n, = struct.unpack_from("<I", memory, 0)
    if n == 0 or n == 0xFFFFFFFF:
        return None
    if n > SHAPE_MAX or n > len(memory) - 4:
        raise ShapeError("job shape of %d bytes" % n)
    try:
        d = json.loads(bytes(memory[4:4 + n]).decode())
    except (UnicodeDecodeError, ValueError) as e:
        raise ShapeError("job shape is not JSON: %s" % e)
    if not isinstance(d, dict):
        raise ShapeError("job shape is not an object")
    w, h = d.get("width"), d.get("height")
    for v in (w, h):
        if type(v) is not int or not 1 <= v <= MAX_CHIPS_SIDE:
            raise ShapeError("job shape: bad size %r" % (v,))
    if type(d.get("wrap_x")) is not bool or type(d.get("wrap_y")) is not bool:
        raise ShapeError("job shape: wrap_x / wrap_y must be true or false")
    boards = d.get("boards")
    if not isinstance(boards, list) or not boards:
        raise ShapeError("job shape: no boards")
    out = {}
    for b in boards:
        if not isinstance(b, list) or len(b) != 3 or type(b[0]) is not int or type(b[1]) is not int \
                or not (0 <= b[0] < w and 0 <= b[1] < h) or not isinstance(b[2], str):
            raise ShapeError("job shape: bad board %r" % (b,))
        try:
            ip = str(ipaddress.IPv4Address(b[2]))
        except ValueError:
            raise ShapeError("job shape: bad board address %r" % (b[2],))
        out[(b[0], b[1])] = ip
    return {"width": w, "height": h, "wrap_x": d["wrap_x"], "wrap_y": d["wrap_y"], "boards": out}
