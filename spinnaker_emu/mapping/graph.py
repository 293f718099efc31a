"""The network as the mapping sees it (no PyNN objects): application vertices
(populations) and edges (projections as connection arrays)."""
from dataclasses import dataclass, field

import numpy as np


class MappingError(RuntimeError):
    """A SpiNNaker limit was exceeded; the message names the limit and the fix."""


@dataclass(eq=False)
class AppVertex:
    label: str
    n_atoms: int
    model: str                      # "IF_curr_exp", ..., "SpikeSourceArray", "SpikeSourcePoisson"
    max_atoms_per_core: int = 256
    constraint: tuple = None        # (x, y[, p])
    payload: object = None          # whatever the region generator needs (the population)

    @property
    def is_neuron(self):
        return not self.model.startswith("SpikeSource")


@dataclass(eq=False)
class AppEdge:
    pre: AppVertex
    post: AppVertex
    pre_idx: np.ndarray
    post_idx: np.ndarray
    weight: np.ndarray
    delay_ticks: np.ndarray         # whole timesteps >= 1
    synapse_type: int = 0           # receptor index: 0 excitatory, 1 inhibitory
    plastic: object = None          # None or a dict describing the STDP rule
    label: str = ""
    payload: object = None

    def __len__(self):
        return len(self.pre_idx)


@dataclass
class Graph:
    vertices: list = field(default_factory=list)
    edges: list = field(default_factory=list)

    def add_vertex(self, v):
        self.vertices.append(v)
        return v

    def add_edge(self, e):
        self.edges.append(e)
        return e
