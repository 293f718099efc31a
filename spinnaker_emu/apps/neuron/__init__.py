"""sPyNNaker's neural applications as emulated kernels.

- models.py     neuron models (IF_curr_exp, IF_cond_exp, IF_curr_alpha, Izhikevich)
- synapses.py   master population table, rows, ring buffers, pair STDP
- sources.py    SpikeSourceArray, SpikeSourcePoisson, delay extension logic
- recording.py  recording channels written into SDRAM
- regions.py    the region formats (pack/unpack for the host) and core descriptions
- models_extra.py, kernels_extra.py  float64 models sPyNNaker lacks (IF_cond_alpha,
                EIF_*, HH_cond_exp, PointNeuron), NEST's equations
- sources_extra.py, regions_extra.py  renewal sources (SpikeSourceGamma,
                SpikeSourcePoissonRefractory)
- kernels.py    the registered kernels: if_curr_exp, if_cond_exp, if_curr_alpha,
                izhikevich, spike_src_array, spike_src_poiss, delay_extension

docs/NEURON_APPS.md documents the formats.
"""
from . import kernels  # noqa: F401  (registers the kernels)
from . import kernels_extra  # noqa: F401  (float64 models_extra, renewal sources)
