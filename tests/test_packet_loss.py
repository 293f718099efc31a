"""Injected packet loss (board/faults.py), for people testing host tools: at 5 % loss
on a board's UDP ports and on the links between its boards, SpiNNMan and our
transceiver still complete reads and writes with identical data."""
import os
import random
import subprocess
import sys

import pytest

from spinnaker_emu.board.launcher import start_board
from spinnaker_emu.host.scp import SCPConnection, SCPTimeout
from spinnaker_emu.host.transceiver import Transceiver
from spinnaker_emu.protocol.constants import SCPCommand

from conftest import fresh_ip

HERE = os.path.dirname(os.path.abspath(__file__))
ACCEPTANCE_PY = os.path.expanduser("~/.cache/spinnaker-emu-acceptance/venv/bin/python")


@pytest.fixture(scope="module")
def lossy_triad():
    ip = fresh_ip()
    h = start_board(ip, boards=3, faults={"udp_loss": 0.05, "link_loss": 0.05})
    yield ip
    h.stop()


def test_loss_is_injected(lossy_triad):
    tx = Transceiver(lossy_triad)             # boots it (boot packets are never dropped)
    try:
        with SCPConnection(lossy_triad, timeout=0.1, retries=1) as c:
            answered = 0
            for _ in range(200):
                try:
                    c.send(0, 0, 0, SCPCommand.VER)
                    answered += 1
                except SCPTimeout:
                    pass
        # each request and each reply is lost with p = 0.05: ~90 % answered
        assert 160 <= answered <= 198, answered
    finally:
        tx.close()


def test_transceiver_reads_and_writes_through_loss(lossy_triad):
    rng = random.Random(3)
    tx = Transceiver(lossy_triad)
    try:
        for n in (7, 1024, 65536, 1 << 20):
            data = rng.randbytes(n)
            for x, y in ((0, 0), (7, 11), (9, 5)):      # boards 1, 3 (over a link), 2
                tx.write_memory(x, y, 0x62000000, data)
                assert tx.read_memory(x, y, 0x62000000, n) == data
    finally:
        tx.close()


def test_spinnman_reads_and_writes_through_loss(lossy_triad):
    if not os.path.exists(ACCEPTANCE_PY):
        pytest.skip("the acceptance venv (SpiNNMan) is not set up: ../shared/acceptance/setup.sh")
    # chip (7,11) is on board 3: SCP to it crosses a lossy link as well
    out = subprocess.run([ACCEPTANCE_PY, os.path.join(HERE, "data", "spinnman_rw.py"), lossy_triad,
                          "7,11"], capture_output=True, text=True, timeout=600)
    assert out.stdout.strip().splitlines()[-1:] == ["OK 3"], out.stdout[-2000:] + out.stderr[-2000:]
