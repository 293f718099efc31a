"""``spinnaker-emu host serve``: what runs on each host of a cluster.

It serves the BMP of every frame the cluster file puts on this host (UDP 17893 on
each BMP's own address) and powers that frame's boards: switching a board on
starts its chip processes on the board's own address, in the machine of the job
the allocator wrote into the BMP's RAM (protocol/job_shape.py); switching it off
stops them. Boards run as children that watch the agent (launcher detach=False),
so an agent that dies takes its boards with it, as a frame that loses power.
"""
import json
import os
import threading

from ..protocol import job_shape
from . import fabric
from .bmp import BMPServer
from .launcher import start_board


class HostAgent:
    def __init__(self, cluster, name, log=None):
        if name not in cluster.hosts:
            raise ValueError("host %r is not in %s (hosts: %s)"
                             % (name, cluster.path or "the cluster file", ", ".join(cluster.hosts)))
        self.cluster = cluster
        self.name = name
        self.frames = cluster.frames_of(name)
        self.log = log or (lambda m: None)
        self.bmps = []
        self._bmp_of = {}                  # board IP -> the BMPServer that powers it
        self._faults = {ip: f for fr in self.frames for ip, f in fr.faults.items()}

    def start(self):
        try:
            for f in self.frames:
                bmp = BMPServer(f.bmp_ip, f.boards, f.cabinet, f.frame,
                                board_factory=self._start_board, log=self.log)
                for ip in f.boards.values():
                    self._bmp_of[ip] = bmp
                try:
                    bmp.start()
                except OSError as e:
                    raise OSError(e.errno, "cannot serve the BMP of frame %d on %s:%d: %s (is that "
                                  "address on this host?)" % (f.frame, f.bmp_ip, bmp.port,
                                                              e.strerror or e)) from None
                self.bmps.append(bmp)
                self.log("host %s: BMP of frame %d on %s, boards %s"
                         % (self.name, f.frame, f.bmp_ip, ", ".join(sorted(f.boards.values()))))
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        """Power everything off and stop serving."""
        for bmp in self.bmps:
            bmp.close()
        self.bmps = []

    def _start_board(self, ip):
        bmp = self._bmp_of[ip]
        try:
            shape = job_shape.parse(bmp.memory[job_shape.SHAPE_ADDR:])
        except job_shape.ShapeError as e:
            self.log("host %s: ignoring the job shape in BMP %s: %s" % (self.name, bmp.ip, e))
            shape = None
        if shape is None or ip not in shape["boards"].values():
            return start_board(ip, faults=self._faults.get(ip))      # a board of its own
        spec = {"width": shape["width"], "height": shape["height"], "wrap_x": shape["wrap_x"],
                "wrap_y": shape["wrap_y"],
                "boards": [[x, y, bip] for (x, y), bip in sorted(shape["boards"].items())],
                "own": ip, "fabric_port": self.cluster.fabric_port}
        fabric.make_board_dir(ip)
        path = os.path.join(fabric.board_dir(ip), "machine.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        self.log("host %s: board %s joins a %dx%d machine of %d boards"
                 % (self.name, ip, shape["width"], shape["height"], len(shape["boards"])))
        return start_board(ip, machine_file=path, faults=self._faults.get(ip))

    def serve_forever(self, done):
        """Until ``done`` (a threading.Event) is set."""
        done.wait()


def serve(config, name, log):
    """The CLI's entry: load the cluster file, serve until SIGTERM/SIGINT."""
    import signal
    from .cluster import load_cluster
    cluster = load_cluster(config)
    os.environ["SPINNAKER_EMU_HOST"] = name        # the boards' status names their host
    agent = HostAgent(cluster, name, log).start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: done.set())
    print("READY host %s: %d frame(s), BMPs %s" % (name, len(agent.bmps),
                                                   " ".join(b.ip for b in agent.bmps)), flush=True)
    try:
        agent.serve_forever(done)
    finally:
        agent.close()
    return 0
