"""Connectors: PyNN's, with a OneToOneConnector that works for any population sizes.

PyNN 0.13.0's OneToOneConnector builds its map with a lazy ``i == j`` array whose
column is a 0-d array when the presynaptic population has one neuron; numpy >= 2.1
refuses ``nonzero()`` on it.  Ours connects i -> i for i < min(n_pre, n_post)
directly (PyNN and sPyNNaker semantics for different sizes).
"""
import numpy as np

from pyNN import connectors as _pc
from pyNN.connectors import *             # noqa: F401,F403


class OneToOneConnector(_pc.OneToOneConnector):
    __doc__ = _pc.OneToOneConnector.__doc__

    def connect(self, projection):
        n = min(projection.pre.size, projection.post.size)
        parameter_space = self._parameters_from_synapse_type(projection)
        syn = projection.synapse_type
        checks = getattr(syn, "parameter_checks", {}) if self.safe else {}
        post_mask = projection.post._mask_local
        for j in range(n):
            if not post_mask[j]:
                continue
            source = np.array([j], dtype=int)
            params = {}
            for name, lazy in parameter_space.items():
                if lazy.is_homogeneous:
                    params[name] = lazy.evaluate(simplify=True)
                else:
                    params[name] = np.atleast_1d(lazy[source, j])
            for pname, check in checks.items():
                native = syn.translations[pname]["translated_name"]
                if native in params:
                    check(params[native], projection)
            projection._convergent_connect(source, j, location_selector=self.location_selector,
                                           **params)
            if self.callback:
                self.callback(j / max(n, 1))
