"""The description of a multi-host cluster (host/cluster.toml), read by every
participant: each host's agent (``spinnaker-emu host serve``) and the allocator
(``spinnaker-emu spalloc serve``, which reads the [server] and [[machine]] tables
as it reads host/spalloc.toml).

    [cluster]
    fabric_port = 20000          # a board's chips listen on <board IP>:20000..20047

    [[host]]                     # the hosts, by name (--name of host serve)
    name = "host1"

    [server]                     # the allocator (spinnaker_emu/spalloc/config.py)
    ip = "10.77.0.1"
    port = 22244

    [[machine]]                  # spalloc's machine table; each BMP names its host
    name = "cluster"
    width = 1                    # triads; boards are wired by their x, y, z
    height = 1
    bmps = [{cabinet = 0, frame = 0, ip = "10.77.1.10", host = "host1"}, ...]
    boards = [{x = 0, y = 0, z = 0, cabinet = 0, frame = 0, board = 0, ip = "10.77.1.11"}, ...]
                                 # a board may add udp_loss = 0.05, link_loss = 0.05 (faults.py)

A frame (one BMP and its boards) runs on the host its BMP names. Pure data: no
sockets; errors are ClusterError with one line saying what is wrong where.
"""
import ipaddress
from dataclasses import dataclass, field

try:
    import tomllib
except ImportError:                      # Python 3.10
    tomllib = None

from ..machine.geometry import SPINN5_CHIPS
from .faults import FAULT_KEYS, check as check_faults

DEFAULT_FABRIC_PORT = 20000


class ClusterError(ValueError):
    pass


@dataclass
class Frame:
    machine: str
    cabinet: int
    frame: int
    host: str
    bmp_ip: str
    boards: dict = field(default_factory=dict)     # board number -> IP
    faults: dict = field(default_factory=dict)     # IP -> injected packet loss (faults.py)


@dataclass
class Cluster:
    hosts: list
    frames: list
    fabric_port: int = DEFAULT_FABRIC_PORT
    path: str = ""

    def frames_of(self, host):
        return [f for f in self.frames if f.host == host]

    def host_of_board(self, ip):
        for f in self.frames:
            if ip in f.boards.values():
                return f.host
        return None


def _ip(v, what):
    try:
        return str(ipaddress.IPv4Address(v))
    except (ValueError, TypeError):
        raise ClusterError("%s is not an IPv4 address: %r" % (what, v))


def _int(v, what):
    if type(v) is not int or v < 0:
        raise ClusterError("%s must be a non-negative integer, got %r" % (what, v))
    return v


def cluster_from_dict(d, path=""):
    where = path or "cluster"
    c = d.get("cluster")
    if not isinstance(c, dict):
        raise ClusterError("%s: no [cluster] table (is this a cluster file?)" % where)
    port = _int(c.get("fabric_port", DEFAULT_FABRIC_PORT), "cluster.fabric_port")
    if not 1024 <= port <= 65535 - len(SPINN5_CHIPS):
        raise ClusterError("cluster.fabric_port %d: needs %d ports below 65536" % (port, len(SPINN5_CHIPS)))
    hosts = []
    for h in d.get("host", []):
        name = h.get("name") if isinstance(h, dict) else None
        if not isinstance(name, str) or not name or name in hosts:
            raise ClusterError("%s: every [[host]] needs a name of its own (got %r)" % (where, name))
        hosts.append(name)
    if not hosts:
        raise ClusterError("%s: no [[host]]" % where)
    frames = []
    for m in d.get("machine", []):
        mname = m.get("name", "?")
        by_key = {}
        for b in m.get("bmps", []):
            key = (_int(b.get("cabinet", 0), mname + ".bmps.cabinet"),
                   _int(b.get("frame", 0), mname + ".bmps.frame"))
            host = b.get("host")
            if host not in hosts:
                raise ClusterError("%s: the BMP of cabinet %d frame %d names host %r, which is not a "
                                   "[[host]]" % ((mname,) + key + (host,)))
            by_key[key] = Frame(mname, key[0], key[1], host, _ip(b.get("ip"), mname + ".bmps.ip"))
            frames.append(by_key[key])
        for b in m.get("boards", []):
            key = (b.get("cabinet", 0), b.get("frame", 0))
            if key not in by_key:
                raise ClusterError("%s: board %r has no BMP (cabinet %r frame %r)"
                                   % (mname, [b.get(k) for k in "xyz"], key[0], key[1]))
            ip = _ip(b.get("ip"), mname + ".boards.ip")
            by_key[key].boards[_int(b.get("board"), mname + ".boards.board")] = ip
            try:
                faults = check_faults({k: b[k] for k in FAULT_KEYS if k in b}, "board " + ip)
            except ValueError as e:
                raise ClusterError(str(e))
            if faults:
                by_key[key].faults[ip] = faults
    if not frames:
        raise ClusterError("%s: no [[machine]] with bmps" % where)
    return Cluster(hosts, frames, port, path)


def load_cluster(path):
    if tomllib is None:
        raise ClusterError("reading TOML needs Python 3.11 (tomllib)")
    try:
        with open(path, "rb") as f:
            d = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ClusterError("%s: %s" % (path, e))
    return cluster_from_dict(d, path)
