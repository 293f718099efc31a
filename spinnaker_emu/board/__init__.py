"""The emulated hardware: chip processes, SC&MP monitor, router, Ethernet, supervisor."""
