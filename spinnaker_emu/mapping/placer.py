"""Placement: fill chips core by core (cores 1..n-1; core 0 is the monitor), chips in
breadth-first order from the Ethernet chip, so a small network stays on few chips
(the emulated chips' hot loop then stays inside one process)."""
from .graph import MappingError


def chip_order(machine, root=(0, 0)):
    if root not in machine.links:
        root = machine.chips[0]
    found = machine.bfs(root)
    return sorted(found, key=lambda xy: (found[xy][0], xy))


# A network that does not fit on one chip is dealt over several chips (one per host
# CPU) so that their processes share the work evenly. One that fits stays on one chip:
# with the compiled kernels (apps/neuron/fast.py) a tick costs less than the lockstep
# hand-off between two chip processes (docs/PERFORMANCE.md: VA CUBA 4000, dt 0.1 ms,
# 1 s, 'running' phase 4.8-5.4 s on one chip, 10.1-11.8 s dealt over two, 2 CPUs
# shared with other work; brunel_1000 1.8 s against 3.0 s). Before them, dealing won
# (VA CUBA 25.5 s on one chip, 17.7 s on two).
MAX_SPREAD = 4


def place(machine_vertices, machine, reserved=None, spread=1, host_cpus=1):
    """{machine vertex: (x, y, p)}.  ``reserved``: {(x, y): set of cores in use}.
    ``spread`` > 1: deal the vertices round-robin over that many chips (so that as
    many chip processes tick in parallel), still filling chips in order; "auto": one
    chip per host CPU (up to MAX_SPREAD) for networks larger than the first chip, else
    one chip."""
    reserved = {k: set(v) for k, v in (reserved or {}).items()}
    chips = chip_order(machine)
    free = []
    for xy in chips:
        cores = [p for p in range(1, machine.n_cores(xy)) if p not in reserved.get(xy, ())]
        free.extend((xy[0], xy[1], p) for p in cores)
    placements = {}
    # constrained vertices first
    taken = set()
    for mv in machine_vertices:
        c = mv.app.constraint
        if c is not None and mv.kind == "app":
            x, y = c[0], c[1]
            want = c[2] if len(c) > 2 else None
            options = [s for s in free if s[:2] == (x, y) and s not in taken
                       and (want is None or s[2] == want)]
            if not options:
                raise MappingError("placement constraint (%d, %d%s) of %r cannot be met: no "
                                   "free core there" % (x, y, "" if want is None else ", %d" % want,
                                                        mv.label))
            placements[mv] = options[0]
            taken.add(options[0])
    remaining = [s for s in free if s not in taken]
    todo = [mv for mv in machine_vertices if mv not in placements]
    if len(todo) > len(remaining):
        raise MappingError(
            "The network needs %d cores (%d neuron/source slices and delay extensions) but "
            "the machine has %d free application cores (%d chips). Raise the neurons per core "
            "(sim.set_number_of_neurons_per_core(celltype, n)) or use a bigger machine "
            "(more boards: spalloc / [Machine] version and machine_name)."
            % (len(machine_vertices), len(machine_vertices), len(free), len(chips)))
    if spread == "auto":
        first = sum(1 for slot in remaining if slot[:2] == remaining[0][:2]) if remaining else 0
        spread = min(max(host_cpus, 1), MAX_SPREAD) if len(todo) > first else 1
    if spread > 1:
        remaining = _deal(remaining, spread)
    for mv, slot in zip(todo, remaining):
        placements[mv] = slot
    return placements


def _deal(slots, n_chips):
    """Slots reordered so consecutive vertices go to the first n_chips chips in turn."""
    by_chip, order = {}, []
    for s in slots:
        if s[:2] not in by_chip:
            by_chip[s[:2]] = []
            order.append(s[:2])
        by_chip[s[:2]].append(s)
    first, rest = order[:n_chips], order[n_chips:]
    dealt = []
    while any(by_chip[c] for c in first):
        for c in first:
            if by_chip[c]:
                dealt.append(by_chip[c].pop(0))
    return dealt + [s for c in rest for s in by_chip[c]]
