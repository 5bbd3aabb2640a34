"""Residual parallax: a dense, smooth, bounded correction of the aligned plate.

A homography aligns one plane; what stands nearer or further (a post, a doorway, a parked car)
is left a few pixels off when the plate was filmed from a slightly different place, and the
network reads that misplaced edge as foreground. After the homography, :func:`residual_flow`
measures what is left between the warped plate and the frame with DIS optical flow (OpenCV's
coarse-to-fine dense inverse search) on a small grey copy, keeps it on textured background
pixels only, spreads it smoothly over the subject by normalised convolution (each vector is
the background flow around it, never the subject's own motion) and caps its length, so it can
move the plate a few pixels but never drag it over the subject. :func:`apply_flow` resamples
the plate along it.
"""

import logging
from typing import Tuple

import cv2
import numpy as np

log = logging.getLogger(__name__)

WORK_WIDTH = 320  # flow width: a few px of parallax at 1080p is about one px here
SMOOTH = 0.02  # Gaussian sigma of the smoothing, as a fraction of the width
LIMIT = 0.012  # longest correction, as a fraction of the width (12 px at 1000 px wide)
GAIN = 0.9  # the correction must cut the background's grey difference by 10 % at least
DEAD = 0.0  # px: shorter vectors are noise, and resampling for them only blurs the plate


def _grey(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def residual_flow(bgr: np.ndarray, src: np.ndarray, keep: np.ndarray,
                  work_width: int = WORK_WIDTH, smooth: float = SMOOTH,
                  limit: float = LIMIT, dead: float = DEAD,
                  gain: float = GAIN) -> Tuple[np.ndarray, float]:
    """The smooth correction that moves the aligned plate onto the frame's background.

    Args:
        bgr: HxWx3 uint8 RGB plate already warped to the frame (and colour-matched).
        src: HxWx3 uint8 RGB subject frame.
        keep: HxW bool (any resolution; resized here), True on trusted background (plate
            valid, away from the subject). The flow is measured there only.
        work_width: width the flow is computed at (the shorter side kept above 16 px).
        smooth: Gaussian sigma of the normalised convolution, fraction of the width.
        limit: no vector is longer than ``limit`` times the width.
        dead: every vector is shortened by this many full-resolution px (soft threshold);
            a frame with no vector left gets zero flow.
        gain: the flow is used only if it brings the background's mean grey difference (at
            ``work_width``) under ``gain`` times what it was; zero flow otherwise.

    Returns:
        ``(flow, mean)``: HxWx2 float32 full-resolution offsets (x, y) in px, such that
        ``bgr`` sampled at ``p + flow[p]`` matches ``src`` at ``p``; and the mean length of
        the correction over the frame in px. A frame with too little background, or a
        degenerate one, gets zero flow.
    """
    h, w = src.shape[:2]
    sw = max(16, min(w, work_width))
    sh = max(16, int(round(h * sw / w)))
    zero = np.zeros((h, w, 2), np.float32)
    weight = cv2.resize(keep.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    weight = np.where(weight > 0.99, 1.0, 0.0).astype(np.float32)  # whole background cells
    if weight.mean() < 0.05:
        return zero, 0.0
    a, b = _grey(src, (sh, sw)), _grey(bgr, (sh, sw))
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = dis.calc(a, b, None)  # for each src pixel, where it lies in the plate
    # a flat background gives no flow to trust: weigh each vector by the local texture
    gx = cv2.Sobel(a, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(a, cv2.CV_32F, 0, 1, ksize=3)
    texture = np.clip(cv2.GaussianBlur(gx * gx + gy * gy, (0, 0), 1.5) / 400.0, 0.0, 1.0)
    wt = weight * texture
    # normalised convolution at two scales: the fine one where background is near, the
    # coarse one (4x wider) across the subject, fading out only far from any background
    top = max(1e-6, 0.25 * float(wt.max(initial=0.0)))
    out, rest = np.zeros_like(flow), np.ones((sh, sw), np.float32)
    for sigma in (max(1.0, smooth * sw), max(4.0, 4 * smooth * sw)):
        norm = cv2.GaussianBlur(wt, (0, 0), sigma)
        spread = cv2.GaussianBlur(flow * wt[..., None], (0, 0), sigma)
        share = rest * np.clip(norm / top, 0.0, 1.0)
        out += spread / np.maximum(norm, 1e-6)[..., None] * share[..., None]
        rest -= share
    flow = out
    length = np.linalg.norm(flow, axis=2)
    cap = limit * sw
    flow *= np.minimum(1.0, cap / np.maximum(length, 1e-6))[..., None]
    if not np.isfinite(flow).all():
        return zero, 0.0
    # kept only if it explains the background clearly better than the homography alone
    xs, ys = np.meshgrid(np.arange(sw, dtype=np.float32), np.arange(sh, dtype=np.float32))
    moved = cv2.remap(b, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    on = weight > 0
    before = float(np.abs(a.astype(np.float32) - b)[on].mean())
    after = float(np.abs(a.astype(np.float32) - moved)[on].mean())
    if after > gain * before:
        return zero, 0.0
    full = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32(w / sw)
    length = np.linalg.norm(full, axis=2)
    full *= (np.maximum(0.0, length - dead) / np.maximum(length, 1e-6))[..., None]
    mean = float(np.linalg.norm(full, axis=2).mean())
    return (full.astype(np.float32), mean) if mean > 1e-3 else (zero, 0.0)


def apply_flow(bgr: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``bgr`` (HxWx3 uint8) resampled at ``p + flow[p]`` (bilinear, edges replicated)."""
    h, w = bgr.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(bgr, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def correct(bgr: np.ndarray, src: np.ndarray, keep: np.ndarray, **kw) -> Tuple[np.ndarray, float]:
    """``(bgr corrected, mean correction in px)``: :func:`residual_flow` then
    :func:`apply_flow` (``bgr`` itself when there is nothing to correct)."""
    flow, mean = residual_flow(bgr, src, keep, **kw)
    return (apply_flow(bgr, flow) if mean > 0 else bgr), mean


def correct_alignment(a, src: np.ndarray, busy: np.ndarray):
    """Correct a rendered :class:`howard.align.aligner.Alignment` in place; returns it.

    Args:
        a: the alignment, after :meth:`PlateAligner.render` (``bgr`` and ``valid`` set).
        src: HxWx3 uint8 RGB subject frame.
        busy: hxw bool subject mask at scoring size (``a.busy`` before rendering).

    Sets ``a.bgr`` to the corrected plate and ``a.parallax`` to the mean correction in px.
    """
    h, w = src.shape[:2]
    near = cv2.resize(busy.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    a.bgr, a.parallax = correct(a.bgr, src, a.valid & ~near)
    return a
