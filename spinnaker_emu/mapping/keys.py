"""Key allocation: one key space per core, ``base | atom``.

Every machine vertex gets a 16-bit-aligned base (``index << 16``) and mask
0xFFFF0000; a delay extension's keys are ``base | (stage - 1) << atom_bits | atom``
(stage 1..8) so that one routing entry covers all of a core's keys.
"""
from dataclasses import dataclass

from .partition import MAX_ATOMS_BITS, DELAY_STAGES

KEY_MASK = (0xFFFFFFFF << MAX_ATOMS_BITS) & 0xFFFFFFFF


@dataclass(frozen=True)
class KeySpace:
    base: int
    mask: int
    atom_bits: int          # bits of the atom field (the stage field sits above it)

    def key(self, atom, stage=0):
        return self.base | (stage << self.atom_bits) | atom


def atom_bits(n):
    return max(0, int(n - 1).bit_length())


def allocate_keys(machine_vertices):
    keys = {}
    for mv in machine_vertices:
        bits = atom_bits(mv.n_atoms)
        if mv.kind == "delay":
            assert bits + 3 <= MAX_ATOMS_BITS and DELAY_STAGES == 8
        keys[mv] = KeySpace((mv.index + 1) << MAX_ATOMS_BITS, KEY_MASK, bits)
    return keys
