"""Kernels of the float64 neuron models (models_extra.py) and of the renewal spike
sources (sources_extra.py).

Neuron cores: the regions of the standard neuron kernels (regions.py), then one
recording region per further value channel of the model, from
regions.N_NEURON_REGIONS on (e.g. EIF: 'w'; HH: m, h, n; PointNeuron: receptor
slots 2 and 3, then w). Receptor slot k is synapse type k of the synaptic words.
"""
import numpy as np

from ..kernels import kernel
from . import regions as R
from .kernels import NeuronKernel, _SourceKernel, _words
from .models_extra import EXTRA_MODELS
from .regions_extra import renewal_params_size, renewal_state_writes, unpack_renewal_params
from .sources_extra import RenewalSource


class FloatNeuronKernel(NeuronKernel):
    def load(self):
        super().load()
        # channel order: v, slot 0, slot 1, then the extra regions
        self.float_channels = [self.rec_v, self.rec_ge, self.rec_gi] + self.recorders[4:]

    def model_step(self, inp):
        return self.model.step_channels(self.f, inp)

    def value_channels(self):
        return self.float_channels

def _float_kernel(model):
    extra = model.n_extra_channels()
    base = R.N_NEURON_REGIONS
    cls = type("%sKernel" % model.name.replace("_", ""), (FloatNeuronKernel,), {
        "model": model,
        "n_regions": base + extra,
        "recording_regions": (R.REC_SPIKES, R.REC_V, R.REC_GSYN_EXC, R.REC_GSYN_INH)
        + tuple(range(base, base + extra))})
    return kernel(model.kernel_name)(cls)


FLOAT_NEURON_KERNELS = {name: _float_kernel(m) for name, m in EXTRA_MODELS.items()}


@kernel("spike_src_renew")
class SpikeSourceRenewalKernel(_SourceKernel):
    """SpikeSourceGamma / SpikeSourcePoissonRefractory: a renewal process per neuron
    (regions: 0 SYSTEM, 1 SOURCE_CORE, 2 RENEWAL_PARAMS, 3 REC_SPIKES)."""

    def read_source(self):
        a = self.regions[R.POISSON_PARAMS]
        n = int(_words(self.core, a, 1)[0])
        p = unpack_renewal_params(self.core.read(a, renewal_params_size(n)))
        if getattr(self, "src", None) is None:
            self.src = RenewalSource(p, self.next_tick)
        else:
            self.src.set_params(p, self.next_tick)

    def save(self):
        a = self.regions[R.POISSON_PARAMS]
        seed, pending = self.src.state_at(self.next_tick)
        for offset, data in renewal_state_writes(self.n, seed, pending):
            self.core.write(a + offset, data)

    def step(self, t):
        counts = self.src.tick(t)
        idx = np.flatnonzero(counts)
        if idx.size:
            self.emit(t, np.repeat(idx, counts[idx]))
