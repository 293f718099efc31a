"""Emulated executables: the image format and the kernels that run on emulated cores."""
