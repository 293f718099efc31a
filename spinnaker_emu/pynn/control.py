"""setup / run / reset / end and the sPyNNaker control extras."""
import atexit
import logging
import warnings

import numpy as np
from pyNN import common
from pyNN.common.control import DEFAULT_MIN_DELAY
from pyNN.recording import get_io

from ..mapping.partition import MAX_DELAY_TICKS
from . import simulator

logger = logging.getLogger("spinnaker_emu.pynn")
_MACHINE_KEYS = ("machine_name", "version", "spalloc_server", "time_scale_factor")


def setup(timestep=0.1, min_delay=DEFAULT_MIN_DELAY, **extra_params):
    """Start a new network.  ``timestep`` in ms ("auto" = 1.0, None = 0.1 as on
    sPyNNaker); ``max_delay`` is kept only for get_max_delay() (SpiNNaker allows up to
    144 timesteps); sPyNNaker's ``time_scale_factor``, ``n_chips_required`` and
    ``n_boards_required`` and the [Machine] keys ``machine_name``, ``version``,
    ``spalloc_server`` are accepted."""
    if timestep is None:
        warnings.warn("setup(timestep=None): using 0.1 ms (as sPyNNaker does)")
        timestep = 0.1
    if timestep == "auto":
        timestep = 1.0
    timestep = float(timestep)
    max_delay = extra_params.get("max_delay", "auto")
    if max_delay in (None, "auto"):
        max_delay = MAX_DELAY_TICKS * timestep
    extra_params["max_delay"] = max_delay
    common.setup(timestep, min_delay, **extra_params)
    state = simulator.state
    state.clear()
    state.dt = timestep
    state.min_delay = timestep if min_delay == "auto" else float(min_delay)
    state.min_delay_auto = (min_delay == "auto")
    state.max_delay = float(max_delay)
    state.mpi_rank = 0
    state.num_processes = 1
    state.extra_params = dict(extra_params)
    state.neurons_per_core = {}
    if state.runner is not None:
        state.runner.configure(extra_params)
    return rank()


def end(compatible_output=True):
    """Write files requested by record(..., filename), stop the machine (a board this
    script started is shut down)."""
    state = simulator.state
    for (population, variables, filename) in state.write_on_end:
        population.write_data(get_io(filename), variables)
    state.write_on_end = []
    state.shutdown()


atexit.register(lambda: simulator.state.shutdown())

run, run_until = common.build_run(simulator)
run_for = run
reset = common.build_reset(simulator)
initialize = common.initialize
get_current_time, get_time_step, _get_min_delay, get_max_delay, \
    num_processes, rank = common.build_state_queries(simulator)


def get_min_delay():
    """The minimum synaptic delay (ms): as given to setup(), or with
    ``min_delay='auto'`` the shortest delay in the network (the timestep when there
    are no connections yet), as NEST resolves it."""
    state = simulator.state
    if getattr(state, "min_delay_auto", False):
        delays = [float(np.min(p._arrays()["delay"])) for p in state.projections if len(p)]
        if delays:
            return min(delays)
    return _get_min_delay()


def set_number_of_neurons_per_core(neuron_type, max_permitted):
    """sPyNNaker: at most ``max_permitted`` neurons of this cell type per core, for
    populations created afterwards (default 256)."""
    if isinstance(neuron_type, str) or not isinstance(neuron_type, type):
        raise TypeError("set_number_of_neurons_per_core takes a cell type class, e.g. "
                        "sim.IF_curr_exp, not %r" % (neuron_type,))
    if max_permitted is None:
        simulator.state.neurons_per_core.pop(neuron_type.__name__, None)
        return
    if isinstance(max_permitted, (tuple, list)):
        n = 1
        for m in max_permitted:
            n *= int(m)
        max_permitted = n
    if int(max_permitted) < 1:
        raise ValueError("neurons per core must be at least 1")
    simulator.state.neurons_per_core[neuron_type.__name__] = int(max_permitted)


def set_number_of_synapse_cores(neuron_type, n_synapse_cores):
    logger.info("set_number_of_synapse_cores: synapses are processed on the neuron cores")


def set_allow_delay_extensions(neuron_type, allow_delay_extensions):
    simulator.state.extra_params.setdefault("allow_delay_extensions", {})[
        neuron_type.__name__] = bool(allow_delay_extensions)


def name():
    return "spinnaker_emu"


def get_machine():
    """The machine the network runs on (a spinnaker_emu.machine.geometry.Machine)."""
    return simulator.state._get_runner().get_machine()
