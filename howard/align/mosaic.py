"""Filling the part of the frame the chosen plate frame does not see.

A handheld plate is never framed exactly like the shot: warped to a subject frame, the chosen
plate frame leaves a strip or a corner of the frame uncovered. Other plate frames often see
it; :func:`compose` lays them, warped to the same frame, into that part, each colour-matched
to the chosen plate on the pixels both cover and feathered across the coverage edge so that no
seam shows. What no plate frame covers is filled by :func:`fill_uncovered`: from the frame
itself only where the subject is known to be absent, and elsewhere by extending the plate
(inpainting), so that a subject standing there is not taken for background.

All images are HxWx3 uint8 RGB in the subject frame's pixel grid; masks are HxW bool.
"""

from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from . import color

__all__ = ["coverage", "feather_width", "compose", "fill_uncovered"]

# inpainting runs on a copy at most this wide: the fill is smooth anyway, and cv2.inpaint's
# cost grows with the hole's area
INPAINT_WIDTH = 320


def coverage(H: np.ndarray, size: Tuple[int, int], plate_size: Optional[Tuple[int, int]] = None,
             erode: int = 1) -> np.ndarray:
    """Where a plate frame warped by ``H`` lands in a frame of ``size``.

    Args:
        H: 3x3 plate -> frame homography (at the resolution of ``size``).
        size: (h, w) of the frame.
        plate_size: (h, w) of the plate frame (default ``size``).
        erode: px trimmed off the covered area (where interpolation mixes in the border).

    Returns:
        HxW bool, True where the plate has a pixel.
    """
    h, w = size
    ph, pw = plate_size or size
    ones = np.full((ph, pw), 255, np.uint8)
    valid = cv2.warpPerspective(ones, H, (w, h), flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT)
    if erode > 0:
        valid = cv2.erode(valid, np.ones((3, 3), np.uint8), iterations=erode,
                          borderType=cv2.BORDER_REPLICATE)
    return valid > 0


def feather_width(size: Tuple[int, int]) -> int:
    """Width in px of the band over which a filling plate frame is blended into the chosen
    one: 1 % of the frame's width, at least 4 px (a seam then spans several pixels at any
    resolution, and stays well inside the ~2 % the subject mask is grown by)."""
    return max(4, int(round(0.01 * size[1])))


def compose(bgr: np.ndarray, valid: np.ndarray,
            layers: Sequence[Tuple[np.ndarray, np.ndarray]],
            feather: int) -> Tuple[np.ndarray, np.ndarray, List[float]]:
    """The chosen plate with the pixels it lacks taken from other warped plate frames.

    Layers are used in the order given (the most trusted first): each one fills what the
    plate so far does not cover. Before it is used, a layer gets the per-channel gain and bias
    that best map it onto the plate so far on the pixels both cover (plate frames of one take
    drift in exposure; no subject is in either, so every shared pixel is trusted). Across the
    edge of what was covered, the layer is blended in over ``feather`` px: its weight rises
    from 0 at ``feather`` px inside the covered part to 1 at the edge, and falls to 0 towards
    the layer's own edge, so neither edge makes a step.

    Args:
        bgr: HxWx3 uint8 RGB chosen plate frame warped to the subject frame (0 outside).
        valid: HxW bool, where ``bgr`` covers the frame.
        layers: ``(warped, covers)`` pairs: HxWx3 uint8 RGB plate frames warped to the same
            frame, and HxW bool where each covers it.
        feather: blending band in px (see :func:`feather_width`).

    Returns:
        ``(mosaic, covered, gained)``: HxWx3 uint8 RGB, HxW bool where any plate covers the
        frame, and per layer the fraction of the frame it added.
    """
    out = bgr.copy()
    covered = valid.copy()
    gained = []
    for warped, covers in layers:
        new = covers & ~covered
        if not new.any():
            gained.append(0.0)
            continue
        gain, bias = color.fit_gain_bias(warped, out, covers & covered, max_samples=10_000)
        warped = color.apply_gain_bias(warped, gain, bias)
        # distance (px) from the uncovered part inside what is covered, and from the layer's
        # edge inside the layer
        inside = cv2.distanceTransform(covered.view(np.uint8), cv2.DIST_L2, 3)
        own = cv2.distanceTransform(covers.view(np.uint8), cv2.DIST_L2, 3)
        band = covers & covered & (inside < feather)
        if band.any():
            weight = ((1.0 - inside[band] / feather) *
                      np.minimum(1.0, own[band] / feather))[:, None]
            mixed = out[band].astype(np.float32) * (1.0 - weight) + \
                warped[band].astype(np.float32) * weight
            out[band] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
        out[new] = warped[new]
        covered |= covers
        gained.append(float(new.mean()))
    return out, covered, gained


def fill_uncovered(bgr: np.ndarray, covered: np.ndarray, src: np.ndarray,
                   subject: np.ndarray) -> Tuple[np.ndarray, float]:
    """Fill the pixels no plate frame covers so that a subject standing there is kept.

    Where the subject mask says background, the frame itself is the background: it is copied
    (the network then reads those pixels as background, as they are). Under the subject mask
    the frame would hide the subject, so the plate is extended there instead: inpainted from
    everything around (the plate, and the frame's own background pixels), on a copy at most
    :data:`INPAINT_WIDTH` px wide. The network then sees the subject against a plausible,
    smooth background and keeps it.

    Args:
        bgr: HxWx3 uint8 RGB plate, colour-matched; modified in place and returned.
        covered: HxW bool, where a plate frame covers the frame.
        src: HxWx3 uint8 RGB subject frame.
        subject: HxW bool, where a recent alpha puts the subject (grown for its motion).

    Returns:
        ``(bgr, inpainted)``: the filled plate, and the fraction of the frame inpainted.
    """
    open_ = ~covered
    cv2.copyTo(src, (open_ & ~subject).view(np.uint8), bgr)
    hole = open_ & subject
    if not hole.any():
        return bgr, 0.0
    h, w = hole.shape
    f = min(1.0, INPAINT_WIDTH / w)
    size = (max(1, int(round(w * f))), max(1, int(round(h * f))))
    small = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA) if f < 1 else bgr.copy()
    # a small pixel touching the hole at all is unknown: hole pixels must not leak into the fill
    mask = cv2.resize(hole.view(np.uint8) * np.uint8(255), size, interpolation=cv2.INTER_AREA)
    mask = (mask > 0).view(np.uint8)
    filled = cv2.inpaint(small, mask, 3, cv2.INPAINT_TELEA)
    if f < 1:
        filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    cv2.copyTo(filled, hole.view(np.uint8), bgr)
    return bgr, float(hole.mean())
