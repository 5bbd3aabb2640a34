"""Matting error metrics for one frame: SAD, MSE, gradient, connectivity and dtSSD.

The conventions are the ones of the published matting benchmarks, so numbers can be set next
to published tables: alpha in [0, 1]; SAD, gradient and connectivity errors are sums reported
in thousands (divided by 1000); MSE is a mean reported x1000; dtSSD (temporal coherence, from
the video matting literature) is the root mean square of the frame-to-frame change error x100.

Every metric takes an optional boolean ``mask`` (HxW) of the pixels it is measured on; the
usual choices are the whole frame and :func:`unknown_band`, the pixels near the true edge,
where matting is hard and where full-frame numbers are dominated by easy background. A mean
over an empty mask is 0.

Alpha arrays may be float (taken as 0-1), uint8 (/255) or uint16 (/65535), so ground truth
read from 8- or 16-bit PNGs can be passed as it is.
"""

import logging
import math
from typing import Dict, Iterable, Optional, Tuple

import cv2
import numpy as np

log = logging.getLogger(__name__)

GRAD_SIGMA = 1.4
CONN_STEP = 0.1
CONN_THETA = 0.15  # a pixel this far above its disconnection level counts as connected


def _alpha(a: np.ndarray, name: str = "alpha") -> np.ndarray:
    """``a`` as HxW float64 in full-scale units (uint8 / 255, uint16 / 65535, float as is)."""
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim != 2:
        raise ValueError(f"{name} must be HxW, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype == np.uint16:
        return a.astype(np.float64) / 65535.0
    return a.astype(np.float64)


def _pair(pred: np.ndarray, true: np.ndarray, mask: Optional[np.ndarray]):
    """(pred, true, mask) as float64, float64, bool HxW arrays of one shape."""
    p, t = _alpha(pred, "pred"), _alpha(true, "true")
    if p.shape != t.shape:
        raise ValueError(f"pred is {p.shape} but true is {t.shape}")
    if mask is None:
        return p, t, np.ones(p.shape, bool)
    m = np.asarray(mask, bool)
    if m.shape != p.shape:
        raise ValueError(f"mask is {m.shape} but the alphas are {p.shape}")
    return p, t, m


def _mean(values: np.ndarray, mask: np.ndarray) -> float:
    n = int(mask.sum())
    return float(values[mask].sum() / n) if n else 0.0


def sad(pred: np.ndarray, true: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
    """Sum of absolute differences over ``mask``, in thousands.

    Args:
        pred, true: HxW alpha (float 0-1, uint8 or uint16).
        mask: HxW bool pixels to count; None for all.
    """
    p, t, m = _pair(pred, true, mask)
    return float(np.abs(p - t)[m].sum() / 1000.0)


def mse(pred: np.ndarray, true: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
    """Mean squared error over ``mask``, x1000 (0 for an empty mask). Arguments as :func:`sad`."""
    p, t, m = _pair(pred, true, mask)
    return _mean((p - t) ** 2, m) * 1000.0


def gaussian_derivative_kernels(sigma: float = GRAD_SIGMA) -> Tuple[np.ndarray, np.ndarray]:
    """1-D smoothing and derivative kernels whose outer product is the 2-D gradient filter.

    The Gaussian is cut where it falls to 1% of the peak of a unit-area Gaussian, and the 2-D
    filter ``g(y) * dg(x)`` is scaled to unit L2 norm (each 1-D factor to unit norm), the
    scaling of the benchmark's evaluation, so the gradient error matches published numbers.

    Returns:
        ``(g, dg)``: float64 arrays of odd length ``2r + 1``; ``dg`` is odd-symmetric.
    """
    radius = max(1, math.ceil(sigma * math.sqrt(-2.0 * math.log(math.sqrt(2 * math.pi)
                                                                 * sigma * 0.01))))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-x * x / (2.0 * sigma * sigma))
    dg = -x / (sigma * sigma) * g
    return g / np.linalg.norm(g), dg / np.linalg.norm(dg)


def gradient_magnitude(alpha: np.ndarray, sigma: float = GRAD_SIGMA) -> np.ndarray:
    """HxW float64 gradient magnitude of an alpha by Gaussian-derivative filters.

    Borders are extended by replicating the edge pixels.
    """
    a = _alpha(alpha)
    g, dg = gaussian_derivative_kernels(sigma)
    gx = cv2.sepFilter2D(a, cv2.CV_64F, dg, g, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.sepFilter2D(a, cv2.CV_64F, g, dg, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx * gx + gy * gy)


def grad(pred: np.ndarray, true: np.ndarray, mask: Optional[np.ndarray] = None,
         sigma: float = GRAD_SIGMA) -> float:
    """Gradient error: sum over ``mask`` of squared gradient-magnitude differences, /1000.

    Args:
        pred, true: HxW alpha (float 0-1, uint8 or uint16).
        mask: HxW bool pixels to count; None for all. The gradients see the whole frame.
        sigma: standard deviation of the Gaussian-derivative filters, px.
    """
    p, t, m = _pair(pred, true, mask)
    d = gradient_magnitude(p, sigma) - gradient_magnitude(t, sigma)
    return float((d * d)[m].sum() / 1000.0)


def disconnection_levels(pred: np.ndarray, true: np.ndarray,
                         step: float = CONN_STEP) -> np.ndarray:
    """HxW float64 level at which each pixel leaves the main connected region.

    For each level ``l`` in ``step, 2 step, ..., 1`` the region is the largest 4-connected
    component of ``(pred >= l) & (true >= l)`` (the first one found on a tie). A pixel outside
    it at level ``l`` and inside it at every lower level gets the previous level; a pixel that
    never leaves gets 1.
    """
    p, t, _ = _pair(pred, true, None)
    n = int(round(1.0 / step))
    levels = np.round(np.linspace(0.0, 1.0, n + 1), 12)  # 0.3, not 0.30000000000000004
    out = np.full(p.shape, -1.0)
    for i in range(1, n + 1):
        both = ((p >= levels[i]) & (t >= levels[i])).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(both, connectivity=4)
        if count > 1:
            biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            inside = labels == biggest
        else:
            inside = np.zeros(p.shape, bool)
        out[(out < 0) & ~inside] = levels[i - 1]
    out[out < 0] = 1.0
    return out


def connectivity_map(pred: np.ndarray, true: np.ndarray, step: float = CONN_STEP) -> np.ndarray:
    """HxW float64 per-pixel connectivity error ``|phi(pred) - phi(true)|``.

    ``phi = 1 - d`` where ``d = alpha - level`` (level from :func:`disconnection_levels`) is at
    least :data:`CONN_THETA`, else 1 (a pixel close to its level counts as fully connected).
    """
    p, t, _ = _pair(pred, true, None)
    level = disconnection_levels(p, t, step)
    dp, dt = p - level, t - level
    phi_p = 1.0 - dp * (dp >= CONN_THETA)
    phi_t = 1.0 - dt * (dt >= CONN_THETA)
    return np.abs(phi_p - phi_t)


def conn(pred: np.ndarray, true: np.ndarray, mask: Optional[np.ndarray] = None,
         step: float = CONN_STEP) -> float:
    """Connectivity error summed over ``mask``, /1000 (see :func:`connectivity_map`).

    Args:
        pred, true: HxW alpha (float 0-1, uint8 or uint16).
        mask: HxW bool pixels to count; None for all. Connectivity uses the whole frame.
        step: spacing of the threshold levels.
    """
    p, t, m = _pair(pred, true, mask)
    return float(connectivity_map(p, t, step)[m].sum() / 1000.0)


def dtssd(pred_prev: np.ndarray, pred: np.ndarray, true_prev: np.ndarray, true: np.ndarray,
          mask: Optional[np.ndarray] = None) -> float:
    """Temporal coherence error: RMS of ``(pred - pred_prev) - (true - true_prev)``, x100.

    Args:
        pred_prev, pred: HxW predicted alpha of the previous and the current frame.
        true_prev, true: HxW true alpha of the same two frames.
        mask: HxW bool pixels to average over; None for all. 0 for an empty mask.
    """
    p0, t0, _ = _pair(pred_prev, true_prev, None)
    p1, t1, m = _pair(pred, true, mask)
    if p0.shape != p1.shape:
        raise ValueError(f"previous frame is {p0.shape} but current is {p1.shape}")
    d = (p1 - p0) - (t1 - t0)
    return math.sqrt(_mean(d * d, m)) * 100.0


def default_band_width(size: Tuple[int, int]) -> int:
    """Band half-width for a frame of ``size`` (h, w): 1% of the short side, at least 3 px."""
    return max(3, int(round(0.01 * min(size))))


def unknown_band(true: np.ndarray, width: Optional[int] = None) -> np.ndarray:
    """HxW bool mask of pixels within ``width`` px (Euclidean) of the true matte's edge.

    The edge is every pixel with ``0 < alpha < 1`` plus every 0 pixel 4-adjacent to a 1 pixel
    and every 1 pixel 4-adjacent to a 0 pixel.

    Args:
        true: HxW true alpha (float 0-1, uint8 or uint16).
        width: band half-width in px; None for :func:`default_band_width`.
    """
    t = _alpha(true, "true")
    if width is None:
        width = default_band_width(t.shape)
    zero, one = t <= 0.0, t >= 1.0
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    near_one = cv2.dilate(one.astype(np.uint8), cross).astype(bool)
    near_zero = cv2.dilate(zero.astype(np.uint8), cross).astype(bool)
    seeds = (~zero & ~one) | (zero & near_one) | (one & near_zero)
    if width <= 0:
        return seeds
    yy, xx = np.mgrid[-width:width + 1, -width:width + 1]
    disk = (xx * xx + yy * yy <= width * width).astype(np.uint8)
    return cv2.dilate(seeds.astype(np.uint8), disk).astype(bool)


def frame_metrics(pred: np.ndarray, true: np.ndarray,
                  prev: Optional[Tuple[np.ndarray, np.ndarray]] = None,
                  band_width: Optional[int] = None) -> Dict[str, float]:
    """Every metric of one frame, on the whole frame and on the unknown band.

    Args:
        pred, true: HxW predicted and true alpha (float 0-1, uint8 or uint16).
        prev: ``(pred_prev, true_prev)`` of the previous frame, to add dtSSD.
        band_width: half-width of :func:`unknown_band`; None for the default.

    Returns:
        ``sad, mse, grad, conn`` and the same with ``_band``; plus ``dtssd`` and
        ``dtssd_band`` when ``prev`` is given.
    """
    p, t, _ = _pair(pred, true, None)
    band = unknown_band(t, band_width)
    abs_err = np.abs(p - t)
    d = gradient_magnitude(p) - gradient_magnitude(t)
    maps = {"sad": abs_err, "mse": abs_err * abs_err, "grad": d * d,
            "conn": connectivity_map(p, t)}
    out: Dict[str, float] = {}
    for suffix, m in (("", np.ones(p.shape, bool)), ("_band", band)):
        for name in ("sad", "mse", "grad", "conn"):
            values = maps[name][m]
            if name == "mse":
                out[name + suffix] = float(values.mean() * 1000.0) if values.size else 0.0
            else:
                out[name + suffix] = float(values.sum() / 1000.0)
    if prev is not None:
        out["dtssd"] = dtssd(prev[0], p, prev[1], t)
        out["dtssd_band"] = dtssd(prev[0], p, prev[1], t, band)
    return out


def summarize(rows: Iterable[Dict[str, float]]) -> Dict[str, float]:
    """Mean of each key over the dicts that have it (e.g. dtSSD is missing on a first frame).

    Returns:
        ``{key: mean}`` in the order keys are first seen; empty for no rows.
    """
    sums: Dict[str, float] = {}
    counts: Dict[str, int] = {}
    for row in rows:
        for key, value in row.items():
            sums[key] = sums.get(key, 0.0) + float(value)
            counts[key] = counts.get(key, 0) + 1
    return {key: sums[key] / counts[key] for key in sums}
