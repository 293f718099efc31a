"""The APLX load table of a real SpiNNaker ARM binary (spinnaker_tools sark.h and
the "APLX Loader" of sark_alib.s), decoded for the ARM engine.

An APLX starts with 16-byte records ``{op, a1, a2, a3}``:

    ACOPY 1  {dest, source, length}   copy ``length`` bytes from ``source``
    RCOPY 2  {dest, offset, length}   the same, ``source`` = record address + offset
    FILL  3  {dest, length, value}    fill ``length`` bytes with the word ``value``
    EXEC  4  {pc, -, -}               enter at ``pc`` with r0 = app id | app flags << 8
    END      anything else            stop

SARK's loader moves 32 bytes per step, so copy and fill lengths round up to 32.
"""
import struct
from dataclasses import dataclass

ACOPY, RCOPY, FILL, EXEC = 1, 2, 3, 4
RECORD = struct.Struct("<4I")
MAX_RECORDS = 64           # a real table has a handful; bounds a walk over garbage
CHUNK = 32


@dataclass(frozen=True)
class AplxOp:
    op: int
    dest: int
    source: int = 0        # absolute source (RCOPY resolved), or the fill value
    length: int = 0        # bytes, rounded up to CHUNK


def parse_aplx(read, address):
    """The load operations of the APLX at ``address``; ``read(addr, n)`` reads memory.
    Stops at the first EXEC (it never returns on SARK) or END."""
    ops = []
    for i in range(MAX_RECORDS):
        at = address + RECORD.size * i
        op, a1, a2, a3 = RECORD.unpack(read(at, RECORD.size))
        if op in (ACOPY, RCOPY):
            src = (at + a2) & 0xFFFFFFFF if op == RCOPY else a2
            ops.append(AplxOp(ACOPY, a1, src, _round(a3)))
        elif op == FILL:
            ops.append(AplxOp(FILL, a1, a3, _round(a2)))
        elif op == EXEC:
            ops.append(AplxOp(EXEC, a1))
            break
        else:
            break
    return ops


def _round(n):
    return (n + CHUNK - 1) // CHUNK * CHUNK if n else 0


def entry_point(ops):
    """The EXEC address, or None when the table has none."""
    for o in ops:
        if o.op == EXEC:
            return o.dest
    return None
