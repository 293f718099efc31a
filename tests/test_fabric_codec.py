"""The fabric's message table (protocol/fabric.py): every kind round-trips, and
what is not a message (pickle, unknown kinds, wrong field counts) is refused."""
import pickle

import numpy as np
import pytest

from spinnaker_emu.protocol import fabric as F


def test_round_trip_hot_path_messages():
    batch = {2: [(5, np.arange(4, dtype=np.uint32), None)],
             3: [(6, np.array([7], dtype=np.uint32), np.array([9], dtype=np.uint32))]}
    kind, eid, step, sender, got, leaving = F.decode(F.encode("mc", ((0, 0), 1), 7, (1, 2), batch, False))
    assert (kind, eid, step, sender, leaving) == ("mc", ((0, 0), 1), 7, (1, 2), False)
    assert got[2][0][0] == 5 and got[2][0][1].tolist() == [0, 1, 2, 3] and got[2][0][2] is None
    assert got[3][0][1].dtype == np.uint32 and got[3][0][2].tolist() == [9]
    assert F.decode(F.encode("ls_active", ((0, 0), 3), {(1, 1), (0, 0)}, 1.5)) == \
        ("ls_active", ((0, 0), 3), {(0, 0), (1, 1)}, 1.5)
    assert F.decode(F.encode("rtr_stats", {3: 4}, {(1, 1): 2})) == ("rtr_stats", {3: 4}, {(1, 1): 2})
    assert F.decode(F.encode("bulk_ack", ("10.0.0.1", 5), 1, 0, 0, 9)) == \
        ("bulk_ack", ("10.0.0.1", 5), 1, 0, 0, 9)
    assert F.decode(F.encode("stop")) == ("stop",)


def test_every_kind_has_one_definition():
    names = [name for name, _fields in F.KINDS]
    assert len(names) == len(set(names))
    for name, fields in F.KINDS:
        msg = F.decode(F.encode(name, *range(len(fields))))
        assert msg == (name,) + tuple(range(len(fields)))


@pytest.mark.parametrize("raw", [
    pickle.dumps(("stop",)),                    # pickle is never decoded
    F.encode("stop")[:0] + b"\x92\x63\x00",     # unknown kind 99
    b"\x93\x1a\x01\x02",                        # "stop" with fields
    b"\xc1", b"", b"\xd9\x05ab",                # not msgpack / truncated
    b"\x92\x00\xc7\x03\x63abc",                 # unknown extension type
])
def test_refuses_what_is_not_a_message(raw):
    with pytest.raises(F.FabricFormatError):
        F.decode(raw)


def test_wrong_field_count_is_refused_when_sending():
    with pytest.raises(TypeError):
        F.encode("scp", 1, 2)


def test_every_fabric_kind_has_a_chip_process_handler():
    from spinnaker_emu.board.process import ChipProcess
    from spinnaker_emu.protocol.fabric import KINDS

    class Bare(ChipProcess):
        def __init__(self):          # no chip, no sockets: only the table is built
            pass
    handlers = Bare()._fabric_handlers()
    assert set(handlers) == {name for name, _fields in KINDS}
    for name, fields in KINDS:       # each handler takes exactly the kind's fields
        import inspect
        params = inspect.signature(handlers[name]).parameters.values()
        if any(p.kind == p.VAR_POSITIONAL for p in params):
            continue
        assert len(params) == len(fields), name
