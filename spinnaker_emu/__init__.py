"""spinnaker-emu: a SpiNNaker machine emulator."""
__version__ = "0.1.0"
