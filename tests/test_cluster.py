"""Multi-host clusters (issue 10, docs/CLUSTER.md): host agents serve their frames'
BMPs, the allocator powers a job's boards through them, and the job's boards form
one machine whose fabric crosses between the agents' boards over TCP.

The loopback test runs two agents in this network namespace (two "hosts" on
127.0.4.x); the namespace tests build real separate network stacks with
scripts/netns-cluster.sh and skip, saying why, where that cannot be done."""
import os
import signal
import subprocess
import sys
import time

import pytest

from spinnaker_emu.host.transceiver import Transceiver
from spinnaker_emu.spalloc.client import create_job

LOOPBACK_CLUSTER = """
[cluster]
fabric_port = 20100
[[host]]
name = "a"
[[host]]
name = "b"
[server]
ip = "127.0.4.1"
port = 0
[[machine]]
name = "lo"
width = 1
height = 1
bmps = [{cabinet = 0, frame = 0, ip = "127.0.4.10", host = "a"},
        {cabinet = 0, frame = 1, ip = "127.0.4.20", host = "b"}]
boards = [{x = 0, y = 0, z = 0, cabinet = 0, frame = 0, board = 0, ip = "127.0.4.11"},
          {x = 0, y = 0, z = 1, cabinet = 0, frame = 0, board = 1, ip = "127.0.4.12"},
          {x = 0, y = 0, z = 2, cabinet = 0, frame = 1, board = 0, ip = "127.0.4.21"}]
"""


def start_agent(config, name):
    p = subprocess.Popen([sys.executable, "-m", "spinnaker_emu.cli", "host", "serve", "--config",
                          str(config), "--name", name], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    line = p.stdout.readline()
    assert line.startswith(b"READY"), line
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.fixture(scope="module")
def loopback_cluster(tmp_path_factory):
    from spinnaker_emu.spalloc.config import load_config
    from spinnaker_emu.spalloc.server import SpallocServer
    path = tmp_path_factory.mktemp("cluster") / "cluster.toml"
    path.write_text(LOOPBACK_CLUSTER)
    agents = []
    server = None
    try:
        agents = [start_agent(path, "a"), start_agent(path, "b")]
        server = SpallocServer(load_config(str(path))).start()
        yield server, agents
    finally:
        if server is not None:
            server.stop()
        for p in agents:
            stop(p)


def test_a_job_spans_two_agents_as_one_machine(loopback_cluster):
    server, _agents = loopback_cluster
    host, port = server.address
    job = create_job(host, port, 3, owner="test_cluster", keepalive=60.0)
    try:
        job.wait_until_ready(60)
        assert (job.width, job.height) == (12, 12)
        assert job.connections == {(0, 0): "127.0.4.11", (8, 4): "127.0.4.12", (4, 8): "127.0.4.21"}
        tx = Transceiver(job.hostname)
        try:
            m = tx.machine
            assert len(m.chips) == 144
            assert m.ethernets == job.connections
            # chip (7, 11) is on board 3, run by agent "b": reached from board 1 over TCP
            tx.write_memory(7, 11, 0x60000000, b"cluster!" * 64)
            assert tx.read_memory(7, 11, 0x60000000, 512) == b"cluster!" * 64
        finally:
            tx.close()
    finally:
        job.destroy()
