"""Where the person of a synthetic clip stands: magnified into a medium shot or close-up, or
moved to a side of the frame.

Each function returns a :data:`PersonFn`, ``(rng, (h, w)) -> (fgr, pha)`` as
:func:`howard.synth.clips.plan_clip` takes: float32 (h, w, 3) straight RGB colour in [0, 1] and
float32 (h, w) alpha.
"""

from typing import Callable, Optional, Tuple

import cv2
import numpy as np

from . import samples

Size = Tuple[int, int]
PersonFn = Callable[[np.random.Generator, Size], Tuple[np.ndarray, np.ndarray]]


def closeup_person(zoom: float) -> PersonFn:
    """A :data:`PersonFn` for medium shots and close-ups: :func:`howard.synth.samples.person` drawn at
    the frame's size and magnified ``zoom`` times about the middle of its chest, which lands at
    45 % of the width and 40 % of the height; the figure runs off the frame's edges (and its
    edges are ``zoom`` times softer than in a full-length shot)."""
    if zoom < 1:
        raise ValueError(f"zoom must be at least 1, got {zoom}")

    def draw(rng: np.random.Generator, size: Size) -> Tuple[np.ndarray, np.ndarray]:
        h, w = size
        fgr, pha = samples.person(rng, size)
        ys, xs = np.nonzero(pha > 0.99)  # the solid figure, not its hair strands
        if ys.size == 0:
            return fgr, pha
        top, bottom = ys.min(), ys.max()
        cy = top + 0.3 * (bottom - top)  # chest height of a standing figure
        row = xs[np.abs(ys - cy) < 2]
        cx = float(np.median(row)) if row.size else float(xs.mean())
        m = np.float64([[zoom, 0, 0.45 * w - zoom * cx], [0, zoom, 0.4 * h - zoom * cy]])
        warp = [cv2.warpAffine(np.ascontiguousarray(x), m, (w, h), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_CONSTANT) for x in (fgr, pha)]
        return np.clip(warp[0], 0, 1), np.clip(warp[1], 0, 1)

    return draw


def edge_person(at: float = 0.9, person_fn: Optional[PersonFn] = None) -> PersonFn:
    """A :data:`PersonFn` whose figure stands near a side of the frame: ``person_fn``'s
    (default :func:`howard.synth.samples.person`) moved sideways so that the middle of its
    opaque part lies at ``at`` of the width (0.9: near the right edge, partly cut off by it).
    """
    if not 0.0 <= at <= 1.0:
        raise ValueError(f"at must be in [0, 1], got {at}")

    def draw(rng: np.random.Generator, size: Size) -> Tuple[np.ndarray, np.ndarray]:
        h, w = size
        fgr, pha = (person_fn or samples.person)(rng, size)
        xs = np.nonzero(pha > 0.5)[1]
        if xs.size == 0:
            return fgr, pha
        dx = at * (w - 1) - 0.5 * (float(xs.min()) + float(xs.max()))
        m = np.float64([[1, 0, dx], [0, 1, 0]])
        warp = [cv2.warpAffine(np.ascontiguousarray(x), m, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT) for x in (fgr, pha)]
        return np.clip(warp[0], 0, 1), np.clip(warp[1], 0, 1)

    return draw
