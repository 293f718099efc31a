"""A small PyNN network for tests/test_cluster.py: a spike source and three
IF_curr_exp populations in a loop; "spread" pins them to chips of the three boards
of a triad (job coordinates), "free" lets the mapper place them. Prints every
spike train as JSON."""
import json, sys
import spinnaker_emu.pynn as sim

where = sys.argv[1]           # "spread": constraints on 3 boards; "free": no constraints
kw = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
RUN_MS = float(kw.pop("run_ms", 300))
sim.setup(timestep=1.0, **kw)
times = [[float(t) for t in range(3 + 7 * i, 300, 11 + 2 * i)] for i in range(5)]
src = sim.Population(5, sim.SpikeSourceArray(spike_times=times), label="src")
a = sim.Population(20, sim.IF_curr_exp(tau_m=10.0), label="a")
b = sim.Population(20, sim.IF_curr_exp(tau_m=12.0), label="b")
c = sim.Population(20, sim.IF_curr_exp(tau_m=15.0), label="c")
if where == "spread":
    src.add_placement_constraint(1, 1)       # board 1 (host1)
    a.add_placement_constraint(9, 5)         # board 2 (host1)
    b.add_placement_constraint(5, 9)         # board 3 (host2)
    c.add_placement_constraint(2, 2)         # board 1 again
sim.Projection(src, a, sim.AllToAllConnector(), sim.StaticSynapse(weight=2.0, delay=1.0))
sim.Projection(a, b, sim.FixedProbabilityConnector(0.5, rng=sim.NumpyRNG(seed=1)),
               sim.StaticSynapse(weight=3.0, delay=2.0))
sim.Projection(b, c, sim.OneToOneConnector(), sim.StaticSynapse(weight=8.0, delay=3.0))
sim.Projection(c, a, sim.FixedProbabilityConnector(0.2, rng=sim.NumpyRNG(seed=2)),
               sim.StaticSynapse(weight=-1.0, delay=1.0), receptor_type="inhibitory")
for p in (a, b, c):
    p.record("spikes")
print("run", file=sys.stderr, flush=True)
sim.run(RUN_MS)
out = {p.label: [[float(t) for t in st] for st in p.get_data("spikes").segments[0].spiketrains]
       for p in (a, b, c)}
sim.end()
print(json.dumps(out))
