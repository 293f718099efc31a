"""SDRAM region formats of the neuron kernels: pure pack/unpack functions.

The mapping layer calls these to build each core's regions (numpy arrays ->
bytes) and to decode what the cores leave behind after a run (bytes -> numpy).
Everything is little-endian 32-bit words. docs/NEURON_APPS.md describes each
format word by word; this module is the executable version of that document.

Region indices (the order of addresses in the region table at user0):

  neuron cores (if_curr_exp, if_cond_exp, if_curr_alpha, izhikevich)
    0 SYSTEM  1 CORE  2 NEURON_PARAMS  3 SYNAPSE_DYNAMICS  4 MASTER_POP
    5 SYNAPTIC_MATRIX  6 REC_SPIKES  7 REC_V  8 REC_GSYN_EXC  9 REC_GSYN_INH
    10 CURRENT_SOURCES
  spike_src_array:  0 SYSTEM  1 SOURCE_CORE  2 SPIKE_TIMES   3 REC_SPIKES
  spike_src_poiss:  0 SYSTEM  1 SOURCE_CORE  2 POISSON_PARAMS 3 REC_SPIKES
  delay_extension:  0 SYSTEM  1 DELAY_PARAMS
"""
import math
from dataclasses import dataclass, field

import numpy as np

from .. import regions as _rt
from .fixed import from_s1615, from_u032, to_s1615, to_u032
from .models import MODELS, get_model

# ---------------------------------------------------------------- constants
REGION_TABLE_MAGIC = _rt.REGION_TABLE_MAGIC
REGION_TABLE_VERSION = _rt.REGION_TABLE_VERSION
FOREVER = _rt.FOREVER

SYSTEM = 0
# neuron cores
CORE, NEURON_PARAMS, SYNAPSE_DYNAMICS, MASTER_POP, SYNAPTIC_MATRIX = 1, 2, 3, 4, 5
REC_SPIKES, REC_V, REC_GSYN_EXC, REC_GSYN_INH = 6, 7, 8, 9
CURRENT_SOURCES = 10       # current_sources.py (absent: none)
N_NEURON_REGIONS = 11
NEURON_RECORDINGS = {"spikes": REC_SPIKES, "v": REC_V,
                     "gsyn_exc": REC_GSYN_EXC, "gsyn_inh": REC_GSYN_INH}
# spike sources
SOURCE_CORE, SPIKE_TIMES, POISSON_PARAMS, SOURCE_REC_SPIKES = 1, 2, 2, 3
N_SOURCE_REGIONS = 4
# delay extension
DELAY_PARAMS = 1
N_DELAY_REGIONS = 2

RING_SLOTS = 16            # on-core delays 1..16 ticks
DELAY_STAGE = 16           # each delay-extension stage adds 16 ticks
MAX_DELAY_STAGES = 8       # 16 * (1 + 8) = 144 ticks at most
MAX_DELAY = RING_SLOTS * (1 + MAX_DELAY_STAGES)
MAX_NEURONS_PER_CORE = 1024
N_SYNAPSE_TYPES = 2        # 0 excitatory, 1 inhibitory
EXCITATORY, INHIBITORY = 0, 1
POST_HISTORY = 16          # post-synaptic events kept per neuron for STDP

# synaptic word: [31:16] weight u16 | [15:12] delay-1 | [11:10] type | [9:0] post index
_IDX_BITS, _TYPE_BITS, _DELAY_BITS = 10, 2, 4
_TYPE_SHIFT = _IDX_BITS
_DELAY_SHIFT = _IDX_BITS + _TYPE_BITS
_WEIGHT_SHIFT = 16

STDP_NONE, STDP_PAIR_ADDITIVE, STDP_PAIR_MULTIPLICATIVE = 0, 1, 2
FLAG_PLASTIC = 1
FLAG_STP = 2               # Tsodyks-Markram rows (per-synapse U, tau_rec, tau_facil, state)
FLAG_STOCHASTIC = 4        # each synapse transmits with its probability p
RULE_SHIFT = 8             # flags bits 8..15: index of the block's STDP rule
STP_FIELDS = ("U", "tau_rec", "tau_facil", "tau_psc", "u", "x", "y")
STP_ROW_HEADER = 2         # n_synapses, last_pre_tick
POP_ENTRY_WORDS = 8
STATIC_ROW_HEADER = 1      # n_synapses
PLASTIC_ROW_HEADER = 3     # n_synapses, last_pre_tick, last_pre_trace (S16.15)

REC_KIND_SPIKES, REC_KIND_VALUES = 0, 1
REC_HEADER_WORDS = 8
# header word indices
REC_CAPACITY, REC_WRITE_OFFSET, REC_INTERVAL, REC_N_RECORDED, REC_KIND, REC_OVERFLOW, \
    REC_DATA_OFFSET = range(7)
#: byte offset of the write pointer: the host writes 0 here after extracting
RECORDING_WRITE_OFFSET_BYTE = 4 * REC_WRITE_OFFSET


def _words(a):
    return np.ascontiguousarray(a, dtype="<u4").tobytes()


def _as_words(data, offset=0, count=None):
    return np.frombuffer(data, dtype="<u4", count=-1 if count is None else count,
                         offset=offset)


# ---------------------------------------------------------------- region table, system
# The region table and the system region belong to the runtime (apps/regions.py):
# system region = [timer_period_us, n_ticks (FOREVER), time_scale x 1000 (0 = lockstep),
# provenance address]. Re-exported so the mapping side has one module to call.
pack_region_table = _rt.pack_region_table
pack_system_region = _rt.pack_system_region
SYSTEM_REGION_BYTES = 4 * _rt.SYSTEM_REGION_WORDS


def unpack_region_table(data, n_regions):
    w = _as_words(data, 0, 2 + n_regions)
    if w[0] != REGION_TABLE_MAGIC:
        raise ValueError("bad region table magic 0x%08x" % w[0])
    return [int(a) for a in w[2:]]


# ---------------------------------------------------------------- weights
def max_weight_to_shift(max_weight):
    """sPyNNaker's ring-buffer left shift for an expected maximum summed input
    (in weight units x global scale): the smallest power of two strictly above it."""
    if max_weight <= 0:
        return 0
    p = int(math.ceil(max(0.0, math.log2(max_weight))))
    if 2 ** p <= max_weight:
        p += 1
    return p


def weight_scale(shift, global_weight_scale=1.0):
    """Multiplier from weights (nA or uS) to the 16-bit row weights:
    2**(16 - (shift + 1)) x global scale; the core shifts ring-buffer sums left by
    ``shift`` to get S16.15."""
    return 2.0 ** (15 - shift) * global_weight_scale


def quantise_weights(weights, shift, global_weight_scale=1.0):
    """|weight| -> uint16 as the host writes it (rounded, saturating at 0xFFFF).
    The receptor gives the sign, as on sPyNNaker."""
    w = np.rint(np.abs(np.asarray(weights, dtype=np.float64)) * weight_scale(
        shift, global_weight_scale))
    return np.clip(w, 0, 0xFFFF).astype(np.uint16)


def dequantise_weights(w16, shift, global_weight_scale=1.0):
    return np.asarray(w16, dtype=np.float64) / weight_scale(shift, global_weight_scale)


def _poisson_upper_tail_sum(n, x):
    """exp(x) * Q(n, x) for integer n >= 1 (Q: regularised upper incomplete gamma),
    = sum_{k<n} x^k / k!; what scipy.special.gammaincc gives sPyNNaker, without scipy."""
    term, total = 1.0, 1.0
    for k in range(1, n):
        term *= x / k
        total += term
    return total


def ring_buffer_expected_upper_bound(weight_mean, weight_std_dev, spikes_per_second,
                                     n_synapses_in, sigma, timestep_ms=1.0):
    """sPyNNaker's statistical bound on one ring-buffer entry: mean + sigma SD of
    the summed input of n Poisson inputs with the given weight distribution."""
    steps_per_second = 1000.0 / timestep_ms
    lam = float(n_synapses_in * spikes_per_second) / steps_per_second
    poisson_variance = lam * weight_mean ** 2
    upper = int(round(lam + 5.0 * math.sqrt(lam)))     # POSSION_SIGMA_SUMMATION_LIMIT
    weight_variance = 0.0
    if weight_std_dev > 0 and lam > 0:
        lngamma = math.lgamma(1 + upper)
        big_ratio = math.log(lam) * upper - lngamma
        if -701.0 < big_ratio < 701.0 and big_ratio != 0.0:
            inner = _poisson_upper_tail_sum(1 + upper, lam) - math.exp(big_ratio)
            if inner > 0:
                weight_variance = math.exp(-lam + math.log(lam) + 2.0 * math.log(
                    weight_std_dev) + math.log(inner))
    return lam * weight_mean + sigma * math.sqrt(poisson_variance + weight_variance)


class IncomingStats:
    """Accumulates the incoming projections of one post population per synapse type
    and gives the ring-buffer shifts (sPyNNaker's get_ring_buffer_shifts).

    add(synapse_type, n_connections, weight_mean, weight_var, weight_max,
        delay_var, spikes_per_second=None, spikes_per_tick=None)
    - n_connections: the maximum number of connections onto one post neuron;
    - weights in PyNN units (abs values); plastic projections pass w_max as weight_max;
    - spikes_per_tick defaults to max(1, rate / ticks per second).
    """

    def __init__(self, global_weight_scale=1.0, spikes_per_second=30.0,
                 ring_buffer_sigma=5.0, timestep_ms=1.0, n_types=N_SYNAPSE_TYPES):
        self.gws = global_weight_scale
        self.default_rate = spikes_per_second
        self.sigma = ring_buffer_sigma
        self.dt = timestep_ms
        self.n_types = n_types
        self._w = [[0, 0.0, 0.0] for _ in range(n_types)]      # n, mean*n, (var+mean^2)*n
        self._rate = [[0, 0.0] for _ in range(n_types)]
        self._delay_var = [0.0] * n_types
        self.total = np.zeros(n_types)
        self.biggest = np.zeros(n_types)

    def add(self, synapse_type, n_connections, weight_mean, weight_var, weight_max,
            delay_var=0.0, spikes_per_second=None, spikes_per_tick=None):
        s, n = synapse_type, int(n_connections)
        if n <= 0:
            return
        mean, var = weight_mean * self.gws, weight_var * self.gws ** 2
        acc = self._w[s]
        acc[0] += n
        acc[1] += mean * n
        acc[2] += (var + mean * mean) * n
        self._delay_var[s] += delay_var * n
        rate = self.default_rate if not spikes_per_second else spikes_per_second
        self._rate[s][0] += n
        self._rate[s][1] += rate * n
        if spikes_per_tick is None:
            spikes_per_tick = max(1.0, self.default_rate * self.dt / 1000.0)
        self.biggest[s] = max(self.biggest[s], weight_max * self.gws)
        self.total[s] += spikes_per_tick * weight_max * self.gws * n

    def max_weight(self, s):
        if self._delay_var[s] == 0.0:
            return max(self.total[s], self.biggest[s])
        n, sm, sq = self._w[s]
        mean = sm / n
        sd = math.sqrt(max(0.0, sq / n - mean * mean))
        rate = self._rate[s][1] / self._rate[s][0]
        w = ring_buffer_expected_upper_bound(mean, sd, rate, n, self.sigma, self.dt)
        return max(min(w, self.total[s]), self.biggest[s])

    def shifts(self):
        return [max_weight_to_shift(self.max_weight(s)) for s in range(self.n_types)]


# ---------------------------------------------------------------- neuron core
def pack_neuron_core_region(base_key, n_neurons, ring_buffer_shifts, timestep_ms,
                            global_weight_scale=1.0, has_key=True,
                            n_synapse_types=N_SYNAPSE_TYPES):
    """[has_key, base_key, n_neurons, n_synapse_types, dt (S16.15),
        global weight scale, shift_0 .. shift_3]."""
    if not 0 < n_neurons <= MAX_NEURONS_PER_CORE:
        raise ValueError("1..%d neurons per core" % MAX_NEURONS_PER_CORE)
    shifts = list(ring_buffer_shifts) + [0] * (4 - len(ring_buffer_shifts))
    return _words([int(bool(has_key)), int(base_key) if has_key else 0, n_neurons,
                   n_synapse_types, int(to_s1615(timestep_ms)),
                   int(global_weight_scale)] + shifts[:4])


def unpack_neuron_core_region(data):
    w = _as_words(data, 0, 10)
    return {"has_key": bool(w[0]), "base_key": int(w[1]), "n_neurons": int(w[2]),
            "n_synapse_types": int(w[3]), "timestep_ms": float(from_s1615(w[4].view(np.int32))),
            "global_weight_scale": float(w[5]),
            "ring_buffer_shifts": [int(x) for x in w[6:6 + int(w[3])]]}


NEURON_CORE_REGION_BYTES = 40


def _encode_fields(model, f, gws):
    n = len(next(iter(f.values())))
    raw = np.zeros((len(model.fields), n), dtype="<u4")
    for i, (name, kind) in enumerate(model.fields):
        x = np.asarray(f[name], dtype=np.float64)
        if kind == "s":
            raw[i] = to_s1615(x).view(np.uint32)
        elif kind == "w":
            raw[i] = to_s1615(x * gws).view(np.uint32)
        elif kind == "u":
            raw[i] = to_u032(x)
        elif kind in ("dlo", "dhi"):
            # float64 state (models_extra): two rows, low then high word
            raw[i] = x.astype("<f8").view("<u4")[0 if kind == "dlo" else 1::2]
        else:
            raw[i] = np.asarray(np.round(x), dtype=np.int64).astype(np.int32).view(np.uint32)
    return raw


def _decode_fields(model, raw, gws):
    """-> dict of float64 arrays; 'w' fields divided by gws unless gws is None
    (the kernel keeps synaptic state in weight-scaled units)."""
    f = {}
    for i, (name, kind) in enumerate(model.fields):
        r = raw[i]
        if kind in "sw":
            x = from_s1615(r.view(np.int32))
            if kind == "w" and gws:
                x = x / gws
        elif kind == "u":
            x = from_u032(r)
        elif kind == "dlo":
            x = r                   # replaced when the high word follows
        elif kind == "dhi":
            x = np.column_stack([f[name], r]).astype("<u4").ravel().view("<f8").astype(
                np.float64)
        else:
            x = r.view(np.int32).astype(np.float64)
        f[name] = x
    return f


def pack_neuron_params(model, n_neurons, params=None, state=None, timestep_ms=1.0):
    """NEURON_PARAMS region: [model_id, n_neurons, n_fields] + n_fields rows of
    n_neurons words (structure of arrays, the field order of the model).

    ``params``/``state`` use PyNN names and units (scalars or arrays of n_neurons);
    missing ones take PyNN's defaults. The host derives the decays, R and the
    refractory ticks for ``timestep_ms``."""
    m = get_model(model)
    f = m.derive(n_neurons, params, state, timestep_ms)
    raw = _encode_fields(m, f, m.global_weight_scale)
    return _words([m.model_id, n_neurons, len(m.fields)]) + raw.tobytes()


def neuron_params_size(model, n_neurons):
    return 4 * (3 + len(get_model(model).fields) * n_neurons)


def unpack_neuron_fields(data, kernel_units=False):
    """NEURON_PARAMS bytes -> (model, dict field -> float64 array). With
    kernel_units the synaptic state stays x global weight scale."""
    model_id, n, n_fields = (int(x) for x in _as_words(data, 0, 3))
    m = get_model(model_id)
    raw = _as_words(data, 12, n_fields * n).reshape(n_fields, n)
    return m, _decode_fields(m, raw, None if kernel_units else m.global_weight_scale)


def encode_neuron_fields(model, fields, kernel_units=True):
    """Kernel side: the (possibly updated) fields back to region bytes."""
    m = get_model(model)
    n = len(fields["v"])
    raw = _encode_fields(m, fields, 1.0 if kernel_units else m.global_weight_scale)
    return _words([m.model_id, n, len(m.fields)]) + raw.tobytes()


def unpack_neuron_state(data):
    """NEURON_PARAMS bytes (as a core left them at PAUSE) -> the state variables
    in PyNN units: v, isyn_exc, isyn_inh (+ u, refract_timer)."""
    m, f = unpack_neuron_fields(data)
    return m.state_of(f)


_STATE_FIELDS = ("v", "u", "isyn_exc", "isyn_inh", "refract_timer", "this_h",
                 "exc_lin", "exc_exp", "exc_q", "inh_lin", "inh_exp", "inh_q")


def repack_neuron_params(data, params=None, state=None, timestep_ms=1.0):
    """Between runs (set() / initialize() / set_state()): start from the fields a
    core left at PAUSE, re-derive every parameter field from ``params`` (complete
    PyNN parameters) if given, keep the dynamic state, then overwrite the state
    variables named in ``state`` (PyNN names/units)."""
    m, f = unpack_neuron_fields(data)
    n = len(f["v"])
    if params is not None:
        g = m.derive(n, params, None, timestep_ms)
        for name in getattr(m, "state_fields", _STATE_FIELDS):
            if name in f:
                g[name] = f[name]
        f = g
    for k, v in (state or {}).items():
        v = np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy()
        if hasattr(m, "set_state"):          # models_extra: PyNN state names
            m.set_state(f, k, v)
        elif m.alpha and k in ("isyn_exc", "isyn_inh"):
            syn = k[5:]
            f[syn + "_lin"], f[syn + "_exp"], f[syn + "_q"] = v, np.ones(n), np.zeros(n)
        elif k in f:
            f[k] = v
        else:
            raise ValueError("%s has no state variable %s" % (m.name, k))
    return _words([m.model_id, n, len(m.fields)]) + _encode_fields(
        m, f, m.global_weight_scale).tobytes()


# ---------------------------------------------------------------- STDP
@dataclass
class STDPParams:
    """STDPMechanism(SpikePairRule, Additive/MultiplicativeWeightDependence).
    Weights and A_plus/A_minus in PyNN weight units (nA or uS): sPyNNaker's
    additive step is A_plus x trace in weight units (not scaled by w_max)."""
    rule: str = "additive"           # or "multiplicative"
    tau_plus: float = 20.0
    tau_minus: float = 20.0
    A_plus: float = 0.01
    A_minus: float = 0.01
    w_min: float = 0.0
    w_max: float = 1.0


def _stdp_weight_scales(rule, global_weight_scale):
    """Multipliers of (tau_plus, tau_minus, A_plus, A_minus, w_min, w_max) in the
    region: as sPyNNaker, the weight-valued parameters are written in S16.15 times the
    global weight scale (x1024 for conductances), i.e. in the units of the core's
    synaptic input, not of PyNN's weights; the additive A+ / A- are weights, the
    multiplicative ones are dimensionless."""
    g = float(global_weight_scale)
    a = g if rule == "additive" else 1.0
    return np.array([1.0, 1.0, a, a, g, g])


def pack_synapse_dynamics(stdp=None, global_weight_scale=1.0):
    """[n_rules] + per rule [rule, tau_plus, tau_minus, A_plus, A_minus, w_min, w_max]
    (S16.15 but rule; rule 1 pair-additive, 2 pair-multiplicative; taus in ms; weights,
    and additive A+ / A-, x global weight scale). A plastic block names its rule in
    bits 8..15 of its master-population flags. n_rules = 0: static only. ``stdp``:
    None, one STDPParams or a list of them."""
    rules = [] if stdp is None else list(stdp) if isinstance(stdp, (list, tuple)) else [stdp]
    out = [len(rules)]
    for r in rules:
        out.append({"additive": STDP_PAIR_ADDITIVE,
                    "multiplicative": STDP_PAIR_MULTIPLICATIVE}[r.rule])
        values = np.array([r.tau_plus, r.tau_minus, r.A_plus, r.A_minus, r.w_min, r.w_max])
        out += to_s1615(values * _stdp_weight_scales(r.rule, global_weight_scale)).view(
            np.uint32).tolist()
    return _words(out)


def synapse_dynamics_size(n_rules=1):
    return 4 * (1 + 7 * n_rules)


SYNAPSE_DYNAMICS_BYTES = synapse_dynamics_size(1)


def unpack_synapse_dynamics(data, global_weight_scale=1.0):
    """-> None (static only) or the list of STDPParams (PyNN units), by rule index."""
    n = int(_as_words(data, 0, 1)[0])
    if n == 0:
        return None
    w = _as_words(data, 4, 7 * n).reshape(n, 7)
    out = []
    for r in w:
        rule = "additive" if r[0] == STDP_PAIR_ADDITIVE else "multiplicative"
        values = from_s1615(r[1:].view(np.int32)) / _stdp_weight_scales(
            rule, global_weight_scale)
        out.append(STDPParams(rule, *[float(x) for x in values]))
    return out


# ---------------------------------------------------------------- synapses
def encode_synaptic_words(post, synapse_type, delay, weight_u16):
    post = np.asarray(post, dtype=np.int64)
    delay = np.asarray(delay, dtype=np.int64)
    if post.size and (post.min() < 0 or post.max() >= MAX_NEURONS_PER_CORE):
        raise ValueError("post index out of range")
    if delay.size and (delay.min() < 1 or delay.max() > RING_SLOTS):
        raise ValueError("on-core delays are 1..%d ticks" % RING_SLOTS)
    return ((np.asarray(weight_u16, dtype=np.int64) << _WEIGHT_SHIFT)
            | ((delay - 1) << _DELAY_SHIFT)
            | (np.asarray(synapse_type, dtype=np.int64) << _TYPE_SHIFT)
            | post).astype(np.uint32)


def decode_synaptic_words(words):
    w = np.asarray(words, dtype=np.uint32)
    return (w & ((1 << _IDX_BITS) - 1)).astype(np.int64), \
        ((w >> _TYPE_SHIFT) & ((1 << _TYPE_BITS) - 1)).astype(np.int64), \
        (((w >> _DELAY_SHIFT) & ((1 << _DELAY_BITS) - 1)) + 1).astype(np.int64), \
        (w >> _WEIGHT_SHIFT).astype(np.uint16)


@dataclass
class SynapticBlock:
    """The synapses from one source (a population core, or one delay-extension
    core) onto this core: connection arrays indexed by source row.

    rows: source row (the source neuron index, or stage*n_src + neuron for a
    delay extension: see split_delays); post, synapse_type, delay (1..16 ticks),
    weight_u16 (quantise_weights).
    key/mask: the multicast keys of the source; the row is key & ~mask (decoded
    with neuron_bits/n_src for delay-extension keys)."""
    key: int
    mask: int
    n_rows: int
    rows: np.ndarray
    post: np.ndarray
    synapse_type: np.ndarray
    delay: np.ndarray
    weight_u16: np.ndarray
    plastic: bool = False
    neuron_bits: int = 0
    n_src: int = 0
    rule: int = 0                 # plastic: index of the STDP rule in SYNAPSE_DYNAMICS
    stp: dict = None              # Tsodyks-Markram: STP_FIELDS[:4] arrays per synapse
    p_transmit: np.ndarray = None  # SimpleStochasticSynapse: probability per synapse

    def flags(self):
        return ((FLAG_PLASTIC if self.plastic else 0) | (FLAG_STP if self.stp else 0)
                | (FLAG_STOCHASTIC if self.p_transmit is not None else 0)
                | (int(self.rule) << RULE_SHIFT))

    def order(self):
        """Permutation from the given connection order to the stored order (stable
        by row): stored[i] is connection order()[i]."""
        return np.argsort(np.asarray(self.rows), kind="stable")


def _pack_block(b):
    rows = np.asarray(b.rows, dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= b.n_rows):
        raise ValueError("row index out of range")
    order = b.order()
    words = encode_synaptic_words(np.asarray(b.post)[order], np.asarray(b.synapse_type)[order],
                                  np.asarray(b.delay)[order], np.asarray(b.weight_u16)[order])
    counts = np.bincount(rows, minlength=b.n_rows)
    m = int(counts.max()) if counts.size else 0
    # extra per-synapse columns after the m synaptic words: STP fields (float32) or
    # the transmission probability (U0.32)
    extra = []
    if b.stp:
        head = STP_ROW_HEADER
        n = len(rows)
        vals = dict(b.stp)
        vals.setdefault("u", np.zeros(n))
        vals.setdefault("x", np.ones(n))
        vals.setdefault("y", np.zeros(n))
        extra = [np.broadcast_to(np.asarray(vals[k], "<f4"), (n,))[order].view("<u4")
                 for k in STP_FIELDS]
    elif b.p_transmit is not None:
        head = STATIC_ROW_HEADER
        extra = [to_u032(np.clip(np.asarray(b.p_transmit, float), 0, 1))[order]]
    else:
        head = PLASTIC_ROW_HEADER if b.plastic else STATIC_ROW_HEADER
    stride = head + m * (1 + len(extra))
    block = np.zeros((b.n_rows, stride), dtype=np.uint32)
    block[:, 0] = counts
    srows = rows[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    col = np.arange(len(srows)) - starts[srows] + head
    block[srows, col] = words
    for k, x in enumerate(extra):
        block[srows, col + m * (k + 1)] = x
    return block, stride


def pack_synaptic_matrix(blocks):
    """-> (master_pop_bytes, synaptic_matrix_bytes).

    MASTER_POP: [n_entries] + per entry [key, mask, offset (words into the matrix),
    n_rows, row_stride (words), neuron_bits, n_src, flags (1 plastic, 2 STP,
    4 stochastic, bits 8..15 STDP rule index)].
    SYNAPTIC_MATRIX: the blocks, each n_rows x row_stride words; a static row is
    [n, word...], a plastic row [n, last_pre_tick, last_pre_trace, word...]; with m
    the longest row, an STP row is [n, last_pre_tick, word * m, then m float32 of
    each of U, tau_rec, tau_facil, tau_psc, u, x, y] and a stochastic row
    [n, word * m, p (U0.32) * m].
    Several entries may match one key (e.g. two projections from the same source):
    every match is processed."""
    entries, chunks, offset = [], [], 0
    for b in blocks:
        block, stride = _pack_block(b)
        entries.append([b.key & 0xFFFFFFFF, b.mask & 0xFFFFFFFF, offset, b.n_rows, stride,
                        b.neuron_bits, b.n_src, b.flags()])
        chunks.append(block.ravel())
        offset += block.size
    pop = _words([len(entries)] + [x for e in entries for x in e])
    matrix = _words(np.concatenate(chunks)) if chunks else b""
    return pop, matrix


def synaptic_matrix_size(blocks_shape):
    """SDRAM estimate: blocks_shape = [(n_rows, max_row_length, plastic), ...] ->
    (master_pop_bytes, matrix_bytes)."""
    pop = 4 * (1 + POP_ENTRY_WORDS * len(blocks_shape))
    mat = sum(4 * n * ((PLASTIC_ROW_HEADER if p else STATIC_ROW_HEADER) + m)
              for n, m, p in blocks_shape)
    return pop, mat


def unpack_master_pop(data):
    n = int(_as_words(data, 0, 1)[0])
    return _as_words(data, 4, n * POP_ENTRY_WORDS).reshape(n, POP_ENTRY_WORDS).astype(np.int64)


def unpack_synaptic_block(pop_data, matrix_data, entry_index):
    """After a run: the synapses of one block in stored order (see
    SynapticBlock.order), as dict rows/post/synapse_type/delay/weight_u16
    (+ last_pre_tick/last_pre_trace per row for plastic blocks)."""
    e = unpack_master_pop(pop_data)[entry_index]
    offset, n_rows, stride, plastic = int(e[2]), int(e[3]), int(e[4]), bool(e[7] & 1)
    block = _as_words(matrix_data, 4 * offset, n_rows * stride).reshape(n_rows, stride)
    head = PLASTIC_ROW_HEADER if plastic else STATIC_ROW_HEADER
    counts = block[:, 0].astype(np.int64)
    valid = np.arange(stride - head)[None, :] < counts[:, None]
    rows = np.nonzero(valid)[0]
    post, st, d, w = decode_synaptic_words(block[:, head:][valid])
    out = {"rows": rows, "post": post, "synapse_type": st, "delay": d, "weight_u16": w}
    if plastic:
        out["last_pre_tick"] = block[:, 1].astype(np.int64)
        out["last_pre_trace"] = from_s1615(block[:, 2].view(np.int32))
    return out


def split_delays(delays_ticks):
    """Delays in whole ticks (1..144) -> (stage, local_delay): stage 0 is
    delivered straight from the source core; stage s >= 1 comes from the delay
    extension's stage s-1 keys, re-sent s x 16 ticks after the spike, and the
    post core adds local_delay (1..16). Row on the post core for a delayed
    synapse: (stage - 1) * n_src + pre."""
    d = np.asarray(delays_ticks, dtype=np.int64)
    if d.size and (d.min() < 1 or d.max() > MAX_DELAY):
        raise ValueError("delays must be 1..%d ticks (sPyNNaker's limit)" % MAX_DELAY)
    stage = (d - 1) // DELAY_STAGE
    return stage, d - stage * DELAY_STAGE


# ---------------------------------------------------------------- recording
def recording_data_bytes(kind, n_recorded, n_ticks, sampling_interval=1):
    """Worst-case data bytes for n_ticks of one channel."""
    if n_recorded == 0:
        return 0
    if kind == REC_KIND_SPIKES:
        per = 4 * (1 + (n_recorded + 31) // 32)
        return per * n_ticks
    n_samples = (n_ticks + sampling_interval - 1) // sampling_interval
    return 4 * (1 + n_recorded) * n_samples


def recording_region_size(kind, n_recorded, n_ticks, sampling_interval=1):
    return 4 * (REC_HEADER_WORDS + n_recorded) + recording_data_bytes(
        kind, n_recorded, n_ticks, sampling_interval)


def pack_recording_region(kind, recorded_indices=(), n_ticks=0, sampling_interval=1,
                          capacity_bytes=None):
    """One recording channel: header [capacity, write_offset, sampling_interval,
    n_recorded, kind, overflow, data_offset, 0], the recorded neuron indices,
    then capacity bytes of data. kind 0 = spikes: records [tick, bitfield over
    the recorded neurons] for ticks with a spike; kind 1 = values: records
    [tick, value_0 .. value_{n-1} (S16.15)] every sampling_interval ticks.
    n_recorded = 0 switches the channel off (the region can be just the header)."""
    idx = np.asarray(recorded_indices, dtype=np.uint32)
    n = len(idx)
    if capacity_bytes is None:
        capacity_bytes = recording_data_bytes(kind, n, n_ticks, sampling_interval)
    data_offset = 4 * (REC_HEADER_WORDS + n)
    head = [capacity_bytes, 0, max(1, int(sampling_interval)), n, kind, 0, data_offset, 0]
    return _words(head) + _words(idx) + bytes(capacity_bytes)


def recording_header_size(n_recorded):
    return 4 * (REC_HEADER_WORDS + n_recorded)


def unpack_recording(data):
    """A channel's region bytes (at least header + write_offset bytes of data) ->
    dict kind, indices, overflow and either ticks/neurons (spikes: one entry per
    spike, neurons are core-local indices) or ticks/values (n_samples x n_recorded
    float64)."""
    h = _as_words(data, 0, REC_HEADER_WORDS)
    n, kind, used, off = int(h[REC_N_RECORDED]), int(h[REC_KIND]), int(h[REC_WRITE_OFFSET]), \
        int(h[REC_DATA_OFFSET])
    idx = _as_words(data, 4 * REC_HEADER_WORDS, n).astype(np.int64)
    out = {"kind": kind, "indices": idx, "overflow": int(h[REC_OVERFLOW]),
           "sampling_interval": int(h[REC_INTERVAL])}
    body = _as_words(data, off, used // 4) if used else np.zeros(0, "<u4")
    if kind == REC_KIND_SPIKES:
        nw = (n + 31) // 32
        recs = body.reshape(-1, 1 + nw) if n else np.zeros((0, 1), "<u4")
        bits = np.unpackbits(recs[:, 1:].astype("<u4").view(np.uint8), axis=1,
                             bitorder="little")[:, :n]
        r, c = np.nonzero(bits)
        out["ticks"] = recs[r, 0].astype(np.int64)
        out["neurons"] = idx[c]
    else:
        recs = body.reshape(-1, 1 + n) if n else np.zeros((0, 1), "<u4")
        out["ticks"] = recs[:, 0].astype(np.int64)
        out["values"] = from_s1615(recs[:, 1:].view(np.int32)) if n else np.zeros((len(recs), 0))
    return out


# ---------------------------------------------------------------- sources
def pack_source_core_region(base_key, n_neurons, has_key=True):
    """[has_key, base_key, n_neurons]."""
    return _words([int(bool(has_key)), int(base_key) if has_key else 0, n_neurons])


SOURCE_CORE_REGION_BYTES = 12


def unpack_source_core_region(data):
    w = _as_words(data, 0, 3)
    return {"has_key": bool(w[0]), "base_key": int(w[1]), "n_neurons": int(w[2])}


def pack_spike_times(spike_ticks_per_neuron):
    """SpikeSourceArray: list (per neuron) of spike ticks -> [n_spikes] + ticks
    (sorted) + neuron indices. The host converts ms to ticks (sPyNNaker puts
    each time on the timestep grid; a spike at 0 is sent in tick 0)."""
    ticks, ids = [], []
    for i, ts in enumerate(spike_ticks_per_neuron):
        ts = np.asarray(ts, dtype=np.int64).ravel()
        ticks.append(ts)
        ids.append(np.full(len(ts), i, dtype=np.int64))
    t = np.concatenate(ticks) if ticks else np.zeros(0, np.int64)
    i = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    if t.size and t.min() < 0:
        raise ValueError("negative spike tick")
    o = np.lexsort((i, t))
    return _words([len(t)]) + _words(t[o]) + _words(i[o])


def spike_times_size(n_spikes):
    return 4 * (1 + 2 * n_spikes)


def unpack_spike_times(data):
    n = int(_as_words(data, 0, 1)[0])
    return (_as_words(data, 4, n).astype(np.int64),
            _as_words(data, 4 + 4 * n, n).astype(np.int64))


def pack_poisson_params(rates_hz, start_ticks=0, end_ticks=None, seed=(1, 2, 3, 4),
                        timestep_ms=1.0, n_neurons=None):
    """SpikeSourcePoisson: [n_neurons, seed_0..3] + rows of n_neurons words:
    mean spikes per tick (float32), start tick, end tick (exclusive, FOREVER).
    start/duration in ms convert to ticks on the host. The core writes a fresh
    seed back at PAUSE so a resumed run continues the random sequence."""
    if n_neurons is None:
        n_neurons = len(np.atleast_1d(rates_hz))
    rates = np.broadcast_to(np.asarray(rates_hz, dtype=np.float64), (n_neurons,))
    lam = (rates * timestep_ms / 1000.0).astype("<f4")
    start = np.broadcast_to(np.asarray(start_ticks, dtype=np.int64), (n_neurons,))
    if end_ticks is None:
        end = np.full(n_neurons, FOREVER, dtype=np.int64)
    else:
        end = np.broadcast_to(np.asarray(
            [FOREVER if e is None else e for e in np.atleast_1d(end_ticks)]
            if np.ndim(end_ticks) else end_ticks, dtype=np.int64), (n_neurons,))
    seed = [int(s) & 0xFFFFFFFF for s in seed]
    if len(seed) != 4:
        raise ValueError("4 seed words")
    return _words([n_neurons] + seed) + lam.view("<u4").tobytes() + _words(start) + _words(end)


def poisson_params_size(n_neurons):
    return 4 * (5 + 3 * n_neurons)


def unpack_poisson_params(data):
    w = _as_words(data, 0, 5)
    n = int(w[0])
    body = _as_words(data, 20, 3 * n).reshape(3, n)
    return {"n_neurons": n, "seed": [int(x) for x in w[1:5]],
            "spikes_per_tick": body[0].view("<f4").astype(np.float64),
            "start_tick": body[1].astype(np.int64), "end_tick": body[2].astype(np.int64)}


def pack_delay_params(in_key, in_mask, base_key, n_neurons, n_stages, stage_masks=None):
    """Delay extension: [in_key, in_mask, base_key, n_neurons, neuron_bits, n_stages]
    + n_stages bitfields of ceil(n/32) words (which neurons need stage s).
    A spike of source neuron i (key in_key | i) received in tick t is re-sent in
    tick t + 16 (s + 1) with key base_key | (s << neuron_bits) | i, for every
    stage s (0-based) whose bit i is set."""
    if not 1 <= n_stages <= MAX_DELAY_STAGES:
        raise ValueError("1..%d delay stages" % MAX_DELAY_STAGES)
    nbits = delay_neuron_bits(n_neurons)
    nw = (n_neurons + 31) // 32
    if stage_masks is None:
        stage_masks = np.ones((n_stages, n_neurons), dtype=bool)
    sm = np.zeros((n_stages, nw * 32), dtype=np.uint8)
    sm[:, :n_neurons] = np.asarray(stage_masks, dtype=bool)
    bits = np.packbits(sm, axis=1, bitorder="little").view("<u4")
    return _words([in_key, in_mask, base_key, n_neurons, nbits, n_stages]) + _words(bits)


def delay_neuron_bits(n_neurons):
    return max(1, int(n_neurons - 1).bit_length())


def delay_params_size(n_neurons, n_stages):
    return 4 * (6 + n_stages * ((n_neurons + 31) // 32))


def unpack_delay_params(data):
    w = _as_words(data, 0, 6)
    n, nbits, ns = int(w[3]), int(w[4]), int(w[5])
    nw = (n + 31) // 32
    bits = _as_words(data, 24, ns * nw).reshape(ns, nw)
    masks = np.unpackbits(bits.astype("<u4").view(np.uint8), axis=1,
                          bitorder="little")[:, :n].astype(bool)
    return {"in_key": int(w[0]), "in_mask": int(w[1]), "base_key": int(w[2]),
            "n_neurons": n, "neuron_bits": nbits, "n_stages": ns, "stage_masks": masks}


# ---------------------------------------------------------------- vertex descriptions
@dataclass
class VertexDescription:
    """What one core needs: its kernel (image name) and the byte size of each
    region, index = region number. ``sdram`` is the total for SDRAM estimates."""
    kernel: str
    region_sizes: list = field(default_factory=list)

    @property
    def sdram(self):
        return sum(self.region_sizes) + 4 * (2 + len(self.region_sizes))


def describe_neuron_core(model, n_neurons, n_ticks, recorded=None, sampling_interval=1,
                         synaptic_blocks=(), plastic=False, current_source_bytes=4):
    """recorded: {"spikes": n_rec, "v": n_rec, "gsyn_exc": n_rec, "gsyn_inh": n_rec};
    synaptic_blocks: [(n_rows, max_row_length, plastic), ...]."""
    recorded = recorded or {}
    pop, mat = synaptic_matrix_size(list(synaptic_blocks))
    sizes = [SYSTEM_REGION_BYTES, NEURON_CORE_REGION_BYTES,
             neuron_params_size(model, n_neurons),
             SYNAPSE_DYNAMICS_BYTES if plastic else 4, pop, mat]
    for name in ("spikes", "v", "gsyn_exc", "gsyn_inh"):
        kind = REC_KIND_SPIKES if name == "spikes" else REC_KIND_VALUES
        n_rec = recorded.get(name, 0)
        sizes.append(recording_region_size(kind, n_rec, n_ticks,
                                           1 if name == "spikes" else sampling_interval))
    sizes.append(current_source_bytes)
    return VertexDescription(get_model(model).kernel_name, sizes)


def describe_spike_source_array(n_neurons, n_spikes, n_ticks, record_spikes=0):
    return VertexDescription("spike_src_array", [
        SYSTEM_REGION_BYTES, SOURCE_CORE_REGION_BYTES, spike_times_size(n_spikes),
        recording_region_size(REC_KIND_SPIKES, record_spikes, n_ticks)])


def describe_spike_source_poisson(n_neurons, n_ticks, record_spikes=0):
    return VertexDescription("spike_src_poiss", [
        SYSTEM_REGION_BYTES, SOURCE_CORE_REGION_BYTES, poisson_params_size(n_neurons),
        recording_region_size(REC_KIND_SPIKES, record_spikes, n_ticks)])


def describe_delay_extension(n_neurons, n_stages):
    return VertexDescription("delay_extension", [
        SYSTEM_REGION_BYTES, delay_params_size(n_neurons, n_stages)])


KERNEL_NAMES = {m.name: m.kernel_name for m in MODELS.values()}
KERNEL_NAMES.update({"SpikeSourceArray": "spike_src_array",
                     "SpikeSourcePoisson": "spike_src_poiss",
                     "DelayExtension": "delay_extension"})

