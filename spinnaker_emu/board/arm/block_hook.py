"""The compiled unicorn block hook (see cycles.py), in its own module so that numba
can cache it on disk: importing this compiles it once per installation.
uc_emu_stop is bound by symbol name, not as a ctypes pointer, which numba could
not cache."""
import llvmlite.binding
import numpy as np
from numba import cfunc, types, carray
from unicorn.unicorn_py3.unicorn import uclib

llvmlite.binding.load_library_permanently(uclib._name)
uc_emu_stop = types.ExternalFunction("uc_emu_stop", types.int32(types.voidptr))


@cfunc(types.void(types.voidptr, types.uint64, types.uint32, types.voidptr), cache=True)
def block_hook(uc, address, size, user):
    st = carray(user, 2, dtype=np.int64)      # [cycles this slice, budget]
    st[0] += size >> 1
    if st[0] >= st[1]:
        uc_emu_stop(uc)
