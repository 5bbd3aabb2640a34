"""The moving parts of the frame loop: mask hand-over, PNG writers, progress, interruption."""

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Optional

import numpy as np

from . import media
from .errors import HowardError
from .outputs import OutputFolder


class MaskBoard:
    """Subject masks by frame index, handed from the network thread to the aligning thread."""

    def __init__(self):
        self._masks: Dict[int, np.ndarray] = {}
        self._cond = threading.Condition()
        self.closed = False

    def put(self, index: int, mask: np.ndarray) -> None:
        with self._cond:
            self._masks[index] = mask
            for old in [i for i in self._masks if i < index - 64]:
                del self._masks[old]
            self._cond.notify_all()

    def get(self, index: int) -> Optional[np.ndarray]:
        """The mask of frame ``index`` (None for index < 0); waits until it is there."""
        if index < 0:
            return None
        with self._cond:
            while index not in self._masks:
                if self.closed:
                    raise Stopped()
                self._cond.wait(0.2)
            return self._masks[index]

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class Stopped(Exception):
    pass


class Interrupted(HowardError):
    """The run was interrupted (Ctrl-C); the folder can be resumed."""

    exit_code = 130


class Writer:
    """Writes each frame's files on a thread pool and records finished frames."""

    def __init__(self, folder: OutputFolder, png_level: int, workers: int, lag: int):
        self.folder, self.png_level, self.lag = folder, png_level, lag
        self.pool = ThreadPoolExecutor(max_workers=workers) if workers > 0 else None
        self.slots = threading.Semaphore(max(2, 2 * workers))
        self.lock = threading.Lock()
        self.finished: set = set()
        self.contiguous = 0
        self.errors = []

    def set_start(self, start: int) -> None:
        self.contiguous = start

    def submit(self, index: int, images: Dict[str, np.ndarray], mask: np.ndarray) -> None:
        if self.errors:
            raise self.errors[0]
        if self.pool is None:
            return self._write(index, images, mask)
        self.slots.acquire()
        future = self.pool.submit(self._write, index, images, mask)
        future.add_done_callback(lambda f: self.slots.release())

    def _write(self, index, images, mask):
        try:
            media.write_png(self.folder.state / "mask" / f"{index:06d}.png", mask, level=1)
            for kind, image in images.items():
                media.write_png(self.folder.path(kind, index), image, level=self.png_level)
            with self.lock:
                self.folder.mark_done([index])
                self.finished.add(index)
                while self.contiguous in self.finished:
                    self.finished.discard(self.contiguous)
                    self.contiguous += 1
                stale = self.contiguous - self.lag - 2
            old = self.folder.state / "mask" / f"{stale:06d}.png"
            if stale >= 0 and old.exists():
                old.unlink()
        except BaseException as e:  # surfaced on the next submit / close
            self.errors.append(e)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        if self.errors:
            raise self.errors[0]


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
