"""``sim.extra_models``: the sPyNNaker extra models this emulator provides.

Only what the emulated kernels implement is listed; anything else raises
AttributeError naming what exists.
"""
from pyNN.connectors import AllToAllConnector

from .standardmodels import IF_curr_delta as IFCurDelta


class AllButMeConnector(AllToAllConnector):
    """All-to-all without self connections (sPyNNaker's AllButMeConnector)."""

    def __init__(self, weights=None, delays=None, safe=True, callback=None, verbose=None):
        super().__init__(allow_self_connections=False, safe=safe, callback=callback)


AVAILABLE = ("IFCurDelta", "AllButMeConnector")


def __getattr__(name):
    raise AttributeError("spinnaker_emu.pynn.extra_models has no %r; available: %s"
                         % (name, ", ".join(AVAILABLE)))
