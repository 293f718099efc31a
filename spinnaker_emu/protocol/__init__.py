"""Wire formats and constants (boot, SDP/SCP, EIEIO, SC&MP structures). No I/O."""
