"""A simple PyNN network (SpiNNaker 2016 lab manual): one IF_curr_exp cell driven by
one input spike at t=0; plots its membrane voltage to simple_network_v.png.

    spinnaker-emu run examples/simple_network.py
"""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

import spinnaker_emu.pynn as sim

sim.setup(timestep=1.0)
sim.set_number_of_neurons_per_core(sim.IF_curr_exp, 100)
cell = sim.Population(1, sim.IF_curr_exp(), label="pop_1")
source = sim.Population(1, sim.SpikeSourceArray(spike_times=[0]), label="input")
sim.Projection(source, cell, sim.OneToOneConnector(), sim.StaticSynapse(weight=5.0, delay=1))
cell.record(["spikes", "v"])
sim.run(10)
seg = cell.get_data().segments[0]
v = seg.filter(name="v")[0]
print("spikes:", seg.spiketrains[0].times)
sim.end()

plt.plot(v.times, v.magnitude[:, 0])
plt.xlabel("Time (ms)")
plt.ylabel("Membrane voltage (mV)")
plt.savefig("simple_network_v.png")
print("wrote simple_network_v.png")
