"""The ARM engine: real SpiNNaker binaries (.aplx) on emulated ARM968 cores
(unicorn, ARM946 model) with the peripherals they use at their real addresses.
See docs/ARM.md."""
import glob
import hashlib
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
# The modules the package's numba code compiles in: its own (a cached function that
# calls another module's njit function keeps the old one when only that module
# changed) and those it takes constants from (state word numbers, interrupt lines,
# memory sizes)
_CONSTANTS = ("../memory.py", "../../protocol/constants.py")


def _drop_stale_native_cache():
    """numba's on-disk cache is keyed on each function's own source file, not on the
    constants or functions it imports: after a change of the state word layout
    (cycles.py) the cached vic.py, comms.py, ... would still use the old word numbers,
    and core_loop.py the old timers.py. So the package's cache is dropped whenever
    any of its modules, or a module it takes constants from, changes."""
    digest = hashlib.sha256()
    for name in sorted(glob.glob(os.path.join(_HERE, "*.py"))) + list(_CONSTANTS):
        with open(os.path.join(_HERE, name), "rb") as f:
            digest.update(f.read())
    cache = os.path.join(_HERE, "__pycache__")
    stamp = os.path.join(cache, "native-constants.sha256")
    try:
        with open(stamp) as f:
            if f.read() == digest.hexdigest():
                return
    except OSError:
        pass
    for path in glob.glob(os.path.join(cache, "*.nbi")) + glob.glob(os.path.join(cache, "*.nbc")):
        try:
            os.remove(path)
        except OSError:
            pass
    try:
        os.makedirs(cache, exist_ok=True)
        with open(stamp, "w") as f:
            f.write(digest.hexdigest())
    except OSError:
        pass                    # a read-only install compiles in memory each time


_drop_stale_native_cache()
