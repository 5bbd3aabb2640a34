"""The plate clip at the subject's size: fitting, candidate frames, and a streaming window.

:func:`plate_crop` and :func:`fit_plate` bring a plate frame to the subject's size and aspect;
:func:`candidates` lists the plate frames to try for a subject frame; :class:`PlateWindow`
decodes the plate forwards and holds just those frames, with their features.
"""

import logging
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from . import homography
from ..errors import InputError
from ..io.media import FrameSource

log = logging.getLogger(__name__)

PLATE_FITS = ("error", "crop", "stretch")


def plate_crop(plate_size: Tuple[int, int], size: Tuple[int, int],
               mode: str = "error") -> Tuple[int, int, int, int]:
    """The part ``(y0, y1, x0, x1)`` of a plate of ``plate_size`` that is resized to ``size``.

    Same aspect ratio (within 1%): all of it. Otherwise ``mode`` decides: ``'crop'`` keeps the
    centre at the subject's aspect, ``'stretch'`` keeps all of it, ``'error'`` raises.

    Raises:
        InputError: the aspect ratios differ and ``mode`` is ``'error'``.
    """
    if mode not in PLATE_FITS:
        raise ValueError(f"plate_fit must be one of {PLATE_FITS}, got {mode!r}")
    (ph, pw), (h, w) = plate_size, size
    ratio = (pw / ph) / (w / h)
    if abs(ratio - 1.0) <= 0.01 or mode == "stretch":
        return 0, ph, 0, pw
    if mode == "crop":
        if ratio > 1:  # plate wider: trim the sides
            cw = int(round(ph * w / h))
            return 0, ph, (pw - cw) // 2, (pw - cw) // 2 + cw
        ch = int(round(pw * h / w))
        return (ph - ch) // 2, (ph - ch) // 2 + ch, 0, pw
    raise InputError(
        f"the plate is {pw}x{ph} (aspect {pw / ph:.3f}) but the subject is {w}x{h} (aspect "
        f"{w / h:.3f}); film both the same way, or pass plate_fit='crop' (--plate-fit crop) "
        f"to cut the plate's centre or 'stretch' to stretch it")


def fit_plate(frame: np.ndarray, size: Tuple[int, int], mode: str = "error") -> np.ndarray:
    """A plate frame (hxwx3 uint8 RGB) cut (see :func:`plate_crop`) and resized to ``size``."""
    (h, w) = size
    if frame.shape[:2] == (h, w):
        return frame
    y0, y1, x0, x1 = plate_crop(frame.shape[:2], size, mode)
    frame = frame[y0:y1, x0:x1]
    shrinking = frame.shape[0] * frame.shape[1] > h * w
    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA if shrinking
                      else cv2.INTER_CUBIC)


def candidates(t: int, n_subject: int, n_plate: int, window: int = 3,
               previous: Optional[int] = None) -> List[int]:
    """Plate frame indices to try for subject frame ``t``, ascending.

    The plate frames within ``window`` of ``t * n_plate // n_subject``, plus ``previous`` (the
    winner for ``t - 1``), all within ``[0, n_plate)``.
    """
    centre = min(n_plate - 1, t * n_plate // max(1, n_subject))
    picks = set(range(max(0, centre - window), min(n_plate, centre + window + 1)))
    if previous is not None and 0 <= previous < n_plate:
        picks.add(previous)
    return sorted(picks)


@dataclass
class PlateFrame:
    """One decoded plate frame, at the subject's size, and what is derived from it once.

    Attributes:
        index: plate frame index.
        rgb: HxWx3 uint8 RGB at the subject's size.
        small: hxwx3 uint8 RGB shrunk for scoring; ``grey``: its hxw uint8 grey.
        features: keypoints, computed on first use and kept while the frame is held.
    """

    index: int
    rgb: np.ndarray
    small: np.ndarray
    grey: np.ndarray
    features: Optional[homography.Features] = None


class PlateWindow:
    """Streams a plate clip forwards, holding just the frames asked for last.

    Indices may be asked in any order within one request. Across requests the plate is
    cheapest walked forwards; when a request goes below what was decoded (a plate walked the
    other way), the clip is decoded again from up to ``behind`` frames further back and those
    frames are kept (without features) for the requests that follow, so that a reversed plate
    restarts its decoder once every ``behind`` frames, not on every frame.

    Args:
        source: the plate clip.
        size: (H, W) of the subject.
        plate_fit: see :func:`fit_plate`.
        length: frames in the plate (``source.count()`` when None).
        method, n_features, work_width: feature settings (see :func:`homography.detect`).
        small_width: width of the copies used for scoring and refinement.
        executor: when given, the next ``ahead`` plate frames are decoded and described on it
            while the caller works on the current ones (the same frames and features as
            without it, sooner). All decoding then happens there, one job at a time.
        ahead: frames read ahead at most.
        behind_mb: memory for the frames kept behind the requested ones after a backward
            step (``behind`` frames: as many as fit, 2 to 64).
    """

    def __init__(self, source: FrameSource, size: Tuple[int, int], plate_fit: str = "error",
                 length: Optional[int] = None, method: str = "orb", n_features: int = 2000,
                 work_width: int = 960, small_width: int = 640,
                 executor: Optional[Executor] = None, ahead: int = 2,
                 behind_mb: float = 256.0):
        plate_crop(source.size, size, plate_fit)  # a bad aspect fails here, not mid-run
        self.source, self.size, self.plate_fit = source, size, plate_fit
        self.length = source.count() if length is None else int(length)
        self.detect_args = dict(method=method, n_features=n_features, work_width=work_width)
        self.small_width = small_width
        self.frames: Dict[int, PlateFrame] = {}
        self._it, self._next = None, 0
        self.decoded = self.described = 0
        self.executor, self.ahead = executor, ahead
        self._spare: Dict[int, PlateFrame] = {}  # read ahead, not asked for yet
        self._job: Optional[Future] = None
        self._ended: Optional[int] = None  # where the clip ended, found by a job
        small_h = max(1, round(size[0] * min(1.0, small_width / size[1])))
        per_frame = size[0] * size[1] * 3 + small_h * min(small_width, size[1]) * 4
        self.behind = int(min(64, max(2, behind_mb * 2**20 // per_frame)))
        self._behind: Dict[int, PlateFrame] = {}  # decoded below a backward request

    def fetch(self, indices) -> Dict[int, PlateFrame]:
        """The plate frames ``indices`` (those that exist), features computed; every other
        held frame is let go."""
        self._settle()
        need = sorted(set(int(i) for i in indices if 0 <= i < self.length))
        held = {**self._behind, **self.frames, **self._spare}
        self.frames = {i: f for i, f in held.items() if i in need}
        self._spare = {i: f for i, f in self._spare.items() if need and i > need[-1]}
        self._behind = {i: f for i, f in self._behind.items() if need and i < need[0]}
        missing = [i for i in need if i not in self.frames]
        if missing:
            if self._it is None or missing[0] < self._next:
                start = missing[0]
                if self.decoded and missing[0] < self._next:  # walking backwards
                    start = max(0, missing[0] - max(0, self.behind - len(need)))
                self.close()  # lets the frames behind go too
                self._spare = {}
                self._it, self._next = self.source.frames(start), start
            while self._it is not None and self._next <= missing[-1]:
                got = self._read()
                if got is not None and got[0] in missing:
                    self.frames[got[0]] = self.prepare(*got)
                elif got is not None and got[0] < missing[0]:
                    self._behind[got[0]] = self.prepare(*got)
            self._settle()
        for i in need:
            f = self.frames.get(i)
            if f is not None and f.features is None:
                self.describe(f)
        if self.executor is not None and self._it is not None and len(self._spare) < self.ahead:
            self._job = self.executor.submit(self._read_ahead)
        return {i: self.frames[i] for i in need if i in self.frames}

    def _read(self) -> Optional[Tuple[int, np.ndarray]]:
        """The next decoded ``(index, frame)``, or None at the end of the clip."""
        got = next(self._it, None)
        if got is None:
            self._ended, self._it = self._next, None
            return None
        self._next, self.decoded = got[0] + 1, self.decoded + 1
        return got

    def _read_ahead(self) -> None:
        """Job: decode, prepare and describe frames past those asked for, up to ``ahead``."""
        while self._it is not None and len(self._spare) < self.ahead:
            got = self._read()
            if got is not None:
                self._spare[got[0]] = self.describe(self.prepare(*got))

    def _settle(self) -> None:
        """Wait for the read-ahead job (re-raising its error); note where the clip ended."""
        if self._job is not None:
            job, self._job = self._job, None
            job.result()
        if self._ended is not None:
            if self._ended < self.length:
                log.warning("plate %s ended at frame %d, not %d as counted",
                            self.source.name, self._ended, self.length)
                self.length = self._ended
            self._ended = None

    def prepare(self, index: int, frame: np.ndarray) -> PlateFrame:
        """Plate frame ``index`` (as decoded) at the subject's size, with its small copies."""
        rgb = fit_plate(frame, self.size, self.plate_fit)
        small = homography.shrink(rgb, self.small_width)
        return PlateFrame(index, rgb, small, cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))

    def describe(self, f: PlateFrame) -> PlateFrame:
        """``f`` with its features computed (counted in ``described``)."""
        f.features = homography.detect(f.rgb, **self.detect_args)
        self.described += 1
        return f

    def close(self) -> None:
        """Stop decoding (ends the ffmpeg process of a video plate)."""
        if self._job is not None:
            job, self._job = self._job, None
            job.exception()  # wait: it may be using the decoder
        if self._it is not None:
            self._it.close()
            self._it = None
        self._behind = {}
