"""Aligning a plate frame to a subject frame: features, matching, homography, warp.

Conventions: images are HxWx3 uint8 RGB; points are (x, y) float32 with pixel centres at
integer coordinates; ``H`` is a 3x3 float64 homography mapping plate pixel coordinates to subject
pixel coordinates, both at full resolution, normalised so ``H[2, 2] == 1``.

Features are found on a grey copy shrunk to a working width (960 px by default) and their
coordinates mapped back to full resolution, so the homography always lives at full resolution.
Matching can be guided by a prior homography (the previous frame's); the robust estimate can
be polished to a few hundredths of a pixel by ECC on the image itself (:func:`refine_ecc`).
"""

import logging
from typing import Optional, Tuple

import cv2
import numpy as np

from .features import (METHODS, Features, corners, detect, match, project, rescale_homography,
                       scale_matrix, shrink)

__all__ = ["METHODS", "Features", "scale_matrix", "rescale_homography", "shrink", "detect",
           "match", "find_homography", "corners", "project", "corner_error",
           "check_homography", "disagreeing", "warp_plate", "fill_border", "subject_mask",
           "photometric_residual", "refine_ecc", "track_ecc"]

log = logging.getLogger(__name__)


def find_homography(pts_plate: np.ndarray, pts_src: np.ndarray, thresh: float = 3.0,
                    seed: int = 0) -> Tuple[Optional[np.ndarray], int]:
    """Robust homography plate -> subject from matched points (MAGSAC++, RANSAC fallback).

    Args:
        pts_plate, pts_src: (M, 2) float32 matched points.
        thresh: inlier reprojection threshold in full-resolution px.
        seed: seeds OpenCV's RNG so the same inputs give the same answer.

    Returns:
        ``(H, inliers)``: H normalised 3x3 float64 or None when no model was found.
    """
    if len(pts_plate) < 8:
        return None, 0
    cv2.setRNGSeed(seed)
    H, mask = None, None
    methods = [getattr(cv2, "USAC_MAGSAC", None), cv2.RANSAC]
    for method in [m for m in methods if m is not None]:
        try:
            H, mask = cv2.findHomography(pts_plate, pts_src, method, thresh, maxIters=2000,
                                         confidence=0.999)
        except cv2.error as e:
            log.debug("findHomography (method %s) failed: %s", method, e)
            H = None
        if H is not None:
            break
    if H is None or not np.isfinite(H).all() or abs(H[2, 2]) < 1e-12:
        return None, 0
    return H / H[2, 2], int(mask.sum())


def corner_error(H_a: np.ndarray, H_b: np.ndarray, size: Tuple[int, int]) -> float:
    """Mean distance in px between the image corners mapped by ``H_a`` and by ``H_b``."""
    c = corners(size)
    return float(np.linalg.norm(project(H_a, c)[0] - project(H_b, c)[0], axis=1).mean())


def check_homography(H: Optional[np.ndarray], size: Tuple[int, int], inliers: int,
                     min_inliers: int = 30, max_shift: float = 0.25,
                     max_area_change: float = 2.0) -> Optional[str]:
    """Why ``H`` is implausible for a handheld plate shot from about the same spot, or None.

    Rejects: fewer than ``min_inliers`` inliers; a determinant of the upper-left 2x2 that is
    not positive (a mirror image), or outside [1/max_area_change, max_area_change]
    (near-singular or a large zoom); the frame folding (w <= 0 at a corner); a corner moved by
    more than ``max_shift`` of the diagonal.
    """
    if H is None:
        return "no homography found"
    if inliers < min_inliers:
        return f"too few inliers ({inliers} < {min_inliers})"
    det = float(np.linalg.det(H[:2, :2]))
    if det <= 0:
        return f"flips the image (det {det:.3g})"
    if not 1.0 / max_area_change <= det <= max_area_change:
        return f"implausible scale change (det {det:.3g})"
    c = corners(size)
    moved, w = project(H, c)
    if (w <= 0).any():
        return "folds the frame (a corner maps behind the camera)"
    shift = float(np.linalg.norm(moved - c, axis=1).max())
    diagonal = float(np.hypot(*size))
    if shift > max_shift * diagonal:
        return f"moves a corner {shift:.0f} px (> {max_shift:g} of the {diagonal:.0f} px diagonal)"
    return None


def disagreeing(Hs, size: Tuple[int, int], min_share: float = 0.02, spread: float = 5.0,
                min_count: int = 3) -> np.ndarray:
    """How far each homography's frame corners lie from the others' consensus, where it is
    an odd one out, else 0.

    Nearby plate frames of one handheld take see the scene from about the same place, so their
    homographies to a subject frame map its corners to nearby points. The consensus is the
    median of each mapped corner over ``Hs``; a homography is odd when a corner lies further
    from it than ``spread`` times the median such distance, and more than ``min_share`` of the
    frame's diagonal. With fewer than ``min_count`` homographies there is no consensus.

    Args:
        Hs: 3x3 plate -> subject homographies (one per candidate plate frame).
        size: (H, W) of the subject frame.

    Returns:
        float array, one per homography: its largest corner distance in px if odd, else 0.
    """
    out = np.zeros(len(Hs))
    if len(Hs) < min_count:
        return out
    c = corners(size)
    mapped = np.stack([project(H, c)[0] for H in Hs])  # (n, 4, 2)
    far = np.linalg.norm(mapped - np.median(mapped, axis=0), axis=2).max(axis=1)
    limit = max(spread * float(np.median(far)), min_share * float(np.hypot(*size)))
    return np.where(far > limit, far, 0.0)


def warp_plate(plate: np.ndarray, H: np.ndarray, size: Tuple[int, int],
               erode: int = 2) -> Tuple[np.ndarray, np.ndarray]:
    """The plate seen from the subject camera.

    Args:
        plate: hxwxC uint8 (or float32) plate frame.
        H: 3x3 plate -> subject homography.
        size: (H, W) of the subject frame.
        erode: px trimmed off the covered area, where interpolation mixes in the border.

    Returns:
        ``(bgr, valid)``: HxWxC warped plate (0 outside) and HxW bool, True where the plate
        covers the subject frame.
    """
    h, w = size
    bgr = cv2.warpPerspective(plate, H, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
    ones = np.full(plate.shape[:2], 255, np.uint8)
    valid = cv2.warpPerspective(ones, H, (w, h), flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT)
    if erode > 0:
        valid = cv2.erode(valid, np.ones((3, 3), np.uint8), iterations=erode,
                          borderType=cv2.BORDER_REPLICATE)
    return bgr, valid > 0


def fill_border(bgr: np.ndarray, src: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``bgr`` with the pixels the plate does not cover (``~valid``) taken from ``src``.

    The network then reads them as background. Modifies and returns ``bgr``.
    """
    return cv2.copyTo(src, (~valid).view(np.uint8), bgr)


def subject_mask(pha: Optional[np.ndarray], size: Tuple[int, int], dilate: float = 0.02,
                 thresh: float = 0.05) -> np.ndarray:
    """A generous subject mask at ``size`` from an alpha matte (or an existing mask).

    Args:
        pha: 2-D alpha at any resolution: float in [0, 1], uint8 0-255 or bool; None = no
            subject known.
        size: (h, w) of the mask wanted.
        dilate: grow the mask by this fraction of its width (covers motion since ``pha``).
        thresh: alpha above which a pixel is subject.

    Returns:
        (h, w) bool, True on (and near) the subject.
    """
    h, w = size
    if pha is None:
        return np.zeros((h, w), bool)
    if pha.dtype == np.bool_:
        pha = pha.astype(np.uint8) * 255
    elif pha.dtype.kind == "f":
        pha = (np.clip(pha, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif pha.dtype != np.uint8:
        pha = np.clip(pha, 0, 255).astype(np.uint8)
    # area averaging keeps thin strands as weak values; the low threshold keeps them
    small = cv2.resize(pha, (w, h), interpolation=cv2.INTER_AREA)
    mask = (small > thresh * 255).astype(np.uint8)
    radius = int(round(dilate * w))
    if radius > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask = cv2.dilate(mask, kernel)
    return mask > 0


def photometric_residual(src: np.ndarray, bgr: np.ndarray, mask: np.ndarray,
                         trim: float = 0.1, min_pixels: int = 500, step: int = 2) -> float:
    """How badly a warped plate explains the frame on background pixels.

    Each channel of ``bgr`` is first matched to ``src`` in mean and spread (exposure may differ
    between the clips), then the mean absolute difference is taken over the pixels of ``mask``,
    leaving out the largest ``trim`` fraction (what the subject mask missed: shadows, motion).
    Meant for small copies (e.g. 640 px wide): it is a score for choosing between candidates.

    Args:
        src: HxWx3 uint8 RGB subject frame.
        bgr: HxWx3 uint8 RGB warped plate, same size.
        mask: HxW bool, True on trusted background (plate valid, away from the subject).
        trim: fraction of the largest differences ignored.
        min_pixels: fewer trusted pixels (after ``step``) than this gives ``inf``.
        step: use every ``step``-th pixel along each axis (the score needs no more).

    Returns:
        Mean absolute difference in 0-255 units (``inf`` when too few pixels to judge).
    """
    bgr, src, mask = bgr[::step, ::step], src[::step, ::step], mask[::step, ::step]
    m8 = mask.astype(np.uint8)
    if int(m8.sum()) < min_pixels:
        return float("inf")
    ma, sa = cv2.meanStdDev(bgr, mask=m8)
    mb, sb = cv2.meanStdDev(src, mask=m8)
    gain = np.clip(sb[:, 0] / np.maximum(sa[:, 0], 1e-3), 0.5, 2.0).astype(np.float32)
    bias = (mb[:, 0] - gain * ma[:, 0]).astype(np.float32)
    # whole-image OpenCV arithmetic, then one single-channel gather (numpy's per-pixel
    # reductions over 3 channels are several times slower)
    adjusted = cv2.transform(bgr.astype(np.float32), np.hstack([np.diag(gain), bias[:, None]]))
    diff = cv2.absdiff(adjusted, src.astype(np.float32))
    diff = cv2.transform(diff, np.full((1, 3), 1.0 / 3.0, np.float32))[mask]
    keep = max(1, int(len(diff) * (1.0 - trim)))
    return float(np.partition(diff, keep - 1)[:keep].mean())


def _to_ecc(H: np.ndarray, f: float) -> np.ndarray:
    """``H`` as the warp ECC wants: subject -> plate, on copies shrunk by ``f``, float32."""
    W = np.linalg.inv(rescale_homography(H, f))
    return (W / W[2, 2]).astype(np.float32)


def _from_ecc(W: np.ndarray, H: np.ndarray, f: float, small_shape,
              max_change: float) -> Optional[np.ndarray]:
    """ECC's warp ``W`` back as a full-resolution plate -> subject homography, or None when
    it is degenerate or moves the corners from ``H`` by more than ``max_change`` of the
    diagonal."""
    R = rescale_homography(np.linalg.inv(W.astype(np.float64)), 1.0 / f)
    if not np.isfinite(R).all() or abs(R[2, 2]) < 1e-12:
        return None
    R = R / R[2, 2]
    size = (round(small_shape[0] / f), round(small_shape[1] / f))
    if corner_error(R, H, size) > max_change * float(np.hypot(*size)):
        return None
    return R


def refine_ecc(src_grey: np.ndarray, plate_grey: np.ndarray, H: np.ndarray, f: float,
               mask: Optional[np.ndarray] = None, iters: int = 10,
               max_change: float = 0.01) -> Optional[np.ndarray]:
    """Polish ``H`` to sub-pixel accuracy by maximising the correlation of the images (ECC).

    Feature positions carry pyramid-level rounding; a few Gauss-Newton steps on the pixels
    themselves (on copies shrunk by ``f``) remove most of it. ECC is blind to gain and bias,
    so exposure changes between the clips do not bias it.

    Args:
        src_grey: hxw uint8 grey subject frame, shrunk by ``f``.
        plate_grey: hxw uint8 grey plate frame, shrunk by ``f``.
        H: 3x3 full-resolution plate -> subject homography to start from.
        f: the shrink factor (small width / full width).
        mask: hxw bool, True on pixels of ``src_grey`` to use (background).
        iters: Gauss-Newton iterations.
        max_change: a result moving the corners by more than this fraction of the diagonal is
            a divergence, not a polish, and is refused.

    Returns:
        The refined full-resolution H, or None when ECC fails or wanders off.
    """
    W = _to_ecc(H, f)
    m = None if mask is None else mask.astype(np.uint8)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, iters, 1e-4)
    try:
        _, W = cv2.findTransformECC(src_grey, plate_grey, W, cv2.MOTION_HOMOGRAPHY, criteria,
                                    m, 3)
    except cv2.error as e:  # no convergence, or a degenerate image
        log.debug("ECC refinement failed: %s", str(e).strip().splitlines()[-1:])
        return None
    return _from_ecc(W, H, f, src_grey.shape, max_change)


def track_ecc(src_grey: np.ndarray, plate_grey: np.ndarray, H: np.ndarray, f: float,
              mask: np.ndarray, levels: int = 3, iters: int = 40,
              max_change: float = 0.08, min_pixels: int = 500) -> Optional[np.ndarray]:
    """Find the homography from a rough start by ECC alone, coarse to fine: for frames where
    features fail (a smooth wall or sky, a face filling the background, blur), where the
    intensity gradients still pin the plate down.

    Each level halves the copies (``levels`` of them, the coarsest first) and runs up to
    ``iters`` Gauss-Newton steps from the previous level's answer, so a start some pixels
    off still converges.

    Args:
        src_grey, plate_grey: hxw uint8 grey subject and plate frames, shrunk by ``f``.
        H: 3x3 full-resolution plate -> subject homography to start from (the last good one).
        f: the shrink factor (small width / full width).
        mask: hxw bool, True on pixels of ``src_grey`` to use (background).
        max_change: a result moving the corners by more than this fraction of the diagonal
            from ``H`` is refused.
        min_pixels: fewer usable pixels at the coarsest level than this: no attempt.

    Returns:
        The full-resolution H, or None when ECC fails or wanders off. Check the result (e.g.
        with :func:`photometric_residual`) before trusting it.
    """
    W = _to_ecc(H, f)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, iters, 1e-5)
    for level in range(levels - 1, -1, -1):
        s = 0.5 ** level
        size = (max(8, round(src_grey.shape[1] * s)), max(8, round(src_grey.shape[0] * s)))
        a = cv2.resize(src_grey, size, interpolation=cv2.INTER_AREA)
        b = cv2.resize(plate_grey, size, interpolation=cv2.INTER_AREA)
        m = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        if level == levels - 1 and int(m.sum()) < min_pixels:
            return None
        S = np.diag([s, s, 1.0]).astype(np.float32)
        Wl = S @ W @ np.linalg.inv(S)
        try:
            _, Wl = cv2.findTransformECC(a, b, Wl.astype(np.float32), cv2.MOTION_HOMOGRAPHY,
                                         criteria, m, 5 if level else 3)
        except cv2.error as e:  # no convergence, or a degenerate image
            log.debug("ECC tracking failed at level %d: %s", level,
                      str(e).strip().splitlines()[-1:])
            return None
        W = (np.linalg.inv(S) @ Wl @ S).astype(np.float32)
    return _from_ecc(W, H, f, src_grey.shape, max_change)
