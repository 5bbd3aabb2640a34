"""Filling the part of the frame the chosen plate frame does not see.

A handheld plate is never framed exactly like the shot: warped to a subject frame, the chosen
plate frame leaves a strip or a corner of the frame uncovered. Other plate frames often see
it; :func:`compose` lays them, warped to the same frame, into that part, each colour-matched
to the chosen plate on the pixels both cover and feathered across the coverage edge so that no
seam shows. What no plate frame covers is filled by :func:`fill_uncovered`: from the frame
itself, except where the subject crosses into it from the covered part; there the plate is
extended (inpainted), so that a subject standing there is not taken for background.

All images are HxWx3 uint8 RGB in the subject frame's pixel grid; masks are HxW bool.
"""

from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from . import color

__all__ = ["coverage", "feather_width", "compose", "subject_at_edge", "fill_uncovered"]

# inpainting runs on a copy at most this wide: the fill is smooth anyway, and cv2.inpaint's
# cost grows with the hole's area
INPAINT_WIDTH = 320
# frame and plate differ by more than this (sum of the three channels' absolute differences,
# 0-765) where the subject is: 4-5 times the sensor noise and exposure residue of a matched
# plate, and about the difference key's threshold (0.12 of full scale in each channel is 92)
SUBJECT_KEY = 60


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
    resolution)."""
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
    # the work is done on the bounding box of what is uncovered, grown by twice the band (a
    # strip along one edge is a small part of the frame)
    rows, cols = np.flatnonzero(~valid.all(1)), np.flatnonzero(~valid.all(0))
    if rows.size == 0:
        return out, covered, [0.0] * len(layers)
    pad = 2 * feather
    box = np.s_[max(0, rows[0] - pad):rows[-1] + pad + 1, max(0, cols[0] - pad):cols[-1] + pad + 1]
    for warped, covers in layers:
        new = covers & ~covered
        if not new.any():
            gained.append(0.0)
            continue
        gain, bias = color.fit_gain_bias(warped, out, covers & covered, max_samples=10_000)
        warped = color.apply_gain_bias(warped[box], gain, bias)
        have, lay, dst = covered[box], covers[box], out[box]
        # distance (px) from the uncovered part inside what is covered, and from the layer's
        # edge inside the layer
        inside = cv2.distanceTransform(have.view(np.uint8), cv2.DIST_L2, 3)
        own = cv2.distanceTransform(lay.view(np.uint8), cv2.DIST_L2, 3)
        band = lay & have & (inside < feather)
        if band.any():
            weight = ((1.0 - inside[band] / feather) *
                      np.minimum(1.0, own[band] / feather))[:, None]
            mixed = dst[band].astype(np.float32) * (1.0 - weight) + \
                warped[band].astype(np.float32) * weight
            dst[band] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
        fresh = new[box]
        dst[fresh] = warped[fresh]
        covered |= covers
        gained.append(float(new.mean()))
    return out, covered, gained


def subject_at_edge(bgr: np.ndarray, covered: np.ndarray, src: np.ndarray,
                    work_width: int = 640) -> np.ndarray:
    """The uncovered pixels whose nearest covered pixel shows the subject.

    Where the plate stops, the frame's difference from it says whether the subject crosses
    the coverage edge; a subject cut there most likely goes on into the part no plate frame
    sees (a person at the frame's edge, cut along a straight line). Each uncovered pixel
    takes the verdict of the nearest covered pixel, so the subject is extended straight
    across. Depends on nothing but this frame, so it holds on the first frames, before any
    alpha is known.

    Args:
        bgr: HxWx3 uint8 RGB plate, colour-matched (valid where ``covered``).
        covered: HxW bool, where a plate frame covers the frame.
        src: HxWx3 uint8 RGB subject frame.
        work_width: judged on copies at most this wide (the verdict is coarse anyway; a
            tenth of the time at 1920 px).

    Returns:
        HxW bool, True on uncovered pixels judged to hold the subject.
    """
    h, w = covered.shape
    full = covered
    if w > work_width:
        size = (work_width, max(1, int(round(h * work_width / w))))
        bgr, src = (cv2.resize(x, size, interpolation=cv2.INTER_AREA) for x in (bgr, src))
        # a small pixel counts as covered only when all of it is
        covered = cv2.resize(covered.view(np.uint8), size, interpolation=cv2.INTER_AREA) == 1
    diff = cv2.transform(cv2.absdiff(src, bgr).astype(np.float32), np.ones((1, 3), np.float32))
    # a majority of the covered pixels within 5x5 px: single pixels of noise or misalignment
    # do not count, nor do the uncovered ones (no plate there to differ from)
    votes = cv2.blur(((diff > SUBJECT_KEY) & covered).astype(np.float32), (5, 5))
    key = votes > 0.5 * cv2.blur(covered.astype(np.float32), (5, 5))
    # the label of every uncovered pixel's nearest covered pixel (each covered pixel its own)
    _, labels = cv2.distanceTransformWithLabels(
        (~covered).view(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    verdict = np.zeros(int(labels.max()) + 1, bool)
    verdict[labels[covered]] = key[covered]
    found = (~covered & verdict[labels]).view(np.uint8)
    if found.shape != full.shape:
        found = cv2.resize(found, (w, h), interpolation=cv2.INTER_NEAREST)
    return ~full & found.view(bool)


def fill_uncovered(bgr: np.ndarray, covered: np.ndarray,
                   src: np.ndarray) -> Tuple[np.ndarray, float]:
    """Fill the pixels no plate frame covers so that a subject standing there is kept.

    Where the subject is not, the frame itself is the background: it is copied (the network
    then reads those pixels as background, as they are). Where it is, the frame would hide
    it, so the plate is extended there instead: inpainted from everything around (the plate,
    and the frame's own background pixels), on a copy at most :data:`INPAINT_WIDTH` px wide.
    The network then sees the subject against a plausible, smooth background and keeps it.
    The subject is taken to be where it crosses the coverage edge, extended straight across
    (:func:`subject_at_edge`).

    The choice depends on this frame alone. A rule driven by a recent alpha (the frame off
    the subject, the plate inpainted under it) feeds on itself: the part it copies comes out
    as background and stays copied, the part it inpaints comes out as subject, background
    included, and stays inpainted; a run resumed or started mid-clip (a cluster chunk) could
    then settle the other way than a continuous one. On clips whose plate misses a tenth of
    the width (``scripts/evaluate.py --coverage 0.1 --coverage-mode offset``) the two rules
    gave the same SAD within 4 %.

    Args:
        bgr: HxWx3 uint8 RGB plate, colour-matched (valid where ``covered``); modified in
            place and returned.
        covered: HxW bool, where a plate frame covers the frame.
        src: HxWx3 uint8 RGB subject frame.

    Returns:
        ``(bgr, inpainted)``: the filled plate, and the fraction of the frame inpainted.
    """
    open_ = ~covered
    if not open_.any():
        return bgr, 0.0
    hole = open_ & subject_at_edge(bgr, covered, src)
    cv2.copyTo(src, (open_ & ~hole).view(np.uint8), bgr)
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
