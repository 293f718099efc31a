"""The user's configuration: ``~/.spinnaker_emu.cfg`` (sPyNNaker's keys and layout).

    [Machine]
    machine_name = 127.0.1.1      ; a booted-or-not board to use (emulated or real)
    version = 5                   ; 3 (4 chips) or 5 (48 chips)
    spalloc_server = 127.0.0.1    ; ask an allocator for a board instead
    spalloc_port = 22244
    spalloc_user = me
    time_scale_factor = 1         ; > 0: real time slowed down by this; unset: lockstep

    [Simulation]
    stdp_additive_steps = spynnaker ; additive STDP steps are A+ / A- in weight units, as on
                                    ; sPyNNaker (the default); pynn: w_max*A+ / w_max*A- (NEST)

    [Reports]
    reports_enabled = True
    default_report_file_path = DEFAULT     ; DEFAULT = ./reports
    write_provenance = True

With neither machine_name nor spalloc_server, setup() starts a local virtual SpiNN-5
board for the script and stops it at end().  ``$SPINNAKER_EMU_CFG`` names another file;
``setup(machine_name=..., version=..., spalloc_server=..., time_scale_factor=...)``
override the file.
"""
import configparser
import os

DEFAULTS = {
    "Machine": {"machine_name": "None", "version": "5", "spalloc_server": "None",
                "spalloc_port": "22244", "spalloc_user": "None", "time_scale_factor": "None",
                "boot": "True"},
    "Reports": {"reports_enabled": "True", "default_report_file_path": "DEFAULT",
                "write_provenance": "True", "progress_bars": "True"},
    "Simulation": {"incoming_spike_buffer_size": "256", "stdp_additive_steps": "spynnaker"},
}


def config_paths():
    env = os.environ.get("SPINNAKER_EMU_CFG")
    if env:
        return [env]
    return [os.path.expanduser("~/.spinnaker_emu.cfg"), os.path.join(os.getcwd(), "spinnaker_emu.cfg")]


class Config:
    def __init__(self, overrides=None):
        self._cp = configparser.ConfigParser()
        self._cp.read_dict(DEFAULTS)
        self.files = self._cp.read(config_paths())
        for (section, key), value in (overrides or {}).items():
            if value is not None:
                self._cp.set(section, key, str(value))

    def get(self, section, key):
        value = self._cp.get(section, key, fallback=None)
        if value is None or value.strip() in ("None", ""):
            return None
        return value.strip()

    def get_int(self, section, key):
        v = self.get(section, key)
        return None if v is None else int(v)

    def get_float(self, section, key):
        v = self.get(section, key)
        return None if v is None else float(v)

    def get_bool(self, section, key):
        v = self.get(section, key)
        return v is not None and v.lower() in ("1", "true", "yes", "on")


def load(**overrides):
    """The configuration, with setup() keyword overrides (Machine section)."""
    return Config({("Machine", k): v for k, v in overrides.items()})
