"""Balanced random network (SpiNNaker 2016 lab manual): 800 excitatory + 200
inhibitory IF_curr_exp cells, 10 Hz Poisson drive, 1 s at 0.1 ms.  Writes the
excitatory raster to balanced_random_raster.png.

    spinnaker-emu run examples/balanced_random.py
"""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

import spinnaker_emu.pynn as sim
from pyNN.random import RandomDistribution

sim.setup(timestep=0.1)
exc = sim.Population(800, sim.IF_curr_exp(), label="Excitatory")
inh = sim.Population(200, sim.IF_curr_exp(), label="Inhibitory")
stim_exc = sim.Population(800, sim.SpikeSourcePoisson(rate=10.0), label="Stim_Exc")
stim_inh = sim.Population(200, sim.SpikeSourcePoisson(rate=10.0), label="Stim_Inh")

conn = sim.FixedProbabilityConnector(0.1)
exc_syn = sim.StaticSynapse(weight=0.2, delay=2.0)
inh_syn = sim.StaticSynapse(weight=-1.0, delay=2.0)
sim.Projection(exc, exc, conn, exc_syn, receptor_type="excitatory")
sim.Projection(exc, inh, conn, exc_syn, receptor_type="excitatory")
sim.Projection(inh, inh, conn, inh_syn, receptor_type="inhibitory")
sim.Projection(inh, exc, conn, inh_syn, receptor_type="inhibitory")
stim = sim.StaticSynapse(weight=2.0, delay=RandomDistribution("uniform", [1.0, 1.6]))
sim.Projection(stim_exc, exc, sim.OneToOneConnector(), stim, receptor_type="excitatory")
sim.Projection(stim_inh, inh, sim.OneToOneConnector(), stim, receptor_type="excitatory")

for pop in (exc, inh):
    pop.initialize(v=RandomDistribution("uniform", [-65.0, -55.0]))
exc.record("spikes")
sim.run(1000)
trains = exc.get_data("spikes").segments[0].spiketrains
n = sum(len(st) for st in trains)
print("excitatory: %d spikes, %.3f Hz per neuron" % (n, n / 800.0))
sim.end()

for i, st in enumerate(trains):
    plt.plot(st.magnitude, [i] * len(st), "k.", markersize=1)
plt.xlabel("Time (ms)")
plt.ylabel("Neuron")
plt.axis([0, 1000, -1, 801])
plt.savefig("balanced_random_raster.png")
print("wrote balanced_random_raster.png")
