"""Built-in kernels: the code an emulated core runs for an emulated image.

A kernel gets a ``core`` object from the board (duck-typed, so this layer does
not import the board): ``core.x``, ``core.y``, ``core.p``, ``core.app_id``,
``core.read(addr, n)``, ``core.write(addr, data)``, ``core.read_word``,
``core.write_word``, ``core.io_printf(text)``, ``core.set_state(name)``,
``core.sv(name)`` (an sv_t field), ``core.user(n)``, ``core.exit(rc=0)``.
States are SARK names: "RUN", "SYNC0", "SYNC1", "PAUSE", "EXIT", "RTE".
"""

KERNELS = {}


def load_all():
    """Import every module under spinnaker_emu.apps so that each @kernel registers."""
    import importlib
    import pkgutil
    import spinnaker_emu.apps as pkg
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        try:
            importlib.import_module(info.name)
        except Exception as e:            # a broken app module must not take the board down
            import sys
            print("spinnaker-emu: cannot load kernel module %s: %r" % (info.name, e), file=sys.stderr)
    return KERNELS


def kernel(name):
    def deco(cls):
        KERNELS[name] = cls
        cls.name = name
        return cls
    return deco


class Kernel:
    """Base kernel: runs until told to stop. Subclasses override the hooks."""

    def __init__(self, core, image):
        self.core = core
        self.image = image

    def start(self):
        """Called when the core leaves c_main (after START if loaded with wait)."""
        self.core.set_state("RUN")

    def on_signal(self, signal):
        """USR0..3 / TIMER and other non-state signals."""

    def on_sdp(self, sdp_bytes):
        """An SDP message delivered to this core (port != 0)."""

    def stop(self):
        """The core is being stopped (STOP/INIT signal); release resources."""

    # Timer-driven kernels (after core.start_simulation; see docs/RUNTIME.md)
    def tick(self, t):
        """One timer tick."""

    def receive(self, packets):
        """Multicast packets: a list of (sent_tick, keys, payloads) numpy arrays."""

    def paused(self, t):
        """The run reached its tick count; the core is now PAUSE'd."""


@kernel("test")
class TestKernel(Kernel):
    """The emulated equivalent of rig's test.aplx: writes (x<<24)|(y<<16)|p at
    sdram_base + 4p, says where it started in IOBUF and stays RUNNING."""

    def start(self):
        c = self.core
        c.write_word(c.sv("sdram_base") + 4 * c.p, (c.x << 24) | (c.y << 16) | c.p)
        c.io_printf("Test app started on %d, %d, %d.\n" % (c.x, c.y, c.p))
        c.set_state("RUN")


@kernel("exit")
class ExitKernel(Kernel):
    """Prints its parameter block as text and exits at once (state EXIT/FINISHED)."""

    def start(self):
        if self.image.params:
            self.core.io_printf(self.image.params.decode("utf-8", "replace"))
        self.core.exit(0)


@kernel("sync")
class SyncKernel(Kernel):
    """Waits at barrier SYNC0, then SYNC1, then runs: for testing sync signals."""

    def start(self):
        self.core.set_state("SYNC0")

    def released(self, barrier):
        self.core.set_state("SYNC1" if barrier == "SYNC0" else "RUN")
