"""What is written for each frame: the output images, the subject mask, the new background.

:func:`frame_images` makes the images of the output kinds from the network's outputs,
:func:`network_outputs` names the outputs they need, :func:`subject_mask` is the alpha kept for
aligning later frames, and :class:`Backdrop` streams the new background of the com output.
"""

from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from .io import composite
from .settings import Settings


def subject_mask(pha: np.ndarray, width: int = 480) -> np.ndarray:
    """The alpha handed to plate alignment as the subject's whereabouts, small and 8-bit.

    Quantised so a resumed run, which reads masks back from PNG, aligns exactly as an
    uninterrupted one. Args: pha (H,W) float [0,1]. Returns (h,w) uint8, ``width`` px wide.
    """
    h, w = pha.shape
    small = cv2.resize(pha, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return (np.clip(small, 0, 1) * 255 + 0.5).astype(np.uint8)


def to_uint(x: np.ndarray, depth: int) -> np.ndarray:
    """float in [0,1] -> uint8 (depth 8) or uint16 (depth 16), rounded.

    One float temporary, worked on in place and laid out as ``x`` is (a channel-first view
    stays channel-first until the cast), instead of three: fewer passes over a full HD frame.
    """
    scale, dtype = (255.0, np.uint8) if depth == 8 else (65535.0, np.uint16)
    y = np.multiply(x, np.float32(scale), dtype=np.float32)
    np.add(y, np.float32(0.5), out=y)
    np.clip(y, 0.0, scale + 0.5, out=y)  # the cast truncates: rounds to nearest from here
    return y.astype(dtype)


def frame_images(kinds, src, bgr, out: Dict[str, np.ndarray], depth: int,
                 premultiply: bool = False, back: Optional[np.ndarray] = None,
                 mode: str = "over", space: str = "linear") -> Dict[str, np.ndarray]:
    """The images to write for one frame, by output kind.

    Args:
        src, bgr: HxWx3 uint8 RGB frame and aligned plate.
        out: the network's float outputs for the frame (``pha`` HxW, ``fgr`` HxWx3, ...).
        back: HxWx3 uint8 RGB new background (for ``com``).
    """
    images = {}
    for kind in kinds:
        if kind == "rgba":
            rgba = np.dstack([to_uint(out["fgr"], depth), to_uint(out["pha"], depth)])
            images[kind] = composite.premultiply(rgba) if premultiply else rgba
        elif kind == "com":
            pha8, fgr8 = to_uint(out["pha"], 8), to_uint(out["fgr"], 8)
            images[kind] = (composite.composite(fgr8, pha8, back, space) if mode == "over"
                            else composite.inside(src, pha8, back, space))
        elif kind in ("pha", "err", "ref"):
            images[kind] = to_uint(out[kind], depth if kind == "pha" else 8)
        elif kind == "fgr":
            images[kind] = to_uint(out["fgr"], depth)
        elif kind == "bgr":
            images[kind] = bgr
    return images


def network_outputs(kinds: Sequence[str]) -> Tuple[str, ...]:
    """The network outputs that the output ``kinds`` are made from (``pha`` always: it is
    also the subject mask for aligning later frames)."""
    kinds = set(kinds)
    need = {"pha"} | ({"fgr"} if kinds & {"rgba", "fgr", "com"} else set()) | (
        kinds & {"err", "ref"})
    return tuple(k for k in ("pha", "fgr", "err", "ref") if k in need)


class Backdrop:
    """The new background frame by subject frame index, streamed (for the com output)."""

    def __init__(self, settings: Settings, size, n_frames: int):
        self.frames = None
        if settings.background is not None and "com" in settings.outputs:
            self.frames = iter(composite.parse_background(settings.background, size, n_frames))

    def frame(self, index: int) -> Optional[np.ndarray]:
        if self.frames is None:
            return None
        return composite.frame_at(self.frames, index, "the background")
