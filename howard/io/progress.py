"""A one-line progress report on stderr, shared by the matte loop and re-compositing, and the
same numbers handed to a callback (the web server's progress bar)."""

import sys
import time
from typing import Callable, Dict, Optional


class Progress:
    """A one-line progress report on stderr: frames, frames per second, time left.

    Args:
        enabled: write the line on stderr.
        total: frames in all.
        initial: frames already done before this run (a resumed run).
        every: seconds between two lines at most.
        callback: called after every update with a dict: ``stage`` (``'matte'``), ``done``
            and ``frames`` (finished and total frames), ``fps`` (frames per second of this run,
            None before the first), ``seconds_left`` (None until known) and whatever keywords
            :meth:`update` was given.
    """

    def __init__(self, enabled: bool, total: int, initial: int = 0, every: float = 0.5,
                 callback: Optional[Callable[[Dict], None]] = None):
        self.enabled, self.total, self.done, self.every = enabled, total, initial, every
        self.first, self.started, self.shown = initial, time.perf_counter(), 0.0
        self.callback = callback

    def rate(self, now: Optional[float] = None) -> float:
        """Frames per second since this run started (0 before the first frame)."""
        now = time.perf_counter() if now is None else now
        return (self.done - self.first) / max(1e-9, now - self.started)

    def update(self, n: int = 1, **extra) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self.shown >= self.every or self.done >= self.total):
            self.shown = now
            self._show(now)
        if self.callback is not None:
            self.report("matte", now, **extra)

    def report(self, stage: str, now: Optional[float] = None, **extra) -> None:
        """Hand the callback where the run stands (``stage`` e.g. ``'videos'`` at the end)."""
        if self.callback is None:
            return
        rate = self.rate(now)
        self.callback({"stage": stage, "done": self.done, "frames": self.total,
                       "fps": round(rate, 3) if rate > 0 else None,
                       "seconds_left": round((self.total - self.done) / rate, 1)
                       if rate > 0 else None, **extra})

    def _show(self, now: float) -> None:
        rate = self.rate(now)
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
