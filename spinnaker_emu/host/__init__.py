"""Host side: our transceiver (boot, SCP, memory, loading) over the real protocol."""
