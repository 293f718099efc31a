"""``spinnaker-emu view``: a running machine in the browser (see command.py, server.py,
snapshot.py). Imported by the CLI only."""
