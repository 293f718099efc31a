"""spinnaker-emu's PyNN 0.13 backend: ``import spinnaker_emu.pynn as sim``.

Scripts written for sPyNNaker (``pyNN.spiNNaker``) or for NEST run unchanged; the
network is mapped onto an emulated (or real) SpiNNaker machine and run there.
"""
import warnings as _warnings

from pyNN import errors, random, space                      # noqa: F401
from pyNN.network import Network                            # noqa: F401
from pyNN.space import (Space, Line, Grid2D, Grid3D, Cuboid, Sphere,  # noqa: F401
                        RandomStructure)
from pyNN.random import NumpyRNG, GSLRNG, RandomDistribution  # noqa: F401
from pyNN.recording import *                                # noqa: F401,F403
from pyNN.standardmodels import StandardCellType, build_translations  # noqa: F401
from pyNN.parameters import LazyArray                       # noqa: F401

from .connectors import *                                   # noqa: F401,F403
from .connectors import OneToOneConnector                   # noqa: F401
from .standardmodels import (IF_curr_exp, IF_cond_exp, IF_curr_alpha, IF_curr_delta,  # noqa
                             Izhikevich, SpikeSourceArray, SpikeSourcePoisson,
                             StaticSynapse, STDPMechanism, SpikePairRule,
                             AdditiveWeightDependence, MultiplicativeWeightDependence,
                             TsodyksMarkramSynapse, SimpleStochasticSynapse,
                             DCSource, ACSource, StepCurrentSource, NoisyCurrentSource)
from .extra_cells import (IF_cond_alpha, EIF_cond_exp_isfa_ista,  # noqa: F401
                          EIF_cond_alpha_isfa_ista, HH_cond_exp, SpikeSourceGamma,
                          SpikeSourcePoissonRefractory, PointNeuron, LIF, AdExp,
                          CurrExpPostSynapticResponse, CondExpPostSynapticResponse,
                          CondAlphaPostSynapticResponse, AlphaPSR, ExpPSR)
from .populations import Population, PopulationView, Assembly  # noqa: F401
from .projections import Projection                         # noqa: F401
from .recording import Recorder                             # noqa: F401
from . import simulator                                     # noqa: F401
from .simulator import state                                # noqa: F401
from .control import (setup, end, run, run_until, run_for, reset, initialize,  # noqa: F401
                      get_current_time, get_time_step, get_min_delay, get_max_delay,
                      num_processes, rank, set_number_of_neurons_per_core,
                      set_number_of_synapse_cores, set_allow_delay_extensions, name,
                      get_machine)
from .procedural_api import create, connect, record, record_v, record_gsyn  # noqa: F401
from . import extra_models                                  # noqa: F401

SpiNNakerProjection = Projection


def list_standard_models():
    """Names of the standard cell types this backend runs."""
    return [obj.__name__ for obj in globals().values()
            if isinstance(obj, type) and issubclass(obj, StandardCellType)
            and obj is not StandardCellType]


def distance(src_cell, tgt_cell, mask=None, scale_factor=1.0, offset=0.0,
             periodic_boundaries=None):
    """Euclidean distance between two cells (sPyNNaker's ``distance``)."""
    import numpy as _np
    d = src_cell.position - tgt_cell.position
    if periodic_boundaries is not None:
        pb = _np.asarray(periodic_boundaries, dtype=float)
        d = _np.minimum(abs(d), pb - abs(d))
    if mask is not None:
        d = d[mask]
    return _np.sqrt(_np.dot(scale_factor * (d + offset), scale_factor * (d + offset)))


def NativeRNG(seed_value):
    """sPyNNaker's NativeRNG: seeds numpy's global generator."""
    import numpy as _np
    _np.random.seed(seed_value)
