"""Spike trains, v/gsyn traces and STDP weights of five small seeded networks (IF_curr_exp at dt
0.1 and, with STDP and delay extensions, at dt 1; IF_cond_exp; Izhikevich; IF_curr_alpha),
saved to an .npz, so that a change meant to keep the numerics (compiled kernels, routing)
can be checked bit for bit against the code before it (docs/PERFORMANCE.md).

    SPINNAKER_EMU_SPREAD=2 python scripts/golden_spikes.py before.npz   # on the old code
    SPINNAKER_EMU_SPREAD=2 python scripts/golden_spikes.py after.npz
    python -c "import numpy as np; a, b = np.load('before.npz'), np.load('after.npz'); print([k for k in a if not np.array_equal(a[k], b[k])])"
"""
import sys
import numpy as np
import spinnaker_emu.pynn as sim
from pyNN.random import NumpyRNG, RandomDistribution

out = {}


def spikes_of(pop):
    seg = pop.get_data("spikes").segments[0]
    return [np.asarray(st.magnitude) for st in seg.spiketrains]


def store(tag, pop, with_v=False, with_g=False):
    st = spikes_of(pop)
    out[tag + "_n"] = np.array([len(s) for s in st])
    out[tag + "_t"] = np.concatenate(st) if st else np.zeros(0)
    if with_v or with_g:
        seg = pop.get_data().segments[0]
        for sig in seg.analogsignals:
            out[tag + "_" + sig.name] = np.asarray(sig.magnitude)[:, :20]


def net(cell, cell_params, dt, T, n=600, w_e=0.2, w_i=-1.0, delay=2.0, stim_w=2.0, rate=10.0,
        stdp=False, extra_delay=None):
    sim.setup(timestep=dt)
    rng = NumpyRNG(seed=4242, parallel_safe=True)
    ne, ni = int(n * 0.8), n - int(n * 0.8)
    E = sim.Population(ne, cell(**cell_params), label="E")
    I = sim.Population(ni, cell(**cell_params), label="I")
    SE = sim.Population(ne, sim.SpikeSourcePoisson(rate=rate), label="SE", additional_parameters={"seed": 11})
    SI = sim.Population(ni, sim.SpikeSourcePoisson(rate=rate), label="SI", additional_parameters={"seed": 12})
    FP = sim.FixedProbabilityConnector
    sim.Projection(E, E, FP(0.1, rng=rng), sim.StaticSynapse(weight=w_e, delay=delay), receptor_type="excitatory")
    sim.Projection(E, I, FP(0.1, rng=rng), sim.StaticSynapse(weight=w_e, delay=delay), receptor_type="excitatory")
    sim.Projection(I, E, FP(0.1, rng=rng), sim.StaticSynapse(weight=abs(w_i), delay=delay), receptor_type="inhibitory")
    sim.Projection(I, I, FP(0.1, rng=rng), sim.StaticSynapse(weight=abs(w_i), delay=delay), receptor_type="inhibitory")
    d = RandomDistribution("uniform", [dt, dt * 6], rng=rng)
    sim.Projection(SE, E, sim.OneToOneConnector(), sim.StaticSynapse(weight=stim_w, delay=d), receptor_type="excitatory")
    sim.Projection(SI, I, sim.OneToOneConnector(), sim.StaticSynapse(weight=stim_w, delay=d), receptor_type="excitatory")
    if extra_delay:
        sim.Projection(E, I, FP(0.05, rng=rng), sim.StaticSynapse(weight=w_e, delay=extra_delay), receptor_type="excitatory")
    if stdp:
        rule = sim.STDPMechanism(timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.01, A_minus=0.012),
                                 weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=1.0), weight=w_e, delay=delay)
        prj = sim.Projection(E, I, FP(0.05, rng=rng), rule, receptor_type="excitatory")
    E.record(["spikes", "v"] + (["gsyn_exc", "gsyn_inh"] if "cond" in cell.__name__ else []))
    I.record("spikes")
    E.initialize(v=RandomDistribution("uniform", [-65.0, -55.0], rng=rng))
    sim.run(T)
    if stdp:
        w = np.asarray(prj.get("weight", format="array"))
        out[cell.__name__ + "_stdp_w"] = np.nan_to_num(w)
    return E, I


tests = [
    ("curr", sim.IF_curr_exp, {}, 0.1, 300.0, dict(stim_w=4.0, rate=20.0)),
    ("curr_dt1_stdp_long", sim.IF_curr_exp, {}, 1.0, 400.0, dict(stdp=True, extra_delay=40.0, rate=20.0)),
    ("cond", sim.IF_cond_exp, {}, 0.1, 200.0, dict(w_e=0.004, w_i=0.02, stim_w=0.05, rate=20.0)),
    ("izh", sim.Izhikevich, {}, 1.0, 300.0, dict(w_e=1.0, w_i=-2.0, stim_w=8.0, rate=20.0)),
    ("alpha", sim.IF_curr_alpha, {}, 0.1, 200.0, dict(stim_w=10.0, rate=30.0)),
]
only = sys.argv[2:] or None
for tag, cell, params, dt, T, kw in tests:
    if only and tag not in only:
        continue
    E, I = net(cell, params, dt, T, **kw)
    store(tag + "_E", E, with_v=True)
    store(tag + "_I", I)
    sim.end()
    print(tag, "E spikes", out[tag + "_E_n"].sum(), "I spikes", out[tag + "_I_n"].sum(), flush=True)
np.savez(sys.argv[1], **out)
