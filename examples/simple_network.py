"""A simple PyNN network (SpiNNaker 2016 lab manual): one IF_curr_exp cell driven by
one input spike at t=0.  Writes simple_network.png: the raster of the input and the
cell, and the cell's membrane voltage.

    spinnaker-emu run examples/simple_network.py
"""
import matplotlib
matplotlib.use("Agg")
from pyNN.utility.plotting import Figure, Panel

import spinnaker_emu.pynn as sim

sim.setup(timestep=1.0)
sim.set_number_of_neurons_per_core(sim.IF_curr_exp, 100)
cell = sim.Population(1, sim.IF_curr_exp(), label="pop_1")
source = sim.Population(1, sim.SpikeSourceArray(spike_times=[0]), label="input")
sim.Projection(source, cell, sim.OneToOneConnector(), sim.StaticSynapse(weight=5.0, delay=1))
cell.record(["spikes", "v"])
source.record("spikes")
sim.run(10)
seg = cell.get_data().segments[0]
inp = source.get_data("spikes").segments[0]
print("input spikes:", inp.spiketrains[0].times)
print("cell spikes: ", seg.spiketrains[0].times)
sim.end()

Figure(Panel(inp.spiketrains, ylabel="input", yticks=True, xlim=(0, 10)),
       Panel(seg.spiketrains, ylabel="pop_1", yticks=True, xlim=(0, 10)),
       Panel(seg.filter(name="v")[0], ylabel="v (mV)", xticks=True, yticks=True,
             xlabel="Time (ms)", xlim=(0, 10)),
       title="simple network on spinnaker-emu").save("simple_network.png")
print("wrote simple_network.png")
