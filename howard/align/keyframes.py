"""Plate frames kept for the mosaic: every ``step``-th frame within ``reach`` of the time-mapped
one, read by a decoder of their own.

The candidates of :class:`howard.align.plate_window.PlateWindow` span a few frames; a strip the
chosen plate frame misses is more often seen by a plate frame half a second or a second away
(the operator's framing drifts). :class:`Keyframes` keeps those, a bounded handful, as the
plate is read. Which frames it holds for a subject frame depends only on that frame's
time-mapped plate index, never on what was read before, so a run resumed or cut into chunks
builds the same mosaic as a continuous one.

It decodes the plate a second time, forwards, separately from the candidates' window (which
must not run ahead by ``reach``), and only once a frame has needed the mosaic.
"""

import logging
import math
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from .plate_window import PlateFrame, PlateWindow

__all__ = ["Keyframes", "keyframe_indices"]

log = logging.getLogger(__name__)


def keyframe_indices(centre: int, n_plate: int, step: int, reach: int) -> List[int]:
    """Plate frames kept around plate frame ``centre``: the multiples of ``step`` within
    ``reach`` of it (both sides), inside ``[0, n_plate)``, ascending."""
    if step < 1 or reach < 0:
        return []
    first = int(math.ceil(max(0, centre - reach) / step)) * step
    return list(range(first, min(n_plate - 1, centre + reach) + 1, step))


class Keyframes:
    """The plate's keyframes around the time-mapped frame, decoded by a second reader.

    Args:
        window: the plate's :class:`PlateWindow` (its source, length and frame preparation
            are shared; its own decoder is left alone).
        step: keep every ``step``-th plate frame.
        reach: plate frames either side of the time-mapped one.

    At most ``2 * reach // step + 1`` frames are held (with their small copies and, once
    matched, their features).
    """

    def __init__(self, window: PlateWindow, step: int = 8, reach: int = 24):
        self.window, self.step, self.reach = window, step, reach
        self.frames: Dict[int, PlateFrame] = {}
        self._it: Optional[Iterator[Tuple[int, np.ndarray]]] = None
        self._next = 0

    def around(self, centre: int) -> Dict[int, PlateFrame]:
        """The keyframes for time-mapped plate frame ``centre`` (features not computed: see
        :meth:`PlateWindow.describe`); every other held keyframe is let go."""
        want = keyframe_indices(centre, self.window.length, self.step, self.reach)
        self.frames = {i: f for i, f in self.frames.items() if i in want}
        for i in want:
            if i not in self.frames:
                frame = self._read(i)
                if frame is None:  # the plate ended early
                    break
                self.frames[i] = self.window.prepare(i, frame)
        return dict(self.frames)

    def _read(self, index: int) -> Optional[np.ndarray]:
        """Plate frame ``index`` as decoded, or None past the end."""
        source = self.window.source
        if source.kind != "video":  # image files: read the one wanted
            return next(source.frames(index), (None, None))[1]
        if self._it is None or index < self._next:
            self.close()
            self._it, self._next = source.frames(index), index
        for got_index, frame in self._it:
            self._next = got_index + 1
            if got_index == index:
                return frame
        self.close()
        return None

    def close(self) -> None:
        """Stop decoding."""
        if self._it is not None:
            self._it.close()
            self._it = None
