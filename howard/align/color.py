"""Matching the plate's colour to the frame: a per-channel gain and bias.

The plate and the subject clip are shot minutes apart, often with auto exposure and auto white
balance, so the same wall can come out a little brighter or warmer. A per-channel affine map
``frame ~= gain * plate + bias`` fitted on pixels both clips see as background removes most of
that. Values are in full-scale units: 0-1 for every dtype (bias 0.1 = 25.5 for uint8).
"""

import logging
from typing import Optional, Tuple

import cv2
import numpy as np

log = logging.getLogger(__name__)

GAIN_RANGE = (0.5, 2.0)
BIAS_RANGE = (-0.25, 0.25)
# below this correlation between plate and frame pixels the two do not line up (a plate that
# could not be aligned, a subject over most of the frame): only an offset is fitted then
MIN_CORRELATION = 0.4


def _unit(image: np.ndarray) -> np.ndarray:
    """Pixels as float32 in full-scale units (uint8 / 255, uint16 / 65535, float as is)."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    return image.astype(np.float32)


def _samples(bgr: np.ndarray, src: np.ndarray, mask: Optional[np.ndarray],
             max_samples: int) -> Tuple[np.ndarray, np.ndarray]:
    """(C, N) float64 plate and frame values at up to ``max_samples`` mask pixels.

    Taken on an even grid (deterministic), channels first so per-channel sums run over
    contiguous memory.
    """
    h, w = bgr.shape[:2]
    step = max(1, int(np.ceil(np.sqrt(h * w / max_samples))))
    a, b = bgr[::step, ::step], src[::step, ::step]
    if mask is not None:
        m = mask[::step, ::step]
        a, b = a[m], b[m]
    a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
    # float64: float32 sums drift over 1e5 terms
    return (_unit(a).T.astype(np.float64, order="C"),
            _unit(b).T.astype(np.float64, order="C"))


def fit_gain_bias(bgr: np.ndarray, src: np.ndarray, mask: Optional[np.ndarray] = None,
                  trim: float = 0.2, iters: int = 3, max_samples: int = 40_000,
                  min_samples: int = 200) -> Tuple[np.ndarray, np.ndarray]:
    """Per-channel ``gain``, ``bias`` with ``src ~= gain * bgr + bias`` on trusted pixels.

    Least squares, refitted ``iters`` times after dropping the ``trim`` fraction of pixels with
    the largest residual (summed over channels, so a pixel the subject or a misalignment spoils
    goes as a whole). Clipped pixels (0 or full scale in either image) are left out: they do
    not follow the affine model. The result is clamped to :data:`GAIN_RANGE` and
    :data:`BIAS_RANGE`, so a bad fit cannot blow up the plate. When plate and frame pixels
    hardly correlate (mean over channels below :data:`MIN_CORRELATION`: the plate is not lined
    up with the frame, or the subject covers most of it) a slope means nothing, and the plate
    only gets the offset between the two images' medians (gain 1).

    Args:
        bgr: HxWx3 warped plate, uint8/uint16/float (0-1), RGB.
        src: HxWx3 subject frame, same size and dtype family.
        mask: HxW bool, True on trusted background; None = every pixel.
        trim: fraction of samples dropped per refit (outliers).
        iters: refits after the first fit.
        max_samples: pixels sampled at most (evenly spaced), for speed.
        min_samples: fewer usable pixels than this returns the identity (gain 1, bias 0).

    Returns:
        ``(gain, bias)``: two (3,) float32 arrays; bias in full-scale units.
    """
    a, b = _samples(bgr, src, mask, max_samples)
    eps = 1.0 / 255.0
    keep = ((a > eps) & (a < 1 - eps) & (b > eps) & (b < 1 - eps)).all(0)
    a, b = a[:, keep], b[:, keep]
    channels = bgr.shape[-1]
    gain, bias = np.ones(channels), np.zeros(channels)
    if a.shape[1] < min_samples:
        log.debug("colour fit: %d usable pixels, keeping the plate's colours", a.shape[1])
        return gain.astype(np.float32), bias.astype(np.float32)
    sa, sb = a.std(1), b.std(1)
    textured = (sa > 1e-3) & (sb > 1e-3)
    if textured.any():
        r = ((a - a.mean(1, keepdims=True)) * (b - b.mean(1, keepdims=True))).mean(1)
        r = r[textured] / (sa[textured] * sb[textured])
        if r.mean() < MIN_CORRELATION:
            log.debug("colour fit: plate and frame correlate at %.2f, fitting an offset only",
                      r.mean())
            bias = np.clip(np.median(b, axis=1) - np.median(a, axis=1), *BIAS_RANGE)
            return gain.astype(np.float32), bias.astype(np.float32)
    for it in range(iters + 1):
        ma, mb = a.mean(1, keepdims=True), b.mean(1, keepdims=True)
        da = a - ma
        var = (da * da).mean(1)
        # least squares slope; a flat channel (no variance) gets gain 1 and only a bias
        cov = (da * (b - mb)).mean(1)
        gain = np.clip(np.where(var > 1e-6, cov / np.maximum(var, 1e-6), 1.0), *GAIN_RANGE)
        bias = np.clip(mb[:, 0] - gain * ma[:, 0], *BIAS_RANGE)
        if it == iters:
            break
        r = np.abs(a * gain[:, None] + bias[:, None] - b).sum(0)
        n = max(min_samples, int(len(r) * (1.0 - trim)))
        if n >= len(r):
            break
        idx = np.sort(np.argpartition(r, n - 1)[:n])
        a, b = a[:, idx], b[:, idx]
    return gain.astype(np.float32), bias.astype(np.float32)


def apply_gain_bias(bgr: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``gain * bgr + bias`` per channel, clipped to the valid range, in ``bgr``'s dtype.

    Args:
        bgr: HxWxC uint8 (a lookup table: fast), uint16, or float in 0-1.
        gain: (C,) gains.
        bias: (C,) biases in full-scale units.

    Returns:
        A new array of the same shape and dtype.
    """
    gain = np.asarray(gain, np.float32)
    bias = np.asarray(bias, np.float32)
    if bgr.dtype == np.uint8 and bgr.shape[-1] in (1, 3, 4):
        levels = np.arange(256, dtype=np.float32)[:, None]
        lut = np.clip(levels * gain + bias * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if bgr.shape[-1] == 1:
            return cv2.LUT(bgr, lut[:, 0])[..., None]
        return cv2.LUT(bgr, lut.reshape(256, 1, -1))
    if bgr.dtype == np.uint16:
        out = bgr.astype(np.float32) * gain + bias * 65535.0
        return np.clip(out + 0.5, 0, 65535).astype(np.uint16)
    out = bgr.astype(np.float32) * gain + bias
    return np.clip(out, 0.0, 1.0).astype(bgr.dtype)
