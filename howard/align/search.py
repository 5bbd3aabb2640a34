"""Finding plate frames that show what a subject frame shows, over the whole plate.

The plate pass is rarely a replay of the shot: it may be walked the other way, faster or
slower, or start elsewhere, so the plate frame shot at the same relative time may show another
part of the scene. :class:`PlateIndex` keeps a cheap global descriptor of every plate frame
(a blurred, contrast-normalised grey thumbnail), computed once in one streamed pass over the
plate; :meth:`PlateIndex.rank` orders the plate frames by how well their thumbnails agree with
the frame's on its background. Features then verify the best few (see
:meth:`howard.align.aligner.PlateAligner.choose`).

The descriptor ignores exposure (each thumbnail is brought to zero mean and unit spread) and
tolerates a few percent of shake (it is 32 px wide and blurred by about a pixel); it depends on
the plate alone, so every run, chunk or resumed run builds the same index.
"""

import logging
import math
from typing import Optional, Tuple

import cv2
import numpy as np

from ..io.media import FrameSource
from .plate_window import plate_crop

log = logging.getLogger(__name__)

THUMB_WIDTH = 32
MAX_ENTRIES = 20_000  # past this many plate frames, every k-th is indexed (memory bound)


def thumb_size(size: Tuple[int, int], width: int = THUMB_WIDTH) -> Tuple[int, int]:
    """(h, w) of the thumbnail of a frame of ``size`` (h, w): ``width`` wide, same aspect."""
    h, w = size
    return max(4, int(round(width * h / w))), width


def descriptor(image: np.ndarray, size: Tuple[int, int],
               keep: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """The global descriptor of one frame, and the weight of each of its elements.

    Args:
        image: HxWx3 uint8 RGB (any size; shrunk to ``thumb_size(size)`` by area averaging).
        size: (h, w) whose aspect sets the thumbnail's shape (the subject's).
        keep: HxW bool at any resolution, True where the frame shows background; None: all.

    Returns:
        ``(d, w)``: (D,) float32, the blurred grey thumbnail less its (weighted) mean, over its
        (weighted) spread; (D,) float32 weights in [0, 1] (the share of background in each
        thumbnail pixel, all 1 without ``keep``). D = th * tw.
    """
    th, tw = thumb_size(size)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    small = cv2.resize(grey, (tw, th), interpolation=cv2.INTER_AREA).astype(np.float32)
    small = cv2.GaussianBlur(small, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT_101)
    if keep is None:
        weight = np.ones((th, tw), np.float32)
    else:
        weight = cv2.resize(keep.astype(np.float32), (tw, th), interpolation=cv2.INTER_AREA)
    d, weight = small.ravel(), weight.ravel()
    total = float(weight.sum())
    if total < 1e-3:  # nothing to go by: a flat descriptor that matches nothing better
        return np.zeros_like(d), weight
    mean = float((d * weight).sum()) / total
    spread = math.sqrt(float(((d - mean) ** 2 * weight).sum()) / total)
    return ((d - mean) / max(spread, 1.0)).astype(np.float32), weight


class PlateIndex:
    """Global descriptors of every plate frame, for searching the whole plate.

    Built by one forward pass over ``source`` (its own decoder, apart from the plate window's).
    Holds at most :data:`MAX_ENTRIES` float16 descriptors (about 1.2 kB each at 16:9): a
    longer plate has every ``stride``-th frame indexed.

    Args:
        source: the plate clip.
        size: (H, W) of the subject frames.
        plate_fit: as :func:`howard.align.plate_window.plate_crop`.
        length: frames in the plate as counted.
    """

    def __init__(self, source: FrameSource, size: Tuple[int, int], plate_fit: str = "error",
                 length: Optional[int] = None):
        self.size = tuple(size)
        length = source.count() if length is None else int(length)
        self.stride = max(1, math.ceil(length / MAX_ENTRIES))
        y0, y1, x0, x1 = plate_crop(source.size, self.size, plate_fit)
        rows, indices = [], []
        for i, frame in source.frames(0):
            if i % self.stride:
                continue
            rows.append(descriptor(frame[y0:y1, x0:x1], self.size)[0].astype(np.float16))
            indices.append(i)
        self.indices = np.array(indices, np.int64)
        self.table = np.stack(rows) if rows else np.zeros((0, 1), np.float16)
        log.debug("plate index: %d descriptors of %d values (stride %d)", len(indices),
                  self.table.shape[1], self.stride)

    def __len__(self) -> int:
        return len(self.indices)

    def distances(self, image: np.ndarray, keep: Optional[np.ndarray] = None) -> np.ndarray:
        """(N,) float64: weighted mean squared difference of each indexed plate frame's
        descriptor from ``image``'s on its background (0: the same view; about 2: unrelated).

        Args: as :func:`descriptor` (``image`` at the subject's size or any size of its aspect).
        """
        d, w = descriptor(image, self.size, keep)
        total = max(float(w.sum()), 1e-6)
        diff = self.table.astype(np.float32) - d[None, :]
        return (diff * diff) @ w.astype(np.float64) / total

    def nearest(self, image: np.ndarray, keep: Optional[np.ndarray] = None) -> dict:
        """``{plate index: distance}`` for every indexed frame (see :meth:`distances`)."""
        return dict(zip(self.indices.tolist(), self.distances(image, keep).tolist()))


class PlateSearch:
    """Widens a subject frame's candidate plate frames when time mapping looks wrong.

    The aligner's usual candidates are the plate frames near the time-mapped one and the last
    winner. Their descriptors are compared with the best over the whole plate: when the best
    of them is clearly further (:meth:`widen`), or when none of them aligned (:meth:`more`),
    the nearest frames of the whole plate and a window around where the last two winners
    point (the plate walked another way or pace) are added, nearest first. Tracking then goes
    on from what was found, since the last winner is always a candidate.

    Args:
        source, size, plate_fit, length: as :class:`PlateIndex` (built on first use).
        window: plate frames either side of the predicted one.
        top: nearest frames of the whole plate verified.
        ratio, margin: the usual candidates look poor when their nearest descriptor distance
            exceeds ``ratio * best + margin`` (distances about 0.2-0.5 for the true view,
            0.5-1 for another part of the scene; see :meth:`PlateIndex.distances`).
    """

    def __init__(self, source: FrameSource, size: Tuple[int, int], plate_fit: str = "error",
                 length: Optional[int] = None, window: int = 3, top: int = 3,
                 ratio: float = 1.25, margin: float = 0.03):
        self.source, self.size, self.plate_fit, self.length = source, size, plate_fit, length
        self.window, self.top, self.ratio, self.margin = window, top, ratio, margin
        self.index: Optional[PlateIndex] = None
        self.searches = 0  # frames whose candidates were widened, for the log

    def _distances(self, small: np.ndarray, busy: np.ndarray) -> dict:
        if self.index is None:
            self.index = PlateIndex(self.source, self.size, self.plate_fit, self.length)
        return self.index.nearest(small, ~busy)

    def _near(self, dist: dict, i: int) -> float:
        """Distance of plate frame ``i`` (the nearest indexed one's, for a strided index)."""
        s = self.index.stride
        return dist.get(i // s * s, float("inf"))

    def widen(self, picks, n_plate: int, small: np.ndarray, busy: np.ndarray,
              predicted: Optional[int]) -> Tuple[list, bool]:
        """``(picks, widened)``: the candidates, widened where they look poor.

        Args:
            picks: the usual candidate plate frames.
            n_plate: frames in the plate.
            small: hxwx3 uint8 RGB subject frame (any size of its aspect).
            busy: hxw bool subject mask at ``small``'s size.
            predicted: the plate frame the last two winners point to, or None.
        """
        self._dist = None
        if n_plate < 2:
            return list(picks), False
        self._dist = dist = self._distances(small, busy)
        best = min(dist.values())
        mine = min((self._near(dist, i) for i in picks), default=float("inf"))
        if mine <= self.ratio * best + self.margin:
            return list(picks), False
        return sorted(set(picks) | set(self._extra(n_plate, predicted, picks))), True

    def more(self, tried, n_plate: int, predicted: Optional[int]) -> list:
        """Plate frames not yet ``tried`` to verify when none of the candidates aligned."""
        if self._dist is None:
            return []
        return sorted(set(self._extra(n_plate, predicted, tried)) - set(tried))

    def _extra(self, n_plate: int, predicted: Optional[int], have) -> list:
        """The ``top`` nearest frames of the whole plate, and the window about ``predicted``
        if it looks as near; the nearest ``2 * window + 2`` of those (the work bounded)."""
        self.searches += 1
        dist = self._dist
        best = min(dist.values())
        order = sorted(dist, key=lambda i: (round(dist[i], 6), i))
        found = []
        for i in order:
            if all(abs(i - j) > 2 for j in found):
                found.append(i)
            if len(found) == self.top:
                break
        if predicted is not None:
            found += [i for i in range(predicted - self.window, predicted + self.window + 1)
                      if 0 <= i < n_plate and self._near(dist, i) <= 2 * self.ratio * best
                      + self.margin]
        found = [i for i in dict.fromkeys(found) if 0 <= i < n_plate and i not in have]
        found.sort(key=lambda i: (round(self._near(dist, i), 6), i))
        return found[:2 * self.window + 2]
