"""A one-line progress report on stderr, shared by the matte loop and re-compositing."""

import sys
import time


class Progress:
    """A one-line progress report on stderr: frames, frames per second, time left."""

    def __init__(self, enabled: bool, total: int, initial: int = 0, every: float = 0.5):
        self.enabled, self.total, self.done, self.every = enabled, total, initial, every
        self.first, self.started, self.shown = initial, time.perf_counter(), 0.0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self.shown >= self.every or self.done >= self.total):
            self.shown = now
            self._show(now)

    def _show(self, now: float) -> None:
        rate = (self.done - self.first) / max(1e-9, now - self.started)
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = time.strftime("%H:%M:%S", time.gmtime(left)) if left == left else "--:--:--"
        width = 24
        filled = int(width * self.done / max(1, self.total))
        sys.stderr.write(f"\rhoward [{'#' * filled}{'.' * (width - filled)}] "
                         f"{self.done}/{self.total} frames  {rate:.2f} fps  {eta} left ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self._show(time.perf_counter())
            sys.stderr.write("\n")
            sys.stderr.flush()
