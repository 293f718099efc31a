"""Simulator state of the spinnaker-emu PyNN backend.

The state collects the network (populations, projections) as it is built; ``run``
hands it to the machine runner (``runner.py``), which maps it onto the emulated
machine, loads it, runs the ticks on the board and extracts the recordings.
Nothing is simulated on the host.
"""
import logging

from pyNN import common

from ..mapping.partition import MAX_DELAY_TICKS

name = "spinnaker_emu"
logger = logging.getLogger("spinnaker_emu.pynn")


class ID(int, common.IDMixin):
    def __init__(self, n):
        int.__init__(n)
        common.IDMixin.__init__(self)


class State(common.control.BaseState):

    def __init__(self):
        common.control.BaseState.__init__(self)
        self.mpi_rank = 0
        self.num_processes = 1
        self.dt = 1.0
        self.min_delay = 1.0
        self.max_delay = float(MAX_DELAY_TICKS)      # ticks of 1 ms until setup() says otherwise
        self.runner = None
        self.extra_params = {}
        self.neurons_per_core = {}
        self.clear()

    # -- time -------------------------------------------------------------------------
    @property
    def tick(self):
        """Number of timesteps simulated since the last reset."""
        return int(round(self.t / self.dt))

    def n_ticks_until(self, tstop):
        return max(0, int(round(tstop / self.dt)) - self.tick)

    def run(self, simtime):
        self.run_until(self.t + simtime)

    def run_until(self, tstop):
        n = self.n_ticks_until(tstop)
        if n > 0:
            self._get_runner().run(n)
        self.t = (self.tick + n) * self.dt
        self.running = True

    def _get_runner(self):
        if self.runner is None:
            from .runner import Runner
            self.runner = Runner(self)
        return self.runner

    # -- network ----------------------------------------------------------------------
    def clear(self):
        self.recorders = set()
        self.populations = []
        self.projections = []
        self.id_counter = 0
        self.segment_counter = -1
        self.write_on_end = []
        if self.runner is not None:
            self.runner.forget_network()
        self.reset()

    def reset(self):
        self.running = False
        self.t = 0.0
        self.t_start = 0
        self.segment_counter += 1
        for rec in self.recorders:
            rec._clear_data()
        if self.runner is not None:
            self.runner.reset()

    def shutdown(self):
        if self.runner is not None:
            runner, self.runner = self.runner, None
            runner.close()


state = State()
