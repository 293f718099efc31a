"""sPyNNaker's neural applications as emulated kernels.

- models.py     neuron models (IF_curr_exp, IF_cond_exp, IF_curr_alpha, Izhikevich)
- synapses.py   master population table, rows, ring buffers, pair STDP
- sources.py    SpikeSourceArray, SpikeSourcePoisson, delay extension logic
- recording.py  recording channels written into SDRAM
- regions.py    the region formats (pack/unpack for the host) and core descriptions
- kernels.py    the registered kernels: if_curr_exp, if_cond_exp, if_curr_alpha,
                izhikevich, spike_src_array, spike_src_poiss, delay_extension

docs/NEURON_APPS.md documents the formats.
"""
from . import kernels  # noqa: F401  (registers the kernels)
from . import kernels_extra  # noqa: F401  (float64 models_extra, renewal sources)
