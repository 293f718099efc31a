"""A spalloc-compatible allocator (legacy JSON protocol, TCP 22244) for emulated
machines made of SpiNN-5 triads, powered through emulated BMPs."""
from .config import ServerConfig, MachineConfig, BoardConfig, ConfigError, load_config, config_from_dict  # noqa: F401
from .server import SpallocServer, JobState, VERSION  # noqa: F401
