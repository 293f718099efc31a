"""Machine geometry (chips, links, boards, triads). Pure data."""
from .geometry import (Machine, spinn5_board, spinn3_board, triads_machine, LINK_DELTAS,  # noqa: F401
                       opposite, p2p_table_words, SPINN5_CHIPS)
