"""Fixed-point formats of sPyNNaker, as numpy helpers.

sPyNNaker keeps neuron state and parameters in S16.15 (``accum``: 32-bit signed,
15 fractional bits, step 2**-15 ~ 3.05e-5, range +-65536) and decay factors in
U0.32 (``unsigned long fract``). The kernels compute in float64 but put every
stored value back on the S16.15 grid after each operation where the ARM code
would, so results carry the same quantisation as the hardware (not bit-exact:
intermediate rounding differs in the last bit).
"""
import numpy as np

S1615_ONE = 1 << 15
_S1615_MAX = (2 ** 31 - 1) / S1615_ONE
_S1615_MIN = -(2 ** 31) / S1615_ONE
U032_ONE = 1 << 32
_clip = np._core.umath.clip if hasattr(np, "_core") else np.core.umath.clip


def to_s1615(x):
    """Host-side encoding (as DataType.S1615: round to nearest, saturate) -> int32."""
    v = np.round(np.asarray(x, dtype=np.float64) * S1615_ONE)
    return np.clip(v, -(2 ** 31), 2 ** 31 - 1).astype(np.int32)


def from_s1615(raw):
    return np.asarray(raw).astype(np.int32).astype(np.float64) / S1615_ONE


def to_u032(x):
    """Decay factors in [0, 1) as U0.32 (1.0 saturates to 0xFFFFFFFF)."""
    v = np.round(np.asarray(x, dtype=np.float64) * U032_ONE)
    return np.clip(v, 0, U032_ONE - 1).astype(np.uint32)


def from_u032(raw):
    return np.asarray(raw).astype(np.uint32).astype(np.float64) / U032_ONE


def q(x):
    """Put a float64 result on the S16.15 grid the way an ARM fixed-point
    multiply leaves it: truncated towards -inf (the low bits are shifted out),
    saturating at the accum range."""
    # the clip ufunc directly: np.clip's Python wrapper costs more than the arithmetic
    # on a core's few hundred neurons (q runs a dozen times per neuron core per tick)
    return _clip(np.floor(np.multiply(x, S1615_ONE, dtype=np.float64)) / S1615_ONE,
                 _S1615_MIN, _S1615_MAX)


_INT32_MIN, _INT32_MAX = float(-(2 ** 31)), float(2 ** 31 - 1)


def q_round(x):
    """S16.15 grid, round to nearest (half to even), saturating: the same values as
    from_s1615(to_s1615(x)) without the casts (it runs twice per LIF update)."""
    return _clip(np.rint(np.multiply(x, S1615_ONE, dtype=np.float64)), _INT32_MIN, _INT32_MAX) / S1615_ONE
