"""The neuron-app kernels (sPyNNaker's binaries): one per neuron model, the two
spike sources and the delay extension. All are timer driven (docs/RUNTIME.md):
start() reads the regions and calls core.start_simulation; receive() takes the
multicast spikes; tick(t) runs one timestep; paused() writes back what the host
may read (neuron state, plastic weights, recordings, Poisson seed) and marks the
parameters for re-reading, because the host may change them before resuming
(set(), new spike times, new rates)."""
import numpy as np

from ..kernels import Kernel, kernel
from ..regions import read_region_table, read_system_region
from . import regions as R
from .current_sources import CurrentSources
from .models import MODELS
from .recording import FLUSH_TICKS, RecordingChannel
from .sources import DelayExtension, Poisson, SpikeArray
from .synapses import SynapseProcessor


def _words(core, addr, n):
    return np.frombuffer(core.read(addr, 4 * n), dtype="<u4") if n else np.zeros(0, "<u4")


class TimerKernel(Kernel):
    n_regions = 2
    recording_regions = ()

    def start(self):
        c = self.core
        self.regions = read_region_table(c, self.n_regions)
        period, n_ticks, scale = read_system_region(c, self.regions[R.SYSTEM])
        prov = int(_words(c, self.regions[R.SYSTEM] + 12, 1)[0])
        self.next_tick = 0
        self._resumed = False
        self.recorders = [RecordingChannel(c, self.regions[r]) for r in self.recording_regions]
        self.load()
        c.start_simulation(period, n_ticks, sync_wait=True, time_scale=scale,
                           provenance_address=prov)

    def region(self, i):
        return self.regions[i] if i < len(self.regions) else 0

    def receive(self, packets):
        if not packets:
            return
        keys = np.concatenate([np.asarray(k, dtype=np.uint32) for _t, k, _p in packets])
        ticks = np.concatenate([np.full(len(k), t, dtype=np.int64) for t, k, _p in packets])
        self.spikes_in(ticks, keys)

    def tick(self, t):
        if self._resumed:
            self._resumed = False
            for r in self.recorders:
                r.reload()
            self.reload()
        self.step(t)
        self.next_tick = t + 1
        if (t + 1) % FLUSH_TICKS == 0:
            for r in self.recorders:
                r.flush()

    def paused(self, t_end):
        self.save()
        for r in self.recorders:
            r.flush()
        self._resumed = True

    def stop(self):
        for r in getattr(self, "recorders", ()):
            try:
                r.flush()
            except Exception:
                pass

    # subclass hooks
    def load(self):
        pass

    def reload(self):
        pass

    def save(self):
        pass

    def spikes_in(self, ticks, keys):
        pass

    def step(self, t):
        pass

    def _count(self, name, n):
        self.core.provenance[name] = self.core.provenance.get(name, 0) + n


class NeuronKernel(TimerKernel):
    """A population slice: neuron model + synapses (+ STDP) + recording."""
    model = None
    n_regions = R.N_NEURON_REGIONS
    recording_regions = (R.REC_SPIKES, R.REC_V, R.REC_GSYN_EXC, R.REC_GSYN_INH)

    def load(self):
        c = self.core
        info = R.unpack_neuron_core_region(c.read(self.regions[R.CORE], R.NEURON_CORE_REGION_BYTES))
        self.has_key, self.base_key = info["has_key"], info["base_key"]
        self.n = info["n_neurons"]
        self._read_params()
        stdp = None
        if self.region(R.SYNAPSE_DYNAMICS):
            a = self.regions[R.SYNAPSE_DYNAMICS]
            n_rules = int(_words(c, a, 1)[0])      # one STDP rule per plastic block
            if n_rules:
                stdp = R.unpack_synapse_dynamics(c.read(a, R.synapse_dynamics_size(n_rules)),
                                                 info["global_weight_scale"])
        pop = matrix = None
        if self.region(R.MASTER_POP):
            a = self.regions[R.MASTER_POP]
            n_entries = int(_words(c, a, 1)[0])
            pop = _words(c, a, 1 + n_entries * R.POP_ENTRY_WORDS)
            e = pop[1:].reshape(n_entries, R.POP_ENTRY_WORDS).astype(np.int64)
            end = int((e[:, 2] + e[:, 3] * e[:, 4]).max()) if n_entries else 0
            matrix = _words(c, self.regions[R.SYNAPTIC_MATRIX], end)
        # STDP decay tables and short-term plasticity need the timestep
        self.syn = SynapseProcessor(self.n, info["ring_buffer_shifts"],
                                    info["global_weight_scale"], pop, matrix, stdp,
                                    n_types=max(R.N_SYNAPSE_TYPES, info["n_synapse_types"]),
                                    dt=info["timestep_ms"])
        self.rec_spikes, self.rec_v, self.rec_ge, self.rec_gi = self.recorders[:4]
        # stochastic synapses: a per-core stream
        self.syn.rng = np.random.Generator(np.random.PCG64([c.x, c.y, c.p, self.base_key]))
        self.currents = CurrentSources(self.n)
        self._read_current_sources()

    def _read_current_sources(self):
        a = self.region(R.CURRENT_SOURCES)
        if not a:
            return
        c = self.core
        n = int(_words(c, a, 1)[0])
        # walk the variable-length entries to find the region's used length
        pos = 1
        for _ in range(n):
            _k, nt, npw = (int(x) for x in _words(c, a + 4 * pos, 3))
            pos += 3 + nt + npw
        self.currents.load(c.read(a, 4 * pos))

    def _read_params(self):
        c, a = self.core, self.regions[R.NEURON_PARAMS]
        model_id, n, n_fields = (int(x) for x in _words(c, a, 3))
        m, self.f = R.unpack_neuron_fields(c.read(a, 12 + 4 * n * n_fields), kernel_units=True)
        if m.kernel_name != self.model.kernel_name or n != self.n:
            raise ValueError("NEURON_PARAMS holds %d %s neurons; this core runs %d %s"
                             % (n, m.name, self.n, self.model.name))

    def reload(self):
        self._read_params()
        self._read_current_sources()

    def save(self):
        c = self.core
        c.write(self.regions[R.NEURON_PARAMS], R.encode_neuron_fields(self.model.model_id, self.f))
        for offset, block in self.syn.plastic_blocks():
            c.write(self.regions[R.SYNAPTIC_MATRIX] + 4 * offset, block.tobytes())
        for k, v in self.syn.counters.items():
            self.core.provenance[k] = v

    def spikes_in(self, ticks, keys):
        self.syn.receive(ticks, keys, self.next_tick)

    def step(self, t):
        inp = self.syn.take(t)
        currents = getattr(self, "currents", None)
        if currents:
            # sPyNNaker adds the current sources to the external bias, with I_offset
            base = self.f["i_offset"]
            self.f["i_offset"] = base + currents.tick(t)
            try:
                spiked, values = self.model_step(inp)
            finally:
                self.f["i_offset"] = base
        else:
            spiked, values = self.model_step(inp)
        idx = np.flatnonzero(spiked)
        if idx.size:
            if self.has_key:
                self.core.send_mc((np.uint32(self.base_key) | idx.astype(np.uint32)))
            self.syn.post_spikes(t, idx)
            if self.rec_spikes.active:
                self.rec_spikes.spikes(t, spiked)
        for ch, val in zip(self.value_channels(), values):
            if ch.active:
                ch.values(t, val)

    def model_step(self, inp):
        """One neuron update: (spiked mask, values for each of value_channels())."""
        spiked, v, ge, gi = self.model.step(self.f, inp[0], inp[1])
        return spiked, (v, ge, gi)

    def value_channels(self):
        return (self.rec_v, self.rec_ge, self.rec_gi)


def _neuron_kernel(model):
    cls = type("%sKernel" % model.name.replace("_", ""), (NeuronKernel,), {"model": model})
    return kernel(model.kernel_name)(cls)


NEURON_KERNELS = {name: _neuron_kernel(m) for name, m in MODELS.items()}


class _SourceKernel(TimerKernel):
    n_regions = R.N_SOURCE_REGIONS
    recording_regions = (R.SOURCE_REC_SPIKES,)

    def load(self):
        info = R.unpack_source_core_region(
            self.core.read(self.regions[R.SOURCE_CORE], R.SOURCE_CORE_REGION_BYTES))
        self.has_key, self.base_key, self.n = info["has_key"], info["base_key"], info["n_neurons"]
        self.rec = self.recorders[0]
        self.read_source()

    def reload(self):
        self.read_source()

    def emit(self, t, neurons):
        """neurons: indices, repeated for several spikes in one tick."""
        if neurons.size == 0:
            return
        if self.has_key:
            self.core.send_mc(np.uint32(self.base_key) | neurons.astype(np.uint32))
        if self.rec.active:
            self.rec.spikes(t, np.bincount(neurons, minlength=self.n))


@kernel("spike_src_array")
class SpikeSourceArrayKernel(_SourceKernel):
    def read_source(self):
        a = self.regions[R.SPIKE_TIMES]
        n = int(_words(self.core, a, 1)[0])
        ticks, ids = R.unpack_spike_times(self.core.read(a, R.spike_times_size(n)))
        self.src = SpikeArray(ticks, ids)

    def step(self, t):
        self.emit(t, self.src.tick(t))


@kernel("spike_src_poiss")
class SpikeSourcePoissonKernel(_SourceKernel):
    def read_source(self):
        a = self.regions[R.POISSON_PARAMS]
        n = int(_words(self.core, a, 1)[0])
        p = R.unpack_poisson_params(self.core.read(a, R.poisson_params_size(n)))
        if getattr(self, "src", None) is None:
            self.src = Poisson(p["spikes_per_tick"], p["start_tick"], p["end_tick"], p["seed"])
        else:
            self.src.set_params(p["spikes_per_tick"], p["start_tick"], p["end_tick"])
            self.src.reseed(p["seed"])

    def save(self):
        seed = self.src.next_seed()
        self.core.write(self.regions[R.POISSON_PARAMS] + 4, np.array(seed, "<u4").tobytes())

    def step(self, t):
        self.emit(t, self.src.spikes(t))


@kernel("delay_extension")
class DelayExtensionKernel(TimerKernel):
    n_regions = R.N_DELAY_REGIONS

    def load(self):
        a = self.regions[R.DELAY_PARAMS]
        head = _words(self.core, a, 6)
        n, ns = int(head[3]), int(head[5])
        p = R.unpack_delay_params(self.core.read(a, R.delay_params_size(n, ns)))
        self.in_key, self.in_mask = np.uint32(p["in_key"]), np.uint32(p["in_mask"])
        self.dx = DelayExtension(n, ns, p["neuron_bits"], p["base_key"], p["stage_masks"])

    def spikes_in(self, ticks, keys):
        m = (keys & self.in_mask) == self.in_key
        idx = (keys[m] & ~self.in_mask).astype(np.int64)
        ok = idx < self.dx.n
        if not (m.all() and ok.all()):
            self._count("unmatched_keys", int((~m).sum() + (~ok).sum()))
        self.dx.receive(ticks[m][ok], idx[ok])

    def step(self, t):
        keys = self.dx.tick(t)
        if keys.size:
            self.core.send_mc(keys)
