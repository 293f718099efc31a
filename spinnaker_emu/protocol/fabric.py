"""The fabric's messages between chip processes: one table of kinds, one encoding.

Every message is a msgpack array ``[kind number, field, ...]``. The table below
is the single definition both ends use: a kind's number is its index, its fields
are named (and counted on decode). msgpack, not pickle, because a chip's fabric
socket may be reachable from another host (tcp:// between boards of a cluster):
decoding must never run what it receives. Decoding yields plain data only: ints,
floats, bytes, str, None, tuples (msgpack arrays, so they can be dict keys, as
chip coordinates are), dicts, and two extension types:

  EXT_U32ARRAY  a uint32 numpy array (multicast keys and payloads)
  EXT_SET       a set (e.g. the chips active in a run)

Anything else (an unknown kind, a wrong field count, malformed bytes) raises
FabricFormatError, which the receiver logs and drops.
"""
import msgpack
import numpy as np

# kind -> field names.  Order matters: the index is the number on the wire, so
# append new kinds at the end.
KINDS = (
    ("scp", ("token", "origin", "sdp", "host_ip")),           # SCP relayed over P2P
    ("scp_reply", ("token", "sdp")),
    ("peek", ("token", "origin", "addr", "n")),               # link / neighbour reads
    ("peek_reply", ("token", "data")),
    ("poke", ("token", "origin", "addr", "data")),
    ("poke_reply", ("token", "ok")),
    ("count", ("token", "origin", "app", "state", "mask")),
    ("count_reply", ("token", "n")),
    ("booted", ("xy",)),
    ("boot", ("sv", "version", "root", "origin")),
    ("mc", ("epoch", "step", "sender", "batch", "leaving")),  # multicast batch / lockstep marker
    ("ls_hello", ("epoch", "xy", "active")),
    ("ls_active", ("epoch", "active_set", "start_wall")),
    ("rtr_table", ("xy", "entries")),
    ("rtr_stats", ("diag", "links")),
    ("nn", ("key", "data", "id")),                            # broadcasts from the root
    ("ffd", ("id", "block", "addr", "data")),
    ("signal", ("word", "id")),
    ("sdp_in", ("sdp",)),
    ("sdp_out", ("sdp",)),
    ("fr", ("key", "payload")),                               # fixed route from an ARM core
    ("bulk_write", ("origin", "reply", "tid", "seq", "p", "address", "data")),
    ("bulk_read", ("origin", "reply", "tid", "p", "base", "total", "chunk", "first", "count")),
    ("bulk_ack", ("reply", "tid", "x", "y", "seq")),
    ("bulk_data", ("reply", "tid", "x", "y", "p", "seq", "data")),
    ("bulk_error", ("reply", "tid", "x", "y", "code", "op", "seq")),
    ("stop", ()),
)
KIND_NUMBER = {name: i for i, (name, _fields) in enumerate(KINDS)}
_ARITY = tuple(len(fields) for _name, fields in KINDS)
_NAMES = tuple(name for name, _fields in KINDS)

EXT_U32ARRAY = 1
EXT_SET = 2
_U32 = np.dtype("<u4")


class FabricFormatError(ValueError):
    pass


def _default(obj):
    if isinstance(obj, np.ndarray):
        if obj.dtype != _U32:
            obj = obj.astype(_U32)
        return msgpack.ExtType(EXT_U32ARRAY, obj.tobytes())
    if isinstance(obj, (set, frozenset)):
        # packb, not the shared Packer: this runs while that one is mid-message
        return msgpack.ExtType(EXT_SET, msgpack.packb(list(obj), default=_default,
                                                      use_bin_type=True))
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, memoryview):
        return obj.tobytes()
    raise TypeError("fabric messages carry plain data, not %s" % type(obj).__name__)


_packer = msgpack.Packer(default=_default, use_bin_type=True, autoreset=True)
_pack = _packer.pack


def _ext(code, data):
    if code == EXT_U32ARRAY:
        if len(data) % 4:
            raise FabricFormatError("uint32 array of %d bytes" % len(data))
        # a copy: receivers keep these arrays after the buffer is gone
        return np.frombuffer(data, dtype=_U32).copy()
    if code == EXT_SET:
        return set(_unpack(data))
    raise FabricFormatError("unknown extension type %d" % code)


def _unpack(raw):
    return msgpack.unpackb(raw, use_list=False, raw=False, strict_map_key=False, ext_hook=_ext)


def encode(kind, *fields):
    n = KIND_NUMBER[kind]
    if len(fields) != _ARITY[n]:
        raise TypeError("fabric %s takes %d fields, got %d" % (kind, _ARITY[n], len(fields)))
    return _pack((n,) + fields)


def decode(raw):
    """(kind name, field, ...) from bytes; FabricFormatError if it is not a message."""
    try:
        msg = _unpack(raw)
    except FabricFormatError:
        raise
    except Exception as e:            # msgpack's own errors, recursion, bad UTF-8 ...
        raise FabricFormatError("undecodable fabric message: %s" % e) from None
    if type(msg) is not tuple or not msg or type(msg[0]) is not int \
            or not 0 <= msg[0] < len(_NAMES) or len(msg) - 1 != _ARITY[msg[0]]:
        raise FabricFormatError("not a fabric message: %s" % repr(msg)[:80])
    return (_NAMES[msg[0]],) + msg[1:]
