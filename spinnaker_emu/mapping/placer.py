"""Placement: fill chips core by core (cores 1..n-1; core 0 is the monitor), chips in
breadth-first order from the Ethernet chip, so a small network stays on few chips
(the emulated chips' hot loop then stays inside one process)."""
from .graph import MappingError


def chip_order(machine, root=(0, 0)):
    if root not in machine.links:
        root = machine.chips[0]
    found = machine.bfs(root)
    return sorted(found, key=lambda xy: (found[xy][0], xy))


def place(machine_vertices, machine, reserved=None):
    """{machine vertex: (x, y, p)}.  ``reserved``: {(x, y): set of cores in use}."""
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
    for mv, slot in zip(todo, remaining):
        placements[mv] = slot
    return placements
