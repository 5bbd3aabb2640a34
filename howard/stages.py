"""The moving parts of the frame loop: mask hand-over, PNG writers, progress, interruption."""

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import numpy as np

from .io import media
from .errors import HowardError
from .io.outputs import OutputFolder
from .io.progress import Progress  # noqa: F401  (re-exported: the product loop's progress bar)


def yield_to_network(steps: int = 19) -> None:
    """Lower the calling thread's scheduling priority by ``steps`` nice levels (at most 19).

    On a CPU run the network's threads keep every core busy; a reading or writing thread at
    the same priority pre-empts one of them, and the network's other threads then wait for it
    at their next barrier, so both go slower than one after the other. At a lower priority
    these threads use what the network leaves (its single-threaded moments, the gaps between
    frames). Processes the thread starts later (ffmpeg decoding a clip) inherit the lower
    priority. Only Linux can renice one thread; elsewhere this does nothing.
    """
    get_id = getattr(threading, "get_native_id", None)
    if not sys.platform.startswith("linux") or get_id is None:
        return
    try:
        tid = get_id()
        os.setpriority(os.PRIO_PROCESS, tid,
                       min(19, os.getpriority(os.PRIO_PROCESS, tid) + steps))
    except OSError:  # not allowed here: run at the normal priority
        pass


@dataclass
class Chunk:
    """Frames ``[first, stop)`` of a clip as one task of a cluster run (see howard.cluster).

    The chunk aligns and mattes from ``warmup`` frames before its first unfinished frame
    (rounded down to a whole batch) without writing them, so that the alignment state it
    carries (last winner, homography, subject mask) matches a continuous run. Its records go
    to per-chunk parts under ``OUT/.howard/parts/`` instead of howard.json and
    alignment.jsonl, merged in frame order at the end.
    """

    first: int
    stop: int
    warmup: int
    base_pass: Optional[Dict] = None

    @property
    def tag(self) -> str:
        return f"{self.first:06d}"


class MaskBoard:
    """Subject masks by frame index, handed from the network thread to the aligning thread.

    Args:
        floor: frames below this have no mask (a chunk's warm-up starts there).
    """

    def __init__(self, floor: int = 0):
        self.floor = floor
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
        """The mask of frame ``index`` (None below the floor); waits until it is there."""
        if index < self.floor:
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
    """Makes and writes each frame's files on a thread pool and records finished frames.

    The images are made on the pool too (``make`` in :meth:`submit`): turning the network's
    float outputs into 8- or 16-bit pixels is as much work as some of the encoding, and the
    network's thread has none to spare.
    """

    def __init__(self, folder: OutputFolder, png_level: int, workers: int, lag: int,
                 background: bool = False):
        self.folder, self.png_level, self.lag = folder, png_level, lag
        self.pool = (ThreadPoolExecutor(max_workers=workers, thread_name_prefix="howard-write",
                                        initializer=yield_to_network if background else None)
                     if workers > 0 else None)
        self.slots = threading.Semaphore(max(2, 2 * workers))
        self.lock = threading.Lock()
        self.finished: set = set()
        self.contiguous = 0
        self.errors = []

    def set_start(self, start: int) -> None:
        self.contiguous = start

    def submit(self, index: int, make: Callable[[], Dict[str, np.ndarray]],
               mask: np.ndarray, keep: Optional[Dict[str, np.ndarray]] = None) -> None:
        """Write frame ``index``: the images ``make()`` returns, by output kind, the
        subject ``mask`` and the images ``keep`` (by state folder name), both kept for
        resuming."""
        if self.errors:
            raise self.errors[0]
        if self.pool is None:
            return self._write(index, make, mask, keep)
        self.slots.acquire()
        future = self.pool.submit(self._write, index, make, mask, keep)
        future.add_done_callback(lambda f: self.slots.release())

    def _write(self, index, make, mask, keep=None):
        try:
            media.write_png(self.folder.state / "mask" / f"{index:06d}.png", mask, level=1)
            for name, image in (keep or {}).items():
                (self.folder.state / name).mkdir(exist_ok=True)
                media.write_png(self.folder.state / name / f"{index:06d}.png", image, level=1)
            for kind, image in make().items():
                media.write_png(self.folder.path(kind, index), image, level=self.png_level)
            with self.lock:
                self.folder.mark_done([index])
                self.finished.add(index)
                while self.contiguous in self.finished:
                    self.finished.discard(self.contiguous)
                    self.contiguous += 1
                stale = self.contiguous - self.lag - 2
            for name in ["mask", *(keep or {})]:
                old = self.folder.state / name / f"{stale:06d}.png"
                if stale >= 0 and old.exists():
                    old.unlink()
        except BaseException as e:  # surfaced on the next submit / close
            self.errors.append(e)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        if self.errors:
            raise self.errors[0]


