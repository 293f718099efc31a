"""E-I balanced random network ("Programming SpiNNaker"): 500 exc + 125 inh
IF_curr_exp, Poisson drive and a SpikeSourceArray volley at 1 s, delays U[1, 10] ms,
5 s.  Writes ei_balanced_raster.png (pyNN.utility.plotting).

    spinnaker-emu run examples/ei_balanced.py
"""
import matplotlib
matplotlib.use("Agg")
from pyNN.utility.plotting import Figure, Panel

import spinnaker_emu.pynn as sim

sim.setup(timestep=1)
poisson = sim.Population(250, sim.SpikeSourcePoisson(rate=50, duration=5000), label="poisson")
volley = sim.Population(250, sim.SpikeSourceArray(spike_times=[1000]), label="volley")
exc_params = dict(tau_m=20.0, cm=1.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0,
                  tau_syn_E=5.0, tau_syn_I=15.0, tau_refrac=0.3, i_offset=0)
inh_params = dict(exc_params, tau_syn_I=5.0)
exc = sim.Population(500, sim.IF_curr_exp(**exc_params), label="excitatory")
inh = sim.Population(125, sim.IF_curr_exp(**inh_params), label="inhibitory")
rng = sim.NumpyRNG(seed=98766987)
exc.initialize(v=sim.RandomDistribution("uniform", [-65.0, -50.0], rng=rng))
delay = sim.RandomDistribution("uniform", [1, 10], rng=rng)


def fp(p):
    return sim.FixedProbabilityConnector(p_connect=p, rng=rng)


def syn(w):
    return sim.StaticSynapse(weight=w, delay=delay)


sim.Projection(volley, exc, fp(0.05), syn(0.1), receptor_type="excitatory")
sim.Projection(poisson, exc, fp(0.2), syn(0.06), receptor_type="excitatory")
sim.Projection(poisson, inh, fp(0.2), syn(0.03), receptor_type="excitatory")
sim.Projection(exc, exc, fp(0.1), syn(0.03), receptor_type="excitatory")
sim.Projection(inh, inh, fp(0.1), syn(-0.03), receptor_type="inhibitory")
sim.Projection(exc, inh, fp(0.2), syn(0.06), receptor_type="excitatory")
sim.Projection(inh, exc, fp(0.2), syn(-0.06), receptor_type="inhibitory")
exc.record("spikes")
inh.record("spikes")
sim.run(5000)
e = exc.get_data("spikes")
i = inh.get_data("spikes")
for label, block, n in (("exc", e, 500), ("inh", i, 125)):
    total = sum(len(st) for st in block.segments[0].spiketrains)
    print("%s: %.2f Hz" % (label, total / n / 5.0))
sim.end()
Figure(Panel(e.segments[0].spiketrains, ylabel="exc", yticks=True),
       Panel(i.segments[0].spiketrains, ylabel="inh", xlabel="Time (ms)", xticks=True,
             yticks=True), size=(12, 6)).save("ei_balanced_raster.png")
print("wrote ei_balanced_raster.png")
