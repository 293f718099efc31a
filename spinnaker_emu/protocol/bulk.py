"""The emulator bulk channel: packet layouts (see docs/BULK.md). Pure encoders
and decoders, no I/O.

SCP moves 256 bytes per round trip; the bulk channel moves up to 60 KiB per
UDP datagram to UDP port 17894 of a board's Ethernet chip, with sequence
numbers so a host can keep a window in flight and retransmit selectively.
Every datagram starts with the same 8-byte header, little-endian:

    0  u16  magic 0x4B42 (the bytes "BK")
    2  u8   protocol version (1)
    3  u8   op
    4  u32  transfer id (chosen by the host, echoed by the board)
"""
import struct

BULK_PORT = 17894
MAGIC = 0x4B42
VERSION = 1
MAX_CHUNK = 60 * 1024          # data bytes per datagram (fits a 64 KiB UDP datagram)
MAX_READ_COUNT = 64            # chunks one READ request may ask for (bounds amplification)
MAX_READ_TOTAL = 1 << 32       # a read may not wrap the 32-bit address space

# host -> board
OP_HELLO = 0x01
OP_WRITE = 0x02
OP_READ = 0x03
# board -> host
OP_HELLO_REPLY = 0x81
OP_ACK = 0x82
OP_DATA = 0x83
OP_ERROR = 0x8F

# OP_ERROR codes
ERR_ROUTE = 1          # no such chip, or not reachable from this Ethernet chip
ERR_NOT_BOOTED = 2     # the target chip has not been booted
ERR_ARG = 3            # a field is out of range (chunk too large, count 0, address wrap...)

HEADER = struct.Struct("<HBBI")
HELLO_REPLY = struct.Struct("<IHH4s")            # max chunk, suggested window, flags, board IP
WRITE = struct.Struct("<BBBxII")                 # x, y, p, seq, address; data follows
READ = struct.Struct("<BBBxIIIIH2x")             # x, y, p, base, total, chunk, first seq, count
ACK = struct.Struct("<BBH")                      # x, y, n; then n u32 sequence numbers
DATA = struct.Struct("<BBBxI")                   # x, y, p, seq; data follows
ERROR = struct.Struct("<BBBBI")                  # x, y, code, op, seq

WRITE_OVERHEAD = HEADER.size + WRITE.size        # 20 bytes before the data
DATA_OVERHEAD = HEADER.size + DATA.size          # 16 bytes before the data


class BulkFormatError(ValueError):
    pass


def header(op, tid):
    return HEADER.pack(MAGIC, VERSION, op, tid & 0xFFFFFFFF)


def parse_header(data):
    """(op, tid) of a datagram; raises BulkFormatError if it is not a bulk packet."""
    if len(data) < HEADER.size:
        raise BulkFormatError("short datagram (%d bytes)" % len(data))
    magic, version, op, tid = HEADER.unpack_from(data, 0)
    if magic != MAGIC or version != VERSION:
        raise BulkFormatError("not a bulk packet (magic 0x%04x version %d)" % (magic, version))
    return op, tid


# ------------------------------------------------------------------ host -> board
def hello(tid=0):
    return header(OP_HELLO, tid)


def write_head(tid, x, y, p, seq, address):
    """The 20 bytes before a WRITE's data (sent with the data by scatter/gather)."""
    return header(OP_WRITE, tid) + WRITE.pack(x, y, p, seq, address & 0xFFFFFFFF)


def write(tid, x, y, p, seq, address, data):
    return write_head(tid, x, y, p, seq, address) + bytes(data)


def parse_write(data):
    """(x, y, p, seq, address, memoryview of data)."""
    if len(data) < WRITE_OVERHEAD:
        raise BulkFormatError("short WRITE")
    x, y, p, seq, address = WRITE.unpack_from(data, HEADER.size)
    return x, y, p, seq, address, memoryview(data)[WRITE_OVERHEAD:]


def read(tid, x, y, p, base, total, chunk, first, count):
    return header(OP_READ, tid) + READ.pack(x, y, p, base & 0xFFFFFFFF, total, chunk, first, count)


def parse_read(data):
    """(x, y, p, base, total, chunk, first, count)."""
    if len(data) < HEADER.size + READ.size:
        raise BulkFormatError("short READ")
    return READ.unpack_from(data, HEADER.size)


def read_chunk(base, total, chunk, seq):
    """(address, length) of chunk ``seq`` of a read, or None past the end."""
    off = seq * chunk
    if off >= total:
        return None
    return base + off, min(chunk, total - off)


def check_read(base, total, chunk, first, count):
    """Why a READ request cannot be served, or None if it can."""
    if not 1 <= chunk <= MAX_CHUNK:
        return "chunk %d not in 1..%d" % (chunk, MAX_CHUNK)
    if not 1 <= count <= MAX_READ_COUNT:
        return "count %d not in 1..%d" % (count, MAX_READ_COUNT)
    if total == 0 or base + total > MAX_READ_TOTAL:
        return "length %d at 0x%08x leaves the address space" % (total, base)
    if first * chunk >= total:
        return "first chunk %d past the end" % first
    return None


# ------------------------------------------------------------------ board -> host
def hello_reply(tid, max_chunk, window, ip_bytes, flags=0):
    return header(OP_HELLO_REPLY, tid) + HELLO_REPLY.pack(max_chunk, window, flags, ip_bytes)


def parse_hello_reply(data):
    if len(data) < HEADER.size + HELLO_REPLY.size:
        raise BulkFormatError("short HELLO reply")
    max_chunk, window, flags, ip = HELLO_REPLY.unpack_from(data, HEADER.size)
    return {"max_chunk": max_chunk, "window": window, "flags": flags, "ip": ip}


def ack(tid, x, y, seqs):
    seqs = list(seqs)
    return header(OP_ACK, tid) + ACK.pack(x, y, len(seqs)) + struct.pack("<%dI" % len(seqs), *seqs)


def parse_ack(data):
    """(x, y, [seq...])."""
    if len(data) < HEADER.size + ACK.size:
        raise BulkFormatError("short ACK")
    x, y, n = ACK.unpack_from(data, HEADER.size)
    off = HEADER.size + ACK.size
    if len(data) < off + 4 * n:
        raise BulkFormatError("truncated ACK")
    return x, y, struct.unpack_from("<%dI" % n, data, off)


def data_head(tid, x, y, p, seq):
    return header(OP_DATA, tid) + DATA.pack(x, y, p, seq)


def parse_data(data):
    """(x, y, p, seq, offset of the data in ``data``)."""
    if len(data) < DATA_OVERHEAD:
        raise BulkFormatError("short DATA")
    x, y, p, seq = DATA.unpack_from(data, HEADER.size)
    return x, y, p, seq, DATA_OVERHEAD


def error(tid, x, y, code, op, seq):
    return header(OP_ERROR, tid) + ERROR.pack(x, y, code, op, seq)


def parse_error(data):
    """(x, y, code, op, seq)."""
    if len(data) < HEADER.size + ERROR.size:
        raise BulkFormatError("short ERROR")
    return ERROR.unpack_from(data, HEADER.size)
