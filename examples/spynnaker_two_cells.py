"""Unmodified sPyNNaker on an emulated board: three input spikes into five IF_curr_exp
cells, run by sPyNNaker's own binaries on the emulated ARM cores. Writes
spynnaker_two_cells.png: the input and cell rasters and the cells' membrane voltage.
Every cell fires 7 ms after each input: at 17, 34 and 53 ms.

Needs sPyNNaker 1!7.4.1 (`pip install 'sPyNNaker==1!7.4.1'`, also in this project's test
extra), a board (`spinnaker-emu up --ip 127.0.1.1`) and ~/.spynnaker.cfg naming it:

    [Machine]
    machine_name = 127.0.1.1
    version = 5
    enable_advanced_monitor_support = False
    enable_reinjection = False

then:  python examples/spynnaker_two_cells.py
"""
import matplotlib
matplotlib.use("Agg")
from pyNN.utility.plotting import Figure, Panel

import pyNN.spiNNaker as p

p.setup(timestep=1.0)
source = p.Population(1, p.SpikeSourceArray(spike_times=[10, 30, 50]), label="input")
cells = p.Population(5, p.IF_curr_exp(), label="cells")
p.Projection(source, cells, p.AllToAllConnector(), p.StaticSynapse(weight=5.0, delay=1.0))
cells.record(["spikes", "v"])
source.record("spikes")
p.run(100)
seg = cells.get_data(["spikes", "v"]).segments[0]
inp = source.get_data("spikes").segments[0]
for i, st in enumerate(seg.spiketrains):
    print("cell", i, "spikes at", st.magnitude.tolist())
p.end()

Figure(Panel(inp.spiketrains, ylabel="input", yticks=True, xlim=(0, 100)),
       Panel(seg.spiketrains, ylabel="cells", yticks=True, xlim=(0, 100)),
       Panel(seg.filter(name="v")[0], ylabel="v (mV)", xticks=True, yticks=True,
             xlabel="Time (ms)", xlim=(0, 100)),
       title="Unmodified sPyNNaker 7.4.1 on spinnaker-emu").save("spynnaker_two_cells.png")
print("wrote spynnaker_two_cells.png")
