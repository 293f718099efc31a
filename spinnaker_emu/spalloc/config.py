"""Configuration of the spalloc server: machines of SpiNN-5 triads and their BMPs.

The file is TOML (host/spalloc.toml is the example):

    [server]
    ip = "127.0.0.1"                 # where the JSON protocol listens
    port = 22244
    timeout_check_interval = 0.5     # seconds between keepalive sweeps
    max_retired_jobs = 1200          # destroyed jobs remembered for get_job_state
    seconds_before_free = 0.0        # delay between power-off and reuse of a board
    power_on_delay = 0.0             # extra wait before a powered job is READY
    start_bmps = true                # run each frame's BMP as a child process
    board_launcher = "spinnaker_emu.board.launcher:start_board"

    [[machine]]                      # highest priority first
    name = "emu"
    tags = ["default"]
    width = 2                        # in triads
    height = 1
    dead_boards = [[1, 0, 2]]        # [x, y, z]
    dead_links = [[0, 0, 1, 0]]      # [x, y, z, link]
    bmps = [{cabinet = 0, frame = 0, ip = "127.0.2.10"}]
    boards = [{x = 0, y = 0, z = 0, cabinet = 0, frame = 0, board = 0, ip = "127.0.2.11"}, ...]

The same model as spalloc_server's ``Machine`` (board_locations, bmp_ips,
spinnaker_ips), spelt as one table per board.  Everything is validated at load.
"""
import ipaddress
from dataclasses import dataclass, field

try:
    import tomllib
except ImportError:     # Python 3.10
    tomllib = None

from ..board.bmp import DEFAULT_LAUNCHER, BOARDS_PER_FRAME


class ConfigError(ValueError):
    pass


@dataclass
class BoardConfig:
    x: int
    y: int
    z: int
    cabinet: int
    frame: int
    board: int
    ip: str

    @property
    def xyz(self):
        return (self.x, self.y, self.z)

    @property
    def physical(self):
        return (self.cabinet, self.frame, self.board)


@dataclass
class MachineConfig:
    name: str
    width: int
    height: int
    tags: tuple = ("default",)
    dead_boards: frozenset = frozenset()
    dead_links: frozenset = frozenset()
    bmps: dict = field(default_factory=dict)        # (cabinet, frame) -> ip
    boards: dict = field(default_factory=dict)      # (x, y, z) -> BoardConfig


@dataclass
class ServerConfig:
    machines: list
    ip: str = "127.0.0.1"
    port: int = 22244
    timeout_check_interval: float = 0.5
    max_retired_jobs: int = 1200
    seconds_before_free: float = 0.0
    power_on_delay: float = 0.0
    start_bmps: bool = True
    board_launcher: str = DEFAULT_LAUNCHER
    bmp_timeout: float = 30.0
    # A cluster file (host/cluster.toml: has a [cluster] table): the hosts' agents run
    # the BMPs, and each power-on first writes the job's shape into the BMP's RAM so
    # that the job's boards come up as one machine (protocol/job_shape.py).
    cluster: bool = False
    bmp_check_interval: float = 2.0     # cluster: how often every BMP is asked VER


def _int(value, what, lo=None):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError("%s must be an integer, got %r" % (what, value))
    if lo is not None and value < lo:
        raise ConfigError("%s must be >= %d, got %r" % (what, lo, value))
    return value


def _num(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError("%s must be a non-negative number, got %r" % (what, value))
    return float(value)


def _ip(value, what):
    try:
        addr = ipaddress.IPv4Address(value)
    except (ValueError, TypeError):
        raise ConfigError("%s is not an IPv4 address: %r" % (what, value))
    return str(addr)


def _machine(d, index):
    if not isinstance(d, dict):
        raise ConfigError("machine %d must be a table" % index)
    unknown = set(d) - {"name", "tags", "width", "height", "dead_boards", "dead_links",
                        "bmps", "boards"}
    if unknown:
        raise ConfigError("machine %d: unknown keys %s" % (index, sorted(unknown)))
    name = d.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("machine %d needs a name" % index)
    w = _int(d.get("width"), name + ".width", 1)
    h = _int(d.get("height"), name + ".height", 1)
    tags = d.get("tags", ["default"])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError("%s.tags must be a list of strings" % name)
    dead = set()
    for b in d.get("dead_boards", []):
        if not isinstance(b, list) or len(b) != 3:
            raise ConfigError("%s.dead_boards entries are [x, y, z]" % name)
        dead.add(tuple(_int(v, name + ".dead_boards", 0) for v in b))
    dead_links = set()
    for b in d.get("dead_links", []):
        if not isinstance(b, list) or len(b) != 4:
            raise ConfigError("%s.dead_links entries are [x, y, z, link]" % name)
        dead_links.add(tuple(_int(v, name + ".dead_links", 0) for v in b))
    bmps = {}
    for b in d.get("bmps", []):
        key = (_int(b.get("cabinet", 0), name + ".bmps.cabinet", 0),
               _int(b.get("frame", 0), name + ".bmps.frame", 0))
        if key in bmps:
            raise ConfigError("%s: two BMPs for cabinet %d frame %d" % ((name,) + key))
        bmps[key] = _ip(b.get("ip"), name + ".bmps.ip")
    boards = {}
    physical = set()
    for b in d.get("boards", []):
        bc = BoardConfig(*(_int(b.get(k), "%s.boards.%s" % (name, k), 0)
                           for k in ("x", "y", "z", "cabinet", "frame", "board")),
                         ip=_ip(b.get("ip"), name + ".boards.ip"))
        if bc.x >= w or bc.y >= h or bc.z > 2:
            raise ConfigError("%s: board %r outside a %dx%d-triad machine" % (name, bc.xyz, w, h))
        if bc.board >= BOARDS_PER_FRAME:
            raise ConfigError("%s: board number %d outside a frame" % (name, bc.board))
        if bc.xyz in boards:
            raise ConfigError("%s: board %r given twice" % (name, bc.xyz))
        if bc.physical in physical:
            raise ConfigError("%s: two boards at physical %r" % (name, bc.physical))
        if bc.ip == "127.0.0.1":
            # SpiNNMan treats exactly this address as a virtual machine
            raise ConfigError("%s: board %r may not use 127.0.0.1" % (name, bc.xyz))
        if (bc.cabinet, bc.frame) not in bmps:
            raise ConfigError("%s: no BMP for cabinet %d frame %d" % (name, bc.cabinet, bc.frame))
        physical.add(bc.physical)
        if bc.xyz not in dead:
            boards[bc.xyz] = bc
    for xyz in dead:
        if not (xyz[0] < w and xyz[1] < h and xyz[2] <= 2):
            raise ConfigError("%s: dead board %r outside the machine" % (name, xyz))
    # Positions without a configured board are dead, as in spalloc_server.
    all_xyz = {(x, y, z) for x in range(w) for y in range(h) for z in range(3)}
    dead |= all_xyz - set(boards)
    return MachineConfig(name, w, h, tuple(tags), frozenset(dead), frozenset(dead_links),
                         bmps, boards)


def config_from_dict(data):
    """Build and validate a ServerConfig from parsed TOML (or an equivalent dict)."""
    if not isinstance(data, dict):
        raise ConfigError("configuration must be a table")
    server = data.get("server", {})
    unknown = set(server) - {"ip", "port", "timeout_check_interval", "max_retired_jobs",
                             "seconds_before_free", "power_on_delay", "start_bmps",
                             "board_launcher", "bmp_timeout", "bmp_check_interval"}
    if unknown:
        raise ConfigError("[server]: unknown keys %s" % sorted(unknown))
    machines = [_machine(m, i) for i, m in enumerate(data.get("machine", []))]
    if not machines:
        raise ConfigError("no [[machine]] configured")
    names, ips = set(), set()
    for m in machines:
        if m.name in names:
            raise ConfigError("machine name %r used twice" % m.name)
        names.add(m.name)
        for ip in list(m.bmps.values()) + [b.ip for b in m.boards.values()]:
            if ip in ips:
                raise ConfigError("address %s used twice" % ip)
            ips.add(ip)
    cfg = ServerConfig(machines)
    if "cluster" in data:
        cfg.cluster = True
        cfg.start_bmps = False          # each host's agent serves its frames' BMPs
    if "ip" in server:
        cfg.ip = _ip(server["ip"], "server.ip")
    if "port" in server:
        cfg.port = _int(server["port"], "server.port", 0)
    for key in ("timeout_check_interval", "seconds_before_free", "power_on_delay", "bmp_timeout",
                "bmp_check_interval"):
        if key in server:
            setattr(cfg, key, _num(server[key], "server." + key))
    if cfg.timeout_check_interval <= 0:
        raise ConfigError("server.timeout_check_interval must be > 0")
    if "max_retired_jobs" in server:
        cfg.max_retired_jobs = _int(server["max_retired_jobs"], "server.max_retired_jobs", 0)
    if "start_bmps" in server and not cfg.cluster:
        if not isinstance(server["start_bmps"], bool):
            raise ConfigError("server.start_bmps must be true or false")
        cfg.start_bmps = server["start_bmps"]
    if "board_launcher" in server:
        if not isinstance(server["board_launcher"], str) or ":" not in server["board_launcher"]:
            raise ConfigError("server.board_launcher must be 'module:function'")
        cfg.board_launcher = server["board_launcher"]
    return cfg


def load_config(path):
    if tomllib is None:
        raise ConfigError("reading TOML needs Python 3.11 (tomllib)")
    with open(path, "rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("%s: %s" % (path, exc))
    return config_from_dict(data)
