"""A network loaded on the machine: region images (from apps.neuron.regions packers),
SDRAM allocation, routes, images; then runs, pause/resume and extraction."""
import struct
from collections import defaultdict

import numpy as np

from ..apps.image import AppImage
from ..apps.neuron import current_sources as CS
from ..apps.neuron import regions as R
from ..apps.neuron.models import MODELS
from ..apps.neuron import regions_extra as RX
from ..apps.neuron.warm import warm_if_cold
from ..mapping import MappingError
from ..mapping.keys import KEY_MASK
from ..protocol.constants import CPUState, Signal

APP_ID = 30
RECORDING_BUDGET_PER_CORE = 4 << 20
SDRAM_USER_PER_CHIP = 110 << 20
DEFAULT_RECORD_TICKS = 1000
VALUE_VARS = ("v", "gsyn_exc", "gsyn_inh")
PROVENANCE_BYTES = 64


def _pop_params(pop, lo, hi, names):
    out = {}
    for name in names:
        if name not in pop._parameters:
            continue
        v = np.asarray(pop._parameters[name])
        out[name] = v[lo:hi].astype(float) if v.ndim else float(v)
    return out


def _rec_map(pop):
    """Recordable variable -> recording region of the population's cores."""
    model = MODELS.get(type(pop.celltype).__name__)
    if model is None or not getattr(model, "float_model", False):
        return R.NEURON_RECORDINGS
    out = dict(model.recordings(R.N_NEURON_REGIONS))
    alias = getattr(pop.celltype, "recording_aliases", None)
    for name, channel in (alias() if alias else {}).items():
        out[name] = out[channel]
    return out


def _state_key(pop, name):
    """Recorded variable -> the key of unpack_neuron_state for its last sample."""
    alias = getattr(pop.celltype, "recording_aliases", None)
    alias = alias() if alias else {}
    return alias.get(name, {"gsyn_exc": "isyn_exc", "gsyn_inh": "isyn_inh"}.get(name, name))


def _neuron_params(pop, model, lo, hi):
    """(parameters, state) of neurons lo..hi for the kernel model."""
    conv = getattr(pop.celltype, "kernel_parameters", None)
    if conv is not None:
        return conv(pop._parameters, pop._initial_state, lo, hi, population=pop)
    params = _pop_params(pop, lo, hi, [k for k in model.defaults])
    state = {k: v[lo:hi] for k, v in pop._initial_state.items() if k in model.initial_values}
    if "gsyn_exc" in pop._initial_state and "isyn_exc" not in state:
        state["isyn_exc"] = pop._initial_state["gsyn_exc"][lo:hi]
        state["isyn_inh"] = pop._initial_state["gsyn_inh"][lo:hi]
    return params, state


class CoreImage:
    """Everything about one core: kernel, region bytes, addresses after allocation."""

    def __init__(self, mv, xy_p, kernel, regions):
        self.mv = mv
        self.x, self.y, self.p = xy_p
        self.kernel = kernel
        self.regions = regions            # list of bytes, index = region number
        self.sizes = [len(r) for r in regions]
        self.addresses = None
        self.table = None
        self.recorded = {}                # variable -> (region index, pop indices of columns)
        self.plastic_blocks = []          # (entry index, IncomingBlock, shift, gws)
        self.shifts = None

    @property
    def sdram(self):
        return sum((s + 3) & ~3 for s in self.sizes) + 4 * (2 + len(self.sizes))


class LoadedNetwork:
    def __init__(self, runner, graph, vertex_of, mapping):
        self.runner = runner
        self.state = runner.state
        self.tx = runner.tx
        self.graph = graph
        self.vertex_of = vertex_of
        self.mapping = mapping
        self.n_pops = len(self.state.populations)
        self.n_projs = len(self.state.projections)
        self.cores = {}
        self.tick = 0                     # ticks run since load
        self.provenance = {}
        self.started = False
        self.last_row_tick = {}           # (pop, var) -> last tick stored
        for pop in self.state.populations:
            pop._dirty = set()
        for proj in self.state.projections:
            proj._dirty = False

    # ------------------------------------------------------------------ staleness
    def stale(self):
        changed = (len(self.state.populations) != self.n_pops
                   or len(self.state.projections) != self.n_projs)
        if changed and self.tick > 0:
            raise MappingError("Populations or projections were added after a run: SpiNNaker "
                               "loads the network once; call sim.reset() first (the network "
                               "then re-runs from t=0)")
        return changed

    # ------------------------------------------------------------------ generation
    def _record_ticks(self, core_bytes_per_tick, first_run_ticks):
        want = max(first_run_ticks, DEFAULT_RECORD_TICKS)
        if core_bytes_per_tick <= 0:
            return want
        return int(max(1, min(want, RECORDING_BUDGET_PER_CORE // core_bytes_per_tick)))

    def _recording_plan(self, pop, mv):
        rec = pop.recorder
        plan = {}
        for variable, ids in rec.recorded.items():
            if variable.name not in _rec_map(pop) or not ids:
                continue
            idx = np.sort(np.asarray(pop.id_to_index(np.array(sorted(ids), dtype=int)),
                                     dtype=int).ravel())
            local = idx[(idx >= mv.lo) & (idx < mv.hi)] - mv.lo
            if local.size:
                plan[variable.name] = local
        return plan

    def generate(self, first_run_ticks):
        m = self.mapping
        dt = self.state.dt
        period_us = int(round(dt * 1000))
        tsf = self.runner.cfg.get_float("Machine", "time_scale_factor")
        # bytes of recording per tick per core, to size the buffers
        per_tick = {}
        plans = {}
        for mv in m.machine_vertices:
            pop = mv.app.payload
            if mv.kind != "app":
                continue
            plan = self._recording_plan(pop, mv)
            if not mv.app.is_neuron:
                plan = {k: v for k, v in plan.items() if k == "spikes"}
            plans[mv] = plan
            k = pop.recorder.sampling_ticks()
            b = 0
            for name, idx in plan.items():
                if name == "spikes":
                    b += 4 * (1 + (len(idx) + 31) // 32)
                else:
                    b += 4 * (1 + len(idx)) / k
            per_tick[mv] = b
        self.record_ticks = min([self._record_ticks(b, first_run_ticks)
                                 for b in per_tick.values()] or [first_run_ticks])
        self.record_ticks = max(1, self.record_ticks)
        first_chunk = min(first_run_ticks, self.record_ticks)
        self.first_chunk = first_chunk
        for pop in self.state.populations:          # a new load runs from t = 0
            for src in getattr(pop, "_current_sources", ()):
                src._trace, src._final = [], 0.0
        # system region: [period, n_ticks, time mode, provenance address] + provenance area
        system = R.pack_system_region(period_us, first_chunk, tsf) + bytes(4 + PROVENANCE_BYTES)

        for mv in m.machine_vertices:
            xyp = m.placements[mv]
            ks = m.keys[mv]
            pop = mv.app.payload
            if mv.kind == "delay":
                stages = m.delay_stages[mv]
                n_stages = int(np.max(np.nonzero(stages.any(axis=0))[0]) + 1) if stages.any() else 1
                src = m.keys[mv.source]
                data = R.pack_delay_params(src.base, src.mask, ks.base, mv.n_atoms, n_stages,
                                           stages[:, :n_stages].T)
                self.cores[mv] = CoreImage(mv, xyp, "delay_extension", [system, data])
                continue
            plan = plans[mv]
            model = mv.app.model
            if model == "SpikeSourceArray":
                times = self._spike_ticks(pop, mv)
                data = R.pack_spike_times(times)
                data = data + bytes(len(data) + 4096)          # room for updates between runs
                rec = self._rec_region(R.REC_KIND_SPIKES, plan.get("spikes"), 1)
                core = CoreImage(mv, xyp, "spike_src_array",
                                 [system, R.pack_source_core_region(ks.base, mv.n_atoms),
                                  data, rec])
                core.recorded = {"spikes": (R.SOURCE_REC_SPIKES, plan.get("spikes"))}
            elif model == "SpikeSourcePoisson":
                data = self._poisson_params(pop, mv)
                rec = self._rec_region(R.REC_KIND_SPIKES, plan.get("spikes"), 1,
                                       self._poisson_records_per_tick(pop, mv))
                core = CoreImage(mv, xyp, "spike_src_poiss",
                                 [system, R.pack_source_core_region(ks.base, mv.n_atoms),
                                  data, rec])
                core.recorded = {"spikes": (R.SOURCE_REC_SPIKES, plan.get("spikes"))}
            elif model in RX.RENEWAL_MODELS:
                data = self._renewal_params(pop, mv)
                p = RX.unpack_renewal_params(data)
                with np.errstate(divide="ignore", invalid="ignore"):
                    # mean spikes per tick (room for several records per tick)
                    lam = float(np.max(np.nan_to_num(1.0 / (
                        p["shape"] * p["scale_ticks"] + p["dead_ticks"]))))
                rec = self._rec_region(R.REC_KIND_SPIKES, plan.get("spikes"), 1,
                                       1 + int(np.ceil(lam + 4 * np.sqrt(lam))))
                core = CoreImage(mv, xyp, "spike_src_renew",
                                 [system, R.pack_source_core_region(ks.base, mv.n_atoms),
                                  data, rec])
                core.recorded = {"spikes": (R.SOURCE_REC_SPIKES, plan.get("spikes"))}
            else:
                core = self._neuron_core(mv, xyp, system, plan)
            self.cores[mv] = core
        # SDRAM per chip
        per_chip = defaultdict(int)
        for core in self.cores.values():
            per_chip[(core.x, core.y)] += core.sdram
        for xy, n in per_chip.items():
            if n > SDRAM_USER_PER_CHIP:
                raise MappingError(
                    "SDRAM exhausted on chip %s: its cores need %.1f MiB, %.1f MiB are usable. "
                    "Record fewer variables or shorter runs (recordings are buffered per "
                    "run), or lower the neurons per core (sim.set_number_of_neurons_per_core)."
                    % (xy, n / 2 ** 20, SDRAM_USER_PER_CHIP / 2 ** 20))

    def _rec_region(self, kind, idx, interval, records_per_tick=1):
        idx = np.zeros(0, int) if idx is None else idx
        return R.pack_recording_region(kind, idx, self.record_ticks * records_per_tick,
                                       interval)

    def _poisson_records_per_tick(self, pop, mv):
        """A Poisson neuron may spike k times in one tick; the core records k
        bitfields for that tick: room for the likely maximum of k."""
        rate = np.asarray(_pop_params(pop, mv.lo, mv.hi, ("rate",))["rate"], float)
        lam = float(np.max(rate)) * self.state.dt / 1000.0 if rate.size else 0.0
        return 1 + int(np.ceil(lam + 4 * np.sqrt(lam)))

    def _spike_ticks(self, pop, mv):
        dt = self.state.dt
        out = []
        values = pop._parameters["spike_times"]
        for i in range(mv.lo, mv.hi):
            seq = values[i] if np.ndim(values) else values
            t = np.asarray(getattr(seq, "value", seq), dtype=float).ravel()
            ticks = np.rint(t / dt).astype(np.int64)
            out.append(np.unique(ticks[ticks >= 0]))
        return out

    def _poisson_params(self, pop, mv):
        dt = self.state.dt
        p = _pop_params(pop, mv.lo, mv.hi, ("rate", "start", "duration"))
        n = mv.n_atoms
        rate = np.broadcast_to(np.asarray(p["rate"], float), (n,))
        start = np.broadcast_to(np.asarray(p["start"], float), (n,))
        dur = np.broadcast_to(np.asarray(p["duration"], float), (n,))
        start_t = np.rint(start / dt).astype(np.int64)
        end = start + dur
        end_t = np.where(end / dt >= R.FOREVER - 1, R.FOREVER,
                         np.rint(np.minimum(end / dt, R.FOREVER - 1))).astype(np.int64)
        seed = pop._additional.get("seed")
        rng = np.random.default_rng(None if seed is None else [int(seed), mv.lo])
        seeds = [int(s) | 1 for s in rng.integers(1, 2 ** 31, 4)]
        return R.pack_poisson_params(rate, start_t, end_t, seeds, dt, n)

    def _renewal_params(self, pop, mv):
        """SpikeSourceGamma / SpikeSourcePoissonRefractory -> RENEWAL_PARAMS bytes."""
        from .extra_cells import renewal_parameters
        shape, scale, dead, start, end = renewal_parameters(
            type(pop.celltype).__name__, pop._parameters, mv.lo, mv.hi, self.state.dt)
        seed = pop._additional.get("seed")
        rng = np.random.default_rng(None if seed is None else [int(seed), mv.lo])
        seeds = [int(s) | 1 for s in rng.integers(1, 2 ** 31, 4)]
        return RX.pack_renewal_params(shape, scale, dead, start, end, seeds)

    def _neuron_core(self, mv, xyp, system, plan):
        m = self.mapping
        pop = mv.app.payload
        model = MODELS[mv.app.model]
        dt = self.state.dt
        blocks = m.incoming.get(mv, [])
        gws = model.global_weight_scale
        n_types = getattr(model, "n_synapse_types", R.N_SYNAPSE_TYPES)
        stats = R.IncomingStats(global_weight_scale=gws, timestep_ms=dt, n_types=n_types,
                                spikes_per_second=float(pop._additional.get(
                                    "spikes_per_second", 30.0)),
                                ring_buffer_sigma=float(pop._additional.get(
                                    "ring_buffer_sigma", 5.0)))
        rules = []                     # one STDP rule per plastic block, shared if equal
        for b in blocks:
            e = b.edge
            if e.plastic is not None:
                desc = R.STDPParams(**e.plastic)
                if desc not in rules:
                    rules.append(desc)
            w = np.abs(b.weight)
            n_max = int(np.bincount(b.post_local).max())
            rate = None
            src_pop = e.pre.payload
            if e.pre.model == "SpikeSourcePoisson":
                rate = float(np.max(np.asarray(src_pop._parameters["rate"], float)))
            wmax = e.plastic["w_max"] if e.plastic else float(w.max())
            stats.add(e.synapse_type, n_max, float(w.mean()), float(w.var()), wmax,
                      float(np.var(b.delay + 16 * b.stage)), spikes_per_second=rate)
        shifts = stats.shifts()
        syn_blocks = []
        plastic_blocks = []
        for b in blocks:
            e = b.edge
            src = b.source
            ks = m.keys[src]
            if src.kind == "delay":
                n_src = src.n_atoms
                nbits = R.delay_neuron_bits(n_src)
                rows = (b.stage - 1) * n_src + b.pre_local
                n_rows = R.MAX_DELAY_STAGES * n_src
            else:
                n_src, nbits = 0, 0
                rows = b.pre_local
                n_rows = src.n_atoms
            stype = np.full(len(b), e.synapse_type, np.int64)
            w16 = R.quantise_weights(b.weight, shifts[e.synapse_type], gws)
            sb = R.SynapticBlock(ks.base, KEY_MASK, n_rows, rows, b.post_local, stype, b.delay,
                                 w16, plastic=e.plastic is not None, neuron_bits=nbits,
                                 n_src=n_src, **self._synapse_extras(b, mv, rules))
            if e.plastic is not None:
                plastic_blocks.append((len(syn_blocks), b, sb.order(), shifts[e.synapse_type],
                                       gws))
            syn_blocks.append(sb)
        pop_bytes, matrix = R.pack_synaptic_matrix(syn_blocks)
        params, state = _neuron_params(pop, model, mv.lo, mv.hi)
        k = pop.recorder.sampling_ticks()
        regions = [system,
                   R.pack_neuron_core_region(m.keys[mv].base, mv.n_atoms, shifts, dt, gws,
                                             n_synapse_types=n_types),
                   R.pack_neuron_params(mv.app.model, mv.n_atoms, params, state, dt),
                   R.pack_synapse_dynamics(rules or None, gws), pop_bytes, matrix]
        rmap = _rec_map(pop)
        for name in ("spikes", "v", "gsyn_exc", "gsyn_inh"):
            kind = R.REC_KIND_SPIKES if name == "spikes" else R.REC_KIND_VALUES
            region = R.NEURON_RECORDINGS[name]
            # the variable recorded in this region (PointNeuron: e.g. 'AMPA.gsyn')
            idx = next((plan[p] for p, r in rmap.items() if r == region and p in plan), None)
            regions.append(self._rec_region(kind, idx, 1 if name == "spikes" else k))
        cs, core_cs_sig = self._current_sources(pop, mv)
        cs_bytes = CS.current_sources_size(cs)
        regions.append(CS.pack_current_sources(cs, cs_bytes + max(1024, cs_bytes)))
        if getattr(model, "float_model", False):
            # models_extra: further value channels in regions N_NEURON_REGIONS..
            if len(regions) != R.N_NEURON_REGIONS:
                raise MappingError("neuron core regions out of step with N_NEURON_REGIONS")
            rmap = _rec_map(pop)
            for i in range(model.n_extra_channels()):
                region = R.N_NEURON_REGIONS + i
                idx = next((plan[p] for p, r in rmap.items() if r == region and p in plan), None)
                regions.append(self._rec_region(R.REC_KIND_VALUES, idx, k))
        rmap = _rec_map(pop)
        core = CoreImage(mv, xyp, model.kernel_name, regions)
        core.cs_sig = core_cs_sig
        core.recorded = {name: (rmap[name], idx) for name, idx in plan.items()}
        core.plastic_blocks = plastic_blocks
        core.shifts = shifts
        return core

    def _synapse_extras(self, b, mv, rules):
        """SynapticBlock keywords beyond static synapses: the STDP rule index, the
        Tsodyks-Markram parameters per synapse (tau_psc = the post neuron's synaptic
        time constant, as pyNN.nest sets it) or the transmission probabilities."""
        e = b.edge
        if e.plastic is not None:
            return {"rule": rules.index(R.STDPParams(**e.plastic))}
        proj = e.payload
        name = type(getattr(proj, "synapse_type", None)).__name__
        arrays = proj._arrays() if proj is not None else {}
        if name == "TsodyksMarkramSynapse":
            post_pop = mv.app.payload
            tau = np.asarray(post_pop._parameters.get(
                "tau_syn_E" if e.synapse_type == 0 else "tau_syn_I", 5.0), float)
            tau_psc = np.broadcast_to(tau, (post_pop.size,))[mv.lo + b.post_local]
            return {"stp": {"U": arrays["U"][b.conn_idx],
                            "tau_rec": arrays["tau_rec"][b.conn_idx],
                            "tau_facil": arrays["tau_facil"][b.conn_idx],
                            "tau_psc": tau_psc}}
        if name == "SimpleStochasticSynapse":
            return {"p_transmit": arrays["p"][b.conn_idx]}
        return {}

    def _current_sources(self, pop, mv):
        """The current sources injecting into this core's neurons, as
        [(kind, core-local targets, parameter words)], and a signature that changes
        when any of them is changed (set_parameters, new injections)."""
        out, sig = [], []
        for src in pop._current_sources:
            idx = [np.asarray(i, dtype=np.int64) for p, i in src._targets if p is pop]
            idx = np.unique(np.concatenate(idx)) if idx else np.zeros(0, np.int64)
            local = idx[(idx >= mv.lo) & (idx < mv.hi)] - mv.lo
            if not local.size:
                continue
            kind = CS.KINDS[type(src).__name__]
            out.append((kind, local, self._source_words(src, kind)))
            sig.append((id(src), src._version, local.size))
        return out, tuple(sig)

    def _source_words(self, src, kind=None):
        kind = kind or CS.KINDS[type(src).__name__]
        return CS.source_words(kind, src._native, self.state.dt, src._seed)

    def _record_currents(self, start, end):
        """Recorded current sources: the current of each tick run (computed on the host
        from the same parameter words and noise seed the cores use)."""
        seen = set()
        for pop in self.state.populations:
            for src in getattr(pop, "_current_sources", ()):
                if id(src) in seen or not src._recording:
                    continue
                seen.add(id(src))
                kind = CS.KINDS[type(src).__name__]
                host = CS.Source(kind, self._source_words(src, kind))
                vals = host.values(np.arange(start, end + 1))
                src._trace.append(vals[:-1])
                src._final = float(vals[-1])

    # ------------------------------------------------------------------ loading
    def load(self, first_run_ticks):
        runner = self.runner
        with runner._timed("compiling kernels"):
            # here, not in a chip process in the middle of a run (apps/neuron/warm.py)
            warm_if_cold()
        with runner._timed("data generation"):
            self.generate(first_run_ticks)
        tx = self.tx
        with runner._timed("loading"):
            writes = []
            for core in self.cores.values():
                base = tx.malloc_sdram(core.x, core.y, core.sdram, APP_ID)
                addr = base + 4 * (2 + len(core.sizes))
                core.addresses = []
                for data in core.regions:
                    core.addresses.append(addr)
                    addr += (len(data) + 3) & ~3
                core.table = base
                sysreg = bytearray(core.regions[0])
                struct.pack_into("<I", sysreg, 12, core.addresses[0] + 16)
                core.regions[0] = bytes(sysreg)
                writes.append((core.x, core.y, base, R.pack_region_table(core.addresses)))
                for a, data in zip(core.addresses, core.regions):
                    if len(data):
                        writes.append((core.x, core.y, a, data))
            tx.write_memory_many(writes)
            for core in self.cores.values():
                tx.write_user(core.x, core.y, core.p, 0, core.table)
            for (x, y), entries in self.mapping.tables.items():
                if entries:
                    tx.load_routes(x, y, entries, APP_ID)
            by_kernel = defaultdict(lambda: defaultdict(list))
            for core in self.cores.values():
                by_kernel[core.kernel][(core.x, core.y)].append(core.p)
            for kernel, targets in by_kernel.items():
                image = AppImage(kernel, kernel[:15]).pack()
                tx.execute_flood(dict(targets), image, APP_ID, wait=False)
            self.all_cores = {}
            for core in self.cores.values():
                self.all_cores.setdefault((core.x, core.y), []).append(core.p)
            tx.wait_for_cores(self.all_cores, [CPUState.SYNC0], app_id=APP_ID,
                              timeout=30.0 + 0.01 * len(self.cores))
            for core in self.cores.values():
                core.regions = None         # free the host copies

    # ------------------------------------------------------------------ running
    def run(self, n_ticks):
        remaining = n_ticks
        while remaining > 0:
            k = min(remaining, self.record_ticks)
            if self.started or k != self.first_chunk:
                self._apply_changes()
                self._runtime_command(k)
            self._run_chunk(k)
            remaining -= k

    def _runtime_command(self, k):
        tx = self.tx
        data = struct.pack("<HHIII", 1, 0, k, 0, 0)
        with self.runner._timed("running"):
            for core in self.cores.values():
                tx.send_sdp(core.x, core.y, core.p, 1, data)
            tx.wait_for_cores(self.all_cores, [CPUState.SYNC0], app_id=APP_ID, timeout=30.0)

    def _run_chunk(self, k):
        tx = self.tx
        with self.runner._timed("running"):
            tx.send_signal(APP_ID, Signal.SYNC0)
            tx.wait_for_cores(self.all_cores, [CPUState.PAUSE], app_id=APP_ID,
                              timeout=120.0 + 0.05 * k * max(1, len(self.cores) / 8),
                              poll=0.005, max_poll=0.25)
        self.started = True
        start = self.tick
        self.tick += k
        self._record_currents(start, self.tick)
        with self.runner._timed("extraction"):
            self._extract(start, self.tick)

    def _apply_changes(self):
        """Parameters changed between runs (set()) go to the cores before the next run."""
        tx = self.tx
        dt = self.state.dt
        for core in self.cores.values():
            mv = core.mv
            if mv.kind != "app":
                continue
            pop = mv.app.payload
            if not pop._dirty and not mv.app.is_neuron:
                continue
            if mv.app.model == "SpikeSourceArray":
                data = R.pack_spike_times(self._spike_ticks(pop, mv))
                if len(data) > core.sizes[R.SPIKE_TIMES]:
                    raise MappingError("SpikeSourceArray %r got more spike times than fit its "
                                       "region between runs; call sim.reset() first" % pop.label)
                tx.write_memory(core.x, core.y, core.addresses[R.SPIKE_TIMES], data)
            elif mv.app.model == "SpikeSourcePoisson":
                tx.write_memory(core.x, core.y, core.addresses[R.POISSON_PARAMS],
                                self._poisson_params(pop, mv))
            elif mv.app.model in RX.RENEWAL_MODELS:
                a, n = core.addresses[R.POISSON_PARAMS], core.sizes[R.POISSON_PARAMS]
                old = tx.read_memory(core.x, core.y, a, n)
                tx.write_memory(core.x, core.y, a, RX.repack_renewal_params(
                    old, self._renewal_params(pop, mv)))
            else:
                self._apply_current_sources(core)
                if not pop._dirty:
                    continue
                model = MODELS[mv.app.model]
                a, n = core.addresses[R.NEURON_PARAMS], core.sizes[R.NEURON_PARAMS]
                old = tx.read_memory(core.x, core.y, a, n)
                params, _state = _neuron_params(pop, model, mv.lo, mv.hi)
                tx.write_memory(core.x, core.y, a, R.repack_neuron_params(old, params, None, dt))
        for pop in self.state.populations:
            pop._dirty = set()

    def _apply_current_sources(self, core):
        mv = core.mv
        cs, sig = self._current_sources(mv.app.payload, mv)
        if sig == getattr(core, "cs_sig", ()):
            return
        data = CS.pack_current_sources(cs)
        if len(data) > core.sizes[R.CURRENT_SOURCES]:
            raise MappingError("the current sources of %s changed between runs and no longer "
                               "fit their region; call sim.reset() first" % mv.label)
        self.tx.write_memory(core.x, core.y, core.addresses[R.CURRENT_SOURCES], data)
        core.cs_sig = sig

    # ------------------------------------------------------------------ extraction
    def _extract(self, start, end):
        tx = self.tx
        dt = self.state.dt
        heads, which = [], []
        for core in self.cores.values():
            for name, (region, idx) in core.recorded.items():
                if idx is None or not len(idx):
                    continue
                heads.append((core.x, core.y, core.addresses[region],
                              R.recording_header_size(len(idx))))
                which.append((core, name, region, idx))
        head_data = tx.read_memory_many(heads) if heads else []
        bodies = []
        for (x, y, a, n), h in zip(heads, head_data):
            w = struct.unpack_from("<8I", h)
            bodies.append((x, y, a + w[R.REC_DATA_OFFSET], w[R.REC_WRITE_OFFSET]))
        to_read = [b for b in bodies if b[3]]
        body_data = iter(tx.read_memory_many(to_read) if to_read else [])
        spikes = defaultdict(list)
        values = defaultdict(list)
        for (core, name, region, idx), h, b in zip(which, head_data, bodies):
            body = next(body_data) if b[3] else b""
            rec = R.unpack_recording(h + body)
            if rec["overflow"]:
                self.provenance.setdefault("recording_overflow", []).append(core.mv.label)
            pop = core.mv.app.payload
            if name == "spikes":
                spikes[pop].append((rec["neurons"] + core.mv.lo, rec["ticks"]))
            else:
                values[(pop, name)].append((rec["indices"] + core.mv.lo, rec["ticks"],
                                            rec["values"]))
            tx.write_word(core.x, core.y, core.addresses[region] + R.RECORDING_WRITE_OFFSET_BYTE, 0)
        t0 = self._time_offset()
        for pop, chunks in spikes.items():
            idx = np.concatenate([c[0] for c in chunks])
            ticks = np.concatenate([c[1] for c in chunks])
            pop.recorder.store_spikes(idx, np.round((ticks + t0) * dt, 9))
        # final state of every recorded neuron core: the sample at the end of the run
        final = self._final_states(values)
        for (pop, name), chunks in values.items():
            k = pop.recorder.sampling_ticks()
            ticks = np.unique(np.concatenate([c[1] for c in chunks]))
            if (pop, name) in final:
                fin_ticks = np.array([end]) if end % k == 0 else np.zeros(0, np.int64)
                ticks = np.unique(np.concatenate([ticks, fin_ticks]))
            last = self.last_row_tick.get((pop, name), -1)
            ticks = ticks[ticks > last]
            if not ticks.size:
                continue
            rows = np.full((ticks.size, pop.size), np.nan)
            pos = {int(t): i for i, t in enumerate(ticks)}
            for idx, tk, vals in chunks:
                for r, t in enumerate(tk):
                    i = pos.get(int(t))
                    if i is not None:
                        rows[i, idx] = vals[r]
            if (pop, name) in final and end in pos:
                for idx, v in final[(pop, name)]:
                    rows[pos[end], idx] = v
            pop.recorder.store_rows(name, rows)
            self.last_row_tick[(pop, name)] = int(ticks[-1])
        if any(c.plastic_blocks for c in self.cores.values()):
            self._read_plastic_weights()
        self._read_provenance()

    def _read_provenance(self):
        cores = list(self.cores.values())
        datas = self.tx.read_memory_many([(c.x, c.y, c.addresses[0] + 16, 16) for c in cores])
        totals = defaultdict(int)
        for c, d in zip(cores, datas):
            ticks, sent, received, _x = struct.unpack("<4I", d)
            totals["packets_sent"] += sent
            totals["packets_received"] += received
            totals["max_tick_count"] = max(totals["max_tick_count"], ticks)
        self.provenance.update(totals)

    def _time_offset(self):
        return 0

    def _final_states(self, values):
        tx = self.tx
        want = {pop for (pop, _n) in values}
        cores = [c for c in self.cores.values()
                 if c.mv.kind == "app" and c.mv.app.payload in want and c.mv.app.is_neuron
                 and any(n != "spikes" for n in c.recorded)]
        if not cores:
            return {}
        datas = tx.read_memory_many([(c.x, c.y, c.addresses[R.NEURON_PARAMS],
                                      c.sizes[R.NEURON_PARAMS]) for c in cores])
        out = defaultdict(list)
        for c, data in zip(cores, datas):
            st = R.unpack_neuron_state(data)
            pop = c.mv.app.payload
            for name in c.recorded:
                if name == "spikes" or c.recorded[name][1] is None:
                    continue
                local = c.recorded[name][1]
                src = _state_key(pop, name)
                out[(pop, name)].append((local + c.mv.lo, st[src][local]))
        return out

    def _read_plastic_weights(self):
        tx = self.tx
        cores = [c for c in self.cores.values() if c.plastic_blocks]
        regions = []
        for c in cores:
            regions.append((c.x, c.y, c.addresses[R.MASTER_POP], c.sizes[R.MASTER_POP]))
            regions.append((c.x, c.y, c.addresses[R.SYNAPTIC_MATRIX], c.sizes[R.SYNAPTIC_MATRIX]))
        data = tx.read_memory_many(regions)
        for i, c in enumerate(cores):
            pop_data, matrix = data[2 * i], data[2 * i + 1]
            for entry, block, order, shift, gws in c.plastic_blocks:
                got = R.unpack_synaptic_block(pop_data, matrix, entry)
                w = R.dequantise_weights(got["weight_u16"], shift, gws)
                proj = block.edge.payload
                arrays = proj._arrays()
                target = block.conn_idx[order]
                sign = np.sign(arrays["weight"][target])
                sign[sign == 0] = 1
                arrays["weight"][target] = w * sign

    # ------------------------------------------------------------------ end
    def unload(self):
        tx = self.tx
        try:
            tx.stop_application(APP_ID)
        except Exception:
            pass
        chips = {(c.x, c.y) for c in self.cores.values()} | set(self.mapping.tables)
        for (x, y) in chips:
            try:
                tx.free_sdram_by_app(x, y, APP_ID)
            except Exception:
                pass
            try:
                tx.free_routes(x, y, APP_ID)
            except Exception:
                pass

    def placement_report(self):
        return {c.mv.label: [c.x, c.y, c.p, c.kernel] for c in self.cores.values()}
