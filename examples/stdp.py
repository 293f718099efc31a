"""STDP in PyNN (SpiNNaker 2016 lab manual): 100 pre -> 100 post cells one-to-one
with pair-based additive STDP; a correlated 10 Hz training input from 2 to 3 s
drives the weights up.  Writes stdp_raster.png and stdp_weights.png.

    spinnaker-emu run examples/stdp.py
"""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import spinnaker_emu.pynn as sim

sim.setup(timestep=1.0)
n = 100
pre = sim.Population(n, sim.IF_curr_exp(), label="Pre")
post = sim.Population(n, sim.IF_curr_exp(), label="Post")
pre_noise = sim.Population(n, sim.SpikeSourcePoisson(rate=10.0), label="Noise_Pre")
post_noise = sim.Population(n, sim.SpikeSourcePoisson(rate=10.0), label="Noise_Post")
training = sim.Population(n, sim.SpikeSourcePoisson(rate=10.0, start=2000.0, duration=1000.0),
                          label="Training")
one = sim.OneToOneConnector()
sim.Projection(pre_noise, pre, one, sim.StaticSynapse(weight=2.0))
sim.Projection(post_noise, post, one, sim.StaticSynapse(weight=2.0))
sim.Projection(training, pre, one, sim.StaticSynapse(weight=5.0, delay=1.0))
sim.Projection(training, post, one, sim.StaticSynapse(weight=5.0, delay=10.0))
stdp = sim.STDPMechanism(
    timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.5, A_minus=0.5),
    weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=5.0),
    weight=0.0, delay=5.0)
plastic = sim.Projection(pre, post, one, stdp)
pre.record("spikes")
post.record("spikes")
sim.run(5000)
weights = np.array(plastic.get("weight", format="list", with_address=False), dtype=float)
pre_trains = pre.get_data("spikes").segments[0].spiketrains
post_trains = post.get_data("spikes").segments[0].spiketrains
print("final weights: mean %.3f, min %.3f, max %.3f" % (weights.mean(), weights.min(),
                                                          weights.max()))
sim.end()

plt.figure()
for i, st in enumerate(pre_trains):
    plt.plot(st.magnitude, [i] * len(st), "r.", markersize=2)
for i, st in enumerate(post_trains):
    plt.plot(st.magnitude, [i] * len(st), "b.", markersize=2)
plt.xlabel("Time (ms)")
plt.ylabel("Neuron")
plt.savefig("stdp_raster.png")
plt.figure()
plt.hist(weights, bins=20, range=(0, 5))
plt.xlabel("Weight (nA)")
plt.savefig("stdp_weights.png")
print("wrote stdp_raster.png, stdp_weights.png")
