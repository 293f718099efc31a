"""A plain one-line progress bar on stderr for long transfers.

Shown only when asked (``enabled=True``) or, when not told (``None``), when
stderr is a terminal, so logs and test output never fill with carriage returns.
"""
import sys
import time

MIN_INTERVAL = 0.1          # seconds between redraws


class Progress:
    def __init__(self, label, total, enabled=None, stream=None):
        self.stream = stream or sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled and total > 0
        self.label, self.total = label, total
        self.t0 = time.monotonic()
        self.last = 0.0
        self.done = 0

    def __call__(self, done):
        self.done = done
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < MIN_INTERVAL and done < self.total:
            return
        self.last = now
        self._draw(now)

    def _draw(self, now):
        frac = min(1.0, self.done / self.total)
        width = 30
        bar = "#" * int(frac * width)
        rate = self.done / max(now - self.t0, 1e-6) / 1e6
        self.stream.write("\r%s [%-*s] %3d%% %.1f/%.1f MiB %.0f MB/s" % (
            self.label, width, bar, int(frac * 100), self.done / 1048576, self.total / 1048576, rate))
        self.stream.flush()

    def finish(self):
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.finish()


def make(label, total, enabled, threshold=1 << 20):
    """A Progress, or None for transfers too small to be worth a bar."""
    if enabled is False or (enabled is None and total < threshold):
        return None
    p = Progress(label, total, enabled)
    return p if p.enabled else None
