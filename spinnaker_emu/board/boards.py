"""Machine definitions from boards/*.toml (board type, addresses, dead chips and
links for fault emulation). A definition file looks like::

    version = 5                 # 5: SpiNN-5 (48 chips), 3: SpiNN-3 (4 chips)
    ip = "127.0.1.1"            # the Ethernet chip's address (never 127.0.0.1)
    dead_chips = [[7, 7]]       # optional
    dead_links = [[0, 0, 1]]    # optional: x, y, link
    [faults]                    # optional: injected packet loss (board/faults.py)
    udp_loss = 0.05
    [cores]                     # optional: working cores per chip ("x,y" = n)
    "3,3" = 17

or, for several boards wired as triads on a torus::

    version = 5
    triads = [1, 1]             # width, height in triads
    [boards]                    # "tx,ty,z" = IP of that board
    "0,0,0" = "127.0.2.1"
"""
try:
    import tomllib
except ImportError:                      # Python 3.10
    tomllib = None

from ..machine.geometry import spinn3_board, spinn5_board, triads_machine, job_machine


def _parse(path):
    if tomllib is None:
        raise RuntimeError("reading %s needs Python 3.11 (tomllib)" % path)
    with open(path, "rb") as f:
        return tomllib.load(f)


def load_machine(path=None, version=5, ip="127.0.1.1"):
    """The Machine for a definition file, or a plain board of ``version`` at ``ip``."""
    if ip == "127.0.0.1":
        raise ValueError("127.0.0.1 is reserved: SpiNNMan treats it as a virtual board; use 127.0.1.N")
    if path is None:
        return spinn5_board(ip) if version == 5 else spinn3_board(ip)
    d = _parse(path)
    version = d.get("version", version)
    dead_chips = [tuple(c) for c in d.get("dead_chips", [])]
    dead_links = [tuple(c) for c in d.get("dead_links", [])]
    cores = {tuple(int(v) for v in k.split(",")): n for k, n in d.get("cores", {}).items()}
    if "triads" in d:
        boards = {tuple(int(v) for v in k.split(",")): a for k, a in d["boards"].items()}
        w, h = d["triads"]
        return triads_machine(w, h, boards, dead_chips, dead_links, cores)
    ip = d.get("ip", ip)
    make = spinn5_board if version == 5 else spinn3_board
    return make(ip, dead_chips, dead_links, cores)


def consecutive_ips(ip, n):
    """``n`` addresses counting up from ``ip`` in its last octet."""
    a, b, c, d = (int(v) for v in ip.split("."))
    if d + n - 1 > 254:
        raise ValueError("%d boards from %s run past .254" % (n, ip))
    return ["%d.%d.%d.%d" % (a, b, c, d + k) for k in range(n)]


def triad_boards(ip, n_boards):
    """A torus of n_boards / 3 triads in a row, boards on consecutive addresses from ``ip``."""
    if n_boards % 3:
        raise ValueError("several boards come in triads: --boards must be 1 or a multiple of 3")
    ips = consecutive_ips(ip, n_boards)
    if "127.0.0.1" in ips:
        raise ValueError("127.0.0.1 is reserved: SpiNNMan treats it as a virtual board")
    width = n_boards // 3
    return triads_machine(width, 1, {(k // 3, 0, k % 3): a for k, a in enumerate(ips)})


def load_board_spec(path):
    """A cluster board's start-up file (JSON, written by the host agent from the job
    shape the allocator gave its BMP): the job's machine, which board of it this
    supervisor runs, and the fabric's TCP port base. Returns (machine, own Ethernet
    chip, fabric_port)."""
    import json
    with open(path) as f:
        d = json.load(f)
    boards = {(int(x), int(y)): str(ip) for x, y, ip in d["boards"]}
    machine = job_machine(int(d["width"]), int(d["height"]), boards,
                          bool(d["wrap_x"]), bool(d["wrap_y"]))
    own = [xy for xy, ip in boards.items() if ip == d["own"]]
    if len(own) != 1:
        raise ValueError("%s: board %s is not in its machine" % (path, d["own"]))
    return machine, own[0], int(d["fabric_port"])


def load_faults(path):
    """The [faults] table of a definition file (TOML) or the "faults" of a cluster
    board's start-up file (JSON): injected packet loss (board/faults.py)."""
    from .faults import check
    if path.endswith(".json"):
        import json
        with open(path) as f:
            return check(json.load(f).get("faults"), path)
    return check(_parse(path).get("faults"), path)
