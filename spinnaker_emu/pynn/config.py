"""The user's configuration: ``~/.spinnaker_emu.cfg`` (sPyNNaker's keys and layout).

    [Machine]
    machine_name = 127.0.1.1      ; a booted-or-not board to use (emulated or real)
    version = 5                   ; 3 (4 chips) or 5 (48 chips)
    spalloc_server = 127.0.0.1    ; ask an allocator for a board instead
    spalloc_port = 22244
    spalloc_user = me
    n_boards_required = 3         ; boards to ask the allocator for (default 1)
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
                "spalloc_port": "22244", "spalloc_user": "None", "n_boards_required": "None",
                "time_scale_factor": "None",
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


BOOLEANS = {"1": True, "true": True, "yes": True, "on": True,
            "0": False, "false": False, "no": False, "off": False}


class ConfigError(ValueError):
    """A cfg file that cannot be read, or a value that is not what its key takes; the
    message names the file (or setup()) and the key."""


class Config:
    def __init__(self, overrides=None):
        self._cp = configparser.ConfigParser()
        self._cp.read_dict(DEFAULTS)
        try:
            self.files = self._cp.read(config_paths())
        except configparser.Error as e:
            raise ConfigError(_parse_error_text(e)) from None
        self._overridden = set()
        for (section, key), value in (overrides or {}).items():
            if value is not None:
                self._cp.set(section, key, str(value))
                self._overridden.add((section, key))

    def get(self, section, key):
        value = self._cp.get(section, key, fallback=None)
        if value is None or value.strip() in ("None", ""):
            return None
        return value.strip()

    def get_int(self, section, key):
        return self._typed(section, key, int, "a whole number")

    def get_float(self, section, key):
        return self._typed(section, key, float, "a number")

    def get_bool(self, section, key):
        return bool(self._typed(section, key, lambda v: BOOLEANS[v.lower()], "True or False"))

    def _typed(self, section, key, convert, what):
        v = self.get(section, key)
        try:
            return None if v is None else convert(v)
        except (ValueError, KeyError):
            raise self.error(section, key, "is not %s" % what) from None

    def error(self, section, key, problem):
        """ConfigError "<where>: [section] key = value <problem>"."""
        return ConfigError("%s: [%s] %s = %s %s" % (self.source(section, key), section, key,
                                                     self._cp.get(section, key), problem))

    def source(self, section, key):
        """Where [section] key's value comes from: setup(), the last file that sets it,
        or the defaults."""
        if (section, key) in self._overridden:
            return "setup(%s=...)" % key
        for path in reversed(self.files):
            cp = configparser.ConfigParser()
            cp.read(path)
            if cp.has_option(section, key):
                return path
        return "the defaults"


def _parse_error_text(e):
    """A configparser error as one line naming the file and line."""
    if isinstance(e, configparser.MissingSectionHeaderError):
        return "%s line %d: %r comes before any [section] header" % (e.source, e.lineno,
                                                                     e.line.strip())
    if isinstance(e, configparser.ParsingError) and e.errors:
        lineno, line = e.errors[0]              # the line as repr() gives it
        return "%s line %d: %s is not key = value" % (e.source, lineno,
                                                       line.replace("\\n", ""))
    return " ".join(str(e).split())


def load(**overrides):
    """The configuration, with setup() keyword overrides (Machine section)."""
    return Config({("Machine", k): v for k, v in overrides.items()})
