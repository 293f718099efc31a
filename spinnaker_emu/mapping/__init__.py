"""Mapping: graph algorithms, no I/O.  Given a network (``graph.Graph``) and a machine
(``machine.geometry.Machine``) ``map_network`` returns placements, keys, routing
tables and, per core, the incoming synaptic connections; ``regions`` turns them into
SDRAM region images with the neuron apps' packers."""
from .graph import Graph, AppVertex, AppEdge, MappingError          # noqa: F401
from .mapper import map_network, Mapping                           # noqa: F401
