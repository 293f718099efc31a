"""The run path: network -> mapping -> SDRAM regions -> emulated (or real) machine ->
ticks -> recordings -> neo.  Nothing is simulated on the host.

Phases (each timed into the report folder): machine (start/boot/discover), mapping,
data generation, loading (regions, routes, images), running (SYNC0 ... PAUSE),
extraction (recordings, plastic weights, state for the last sample).
"""
import json
import logging
import os
import random
import socket
import sys
import time
from collections import defaultdict

import numpy as np

from ..mapping import Graph, AppVertex, AppEdge, map_network
from . import config as _config


class SpiNNakerRunError(RuntimeError):
    pass


def _free_loopback_ip():
    """A 127.0.1.N address whose SCP and boot ports are free."""
    candidates = list(range(2, 255))
    random.Random(os.getpid() ^ int(time.time() * 1000)).shuffle(candidates)
    for n in candidates:
        ip = "127.0.1.%d" % n
        socks = []
        try:
            for port in (17893, 54321, 17894):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((ip, port))
            return ip
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise SpiNNakerRunError("no free 127.0.1.N address for a local board")


# ------------------------------------------------------------------------ network -> graph
def _receptor_index(projection, post_pop=None):
    post = projection.post if post_pop is None else post_pop
    index = getattr(post.celltype, "receptor_index", None)
    if index is not None:          # PointNeuron: the receptor's slot (extra_cells.py)
        return index(projection.receptor_type)
    return 1 if projection.receptor_type == "inhibitory" else 0


# Where sPyNNaker and NEST differ we follow sPyNNaker: additive STDP steps are A in
# weight units. [Simulation] stdp_additive_steps = pynn gives PyNN/NEST's w_max * A
# (``steps_scaled_by_w_max``, passed down from the run's settings).


def _stdp_description(synapse_type, steps_scaled_by_w_max=False):
    td = getattr(synapse_type, "timing_dependence", None)
    wd = getattr(synapse_type, "weight_dependence", None)
    if td is None or wd is None:
        return None

    def values(component):
        ps = component.native_parameters
        ps.shape = (1,)
        ps.evaluate(simplify=True)
        return {k: float(v) for k, v in ps.items()}
    t, w = values(td), values(wd)
    rule = "multiplicative" if "Multiplicative" in type(wd).__name__ else "additive"
    a_plus, a_minus = t["A_plus"], t["A_minus"]
    if rule == "additive" and steps_scaled_by_w_max:
        # PyNN's AdditiveWeightDependence: the steps are w_max * A+ and w_max * A-
        # (NEST, NEURON, Brian do this); sPyNNaker uses A+ and A- in weight units.
        a_plus, a_minus = a_plus * w["w_max"], a_minus * w["w_max"]
    return {"rule": rule, "tau_plus": t["tau_plus"], "tau_minus": t["tau_minus"],
            "A_plus": a_plus, "A_minus": a_minus,
            "w_min": w["w_min"], "w_max": w["w_max"]}


def build_graph(state, steps_scaled_by_w_max=False):
    g = Graph()
    vertex_of = {}
    for pop in state.populations:
        v = AppVertex(pop.label or "pop%d" % len(vertex_of), pop.size,
                      type(pop.celltype).__name__, pop._max_atoms_per_core,
                      pop._placement_constraint, payload=pop)
        vertex_of[pop] = g.add_vertex(v)
    for proj in state.projections:
        arrays = proj._arrays()
        ticks = np.maximum(np.rint(arrays["delay"] / state.dt).astype(np.int64), 1)
        pre_parts, post_parts = _parts(proj.pre), _parts(proj.post)
        for pre_pop, plo, phi, pre_map in pre_parts:
            for post_pop, qlo, qhi, post_map in post_parts:
                if len(pre_parts) == 1 and len(post_parts) == 1:
                    sel = None
                    pre, post = arrays["pre"], arrays["post"]
                else:
                    # an Assembly: one edge per (pre, post) population pair; conn_sel
                    # keeps the positions in the projection's arrays
                    sel = np.flatnonzero((arrays["pre"] >= plo) & (arrays["pre"] < phi) &
                                         (arrays["post"] >= qlo) & (arrays["post"] < qhi))
                    if not sel.size:
                        continue
                    pre, post = arrays["pre"][sel] - plo, arrays["post"][sel] - qlo
                pick = (lambda a: a) if sel is None else (lambda a, s=sel: a[s])
                e = AppEdge(vertex_of[pre_pop], vertex_of[post_pop], pre_map[pre],
                            post_map[post], np.abs(pick(arrays["weight"])), pick(ticks),
                            _receptor_index(proj, post_pop),
                            _stdp_description(proj.synapse_type, steps_scaled_by_w_max),
                            label=proj.label or "", payload=proj)
                e.conn_sel = sel
                g.add_edge(e)
    return g, vertex_of


def _parts(p):
    """[(parent population, first, end, index map)]: the populations a
    Population/PopulationView/Assembly spans, its index range [first, end) of each,
    and that range's indices in the parent population."""
    from pyNN.common import Assembly
    if not isinstance(p, Assembly):
        return [(p.grandparent, 0, p.size, _index_map(p))]
    out, off = [], 0
    for q in p.populations:
        out.append((q.grandparent, off, off + q.size, _index_map(q)))
        off += q.size
    return out


def _index_map(p):
    """Indices of a Population/PopulationView/Assembly in its (single) parent population."""
    from pyNN.common import Assembly
    if isinstance(p, Assembly):
        raise NotImplementedError("Projections from/to Assemblies are not supported on SpiNNaker "
                                  "(sPyNNaker does not support them either): project each "
                                  "population separately")
    if hasattr(p, "parent"):
        return np.asarray(p.grandparent.id_to_index(p.all_cells), dtype=np.int64)
    return np.arange(p.size, dtype=np.int64)


# ------------------------------------------------------------------------ the runner
# Called with (host, version) once a run's machine is booted and discovered; the CLI
# adds one for `run --view` (pynn never imports the view).
machine_listeners = []


class MachineLost(RuntimeError):
    """The allocator ended the job whose machine a run was using."""


class Runner:
    def __init__(self, state):
        self.state = state
        self.cfg = _config.load(**{k: state.extra_params.get(k) for k in
                                   ("machine_name", "version", "spalloc_server",
                                    "n_boards_required", "time_scale_factor")})
        self.board = None
        self.tx = None
        self.loaded = None          # LoadedNetwork
        self.timings = defaultdict(float)
        self.report_dir = None

    # -- lifecycle ----------------------------------------------------------------------
    def configure(self, extra):
        self.cfg = _config.load(**{k: extra.get(k) for k in
                                   ("machine_name", "version", "spalloc_server",
                                    "n_boards_required", "time_scale_factor")})

    def forget_network(self):
        self._unload()

    def reset(self):
        self._unload()

    def close(self):
        self._unload()
        if self.tx is not None:
            try:
                self.tx.close()
            except Exception as e:       # closing must not hide what the run did
                logging.getLogger(__name__).warning("closing the transceiver failed (ignored): %r", e)
            self.tx = None
        if self.board is not None:
            board, self.board = self.board, None
            board.stop()
        self._release_spalloc()

    def _unload(self):
        if self.loaded is not None and self.tx is not None:
            try:
                self.loaded.unload()
            except Exception as err:          # a dead board must not block reset/end
                print("spinnaker_emu: could not stop the application: %s" % err,
                      file=sys.stderr)
        self.loaded = None

    # -- machine ------------------------------------------------------------------------
    def _timed(self, phase):
        runner = self

        class _T:
            def __enter__(self):
                self.t0 = time.perf_counter()

            def __exit__(self, *exc):
                runner.timings[phase] += time.perf_counter() - self.t0
        return _T()

    def get_machine(self):
        self._ensure_machine()
        return self.tx.machine.machine

    def _ensure_machine(self):
        if self.tx is not None:
            return
        from ..host.transceiver import Transceiver
        from ..host.scp import NoBoard
        with self._timed("machine"):
            named = host = self.cfg.get("Machine", "machine_name")
            version = self.cfg.get_int("Machine", "version") or 5
            if version not in (3, 5):
                raise self.cfg.error("Machine", "version", "is not 3 (SpiNN-3) or 5 (SpiNN-5)")
            if host is None and self.cfg.get("Machine", "spalloc_server"):
                host, version = self._spalloc_board()
            if host is None:
                from ..board.launcher import start_board
                ip = _free_loopback_ip()
                self.board = start_board(ip, version, detach=False)
                host = ip
            progress = self.cfg.get_bool("Reports", "progress_bars")
            try:
                self.tx = Transceiver(host, version=version, boot=True,
                                      progress=None if progress else False)
            except NoBoard:
                if named is None:          # our own or the allocator's board went away
                    raise
                raise self.cfg.error("Machine", "machine_name", "names no board (start one with "
                                     "`spinnaker-emu up --ip %s`, or leave machine_name out and "
                                     "the script gets a board of its own)" % host) from None
            self.host = host
        for listener in machine_listeners:        # e.g. `spinnaker-emu run --view`
            listener(host, version)

    def _spalloc_board(self):
        server = self.cfg.get("Machine", "spalloc_server")
        port = self.cfg.get_int("Machine", "spalloc_port") or 22244
        owner = self.cfg.get("Machine", "spalloc_user") or "spinnaker_emu"
        from ..spalloc import client as spc
        # One board unless the script asks for more (sPyNNaker's n_boards_required): the
        # mapper fills chips from the Ethernet chip, so more boards are for networks
        # that need them or that place populations on them (add_placement_constraint).
        n_boards = self.cfg.get_int("Machine", "n_boards_required") or 1
        try:
            job = spc.create_job(server, port, n_boards, owner=owner)
        except OSError as e:               # refused, unknown host: the cfg's address is wrong
            raise self.cfg.error("Machine", "spalloc_server", "(port %d): no allocator answers "
                                 "(%s)" % (port, e.strerror or e)) from None
        self._spalloc_job = job
        try:
            job.wait_until_ready(timeout=120)
        except Exception:
            self._release_spalloc("failed to become ready")
            raise
        return job.hostname, 5

    def _release_spalloc(self, reason="finished"):
        job, self._spalloc_job = getattr(self, "_spalloc_job", None), None
        if job is not None:
            try:
                job.destroy(reason)
            except Exception as err:          # the server may be gone; the job then expires
                print("spinnaker_emu: could not destroy spalloc job %d: %s" % (job.id, err),
                      file=sys.stderr)

    # -- running ------------------------------------------------------------------------
    def run(self, n_ticks):
        self._ensure_machine()
        from .loader import LoadedNetwork
        if self.loaded is not None and self.loaded.stale():
            self._unload()
        if self.loaded is None:
            mode = (self.state.extra_params.get("stdp_additive_steps")
                    or self.cfg.get("Simulation", "stdp_additive_steps") or "spynnaker")
            graph, vertex_of = build_graph(self.state, steps_scaled_by_w_max=str(mode).lower() != "spynnaker")
            with self._timed("mapping"):
                # SPINNAKER_EMU_SPREAD=N forces N chips; by default the mapper decides
                spread = os.environ.get("SPINNAKER_EMU_SPREAD", "auto")
                spread = int(spread) if spread.isdigit() else "auto"
                mapping = map_network(graph, self.tx.machine.machine,
                                      reserved=self._reserved_cores(), spread=spread,
                                      host_cpus=len(os.sched_getaffinity(0)))
            self.loaded = LoadedNetwork(self, graph, vertex_of, mapping)
            try:
                self.loaded.load(first_run_ticks=n_ticks)
            except OSError as e:
                self._explain_lost_job(e)
                raise
        try:
            self.loaded.run(n_ticks)
        except OSError as e:
            self._explain_lost_job(e)
            raise
        self._write_report()

    def _explain_lost_job(self, error):
        """The machine stopped answering: if the allocator ended our job (e.g. a host
        of the cluster went away), say why, which is what the user needs to know."""
        job = getattr(self, "_spalloc_job", None)
        if job is None:
            return
        try:
            st = job.state()
        except Exception as e:        # the allocator is gone too: the run's own error stands
            logging.getLogger(__name__).warning("could not ask the allocator about job %s: %r",
                                                getattr(job, "id", "?"), e)
            return
        if st.get("state") == 4:                       # DESTROYED
            self._spalloc_job = None                   # nothing left to destroy
            job._stop.set()                            # its keepalive thread
            raise MachineLost("spalloc job %d was ended by the allocator: %s (the run failed "
                              "with: %s)" % (job.id, st.get("reason"), error)) from error

    def _reserved_cores(self):
        reserved = {}
        for xy, chip in self.tx.machine.chips.items():
            n = getattr(chip, "n_cores", 18)
            if n < 18:
                reserved[xy] = set(range(n, 18))
        return reserved

    # -- reports ------------------------------------------------------------------------
    def _write_report(self):
        if not self.cfg.get_bool("Reports", "reports_enabled"):
            return
        try:
            if self.report_dir is None:
                base = self.cfg.get("Reports", "default_report_file_path")
                if base in (None, "DEFAULT"):
                    base = os.path.join(os.getcwd(), "reports")
                stamp = time.strftime("%Y%m%d-%H%M%S") + "-%d" % os.getpid()
                self.report_dir = os.path.join(base, stamp)
                os.makedirs(self.report_dir, exist_ok=True)
                latest = os.path.join(base, "latest")
                try:
                    if os.path.islink(latest):
                        os.unlink(latest)
                    os.symlink(stamp, latest)
                except OSError:
                    pass
            report = {"machine": {"host": getattr(self, "host", None),
                                  "local_board": self.board is not None,
                                  "chips": len(self.tx.machine.chips)},
                      "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
                      "simulated_ms": self.state.t if self.state.running else None,
                      "timestep_ms": self.state.dt}
            if self.loaded is not None:
                report["mapping"] = self.loaded.mapping.summary()
                report["placements"] = self.loaded.placement_report()
                report["provenance"] = self.loaded.provenance
            with open(os.path.join(self.report_dir, "provenance.json"), "w") as f:
                json.dump(report, f, indent=1, default=str)
        except OSError:
            pass
