"""How the simulated cameras and the person move in the synthetic clips of :mod:`.clips`.

Camera ``t`` is a homography scene -> frame pixels (OpenCV's convention, pixel centres at
integers). Shake is low-pass filtered noise, a slow drift (0.4 s) plus a jitter (0.08 s); the
plate pass may walk the shot another way (:func:`walk_positions`), be framed off it
(:func:`plate_shift`) and drift in exposure (:func:`plate_exposure`).
"""

import math
from typing import Tuple

import cv2
import numpy as np

Size = Tuple[int, int]


def _shift(x: float, y: float) -> np.ndarray:
    return np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])


def _rot_scale(degrees: float, s: float, centre=(0.0, 0.0)) -> np.ndarray:
    """3x3 rotation by ``degrees`` (clockwise on screen, y down) and scaling about centre."""
    return np.vstack([cv2.getRotationMatrix2D(centre, -degrees, s), [0.0, 0.0, 1.0]])


def smooth_track(rng: np.random.Generator, n: int, fps: float, amplitude: float) -> np.ndarray:
    """(n,) float64 smooth random motion within ``+-amplitude``: 80% slow drift, 20% jitter."""
    out = np.zeros(n)
    for seconds, share in ((0.4, 0.8), (0.08, 0.2)):
        sigma = max(1.0, seconds * fps)
        r = int(math.ceil(3 * sigma))
        k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
        low = np.convolve(rng.standard_normal(n + 2 * r), k / np.linalg.norm(k), mode="valid")
        out += share * np.tanh(0.75 * low)  # unit-variance noise, softly bounded to +-1
    return amplitude * out


def camera_path(rng: np.random.Generator, n: int, size: Size, fps: float,
                shake: float = 1.0) -> np.ndarray:
    """(n, 3, 3) float64 handheld cameras: scene coordinates centred on 0 -> frame pixels."""
    h, w = size
    angle = smooth_track(rng, n, fps, 2.0 * shake)
    tx, ty = (smooth_track(rng, n, fps, 0.03 * w * shake) for _ in range(2))
    scale = np.exp(smooth_track(rng, n, fps, math.log(1.03) * shake))
    px, py = (smooth_track(rng, n, fps, 0.02 * shake) for _ in range(2))
    cams = np.empty((n, 3, 3))
    for t in range(n):
        tilt = np.eye(3)
        tilt[2, :2] = px[t] / (w / 2), py[t] / (h / 2)
        cams[t] = _shift((w - 1) / 2 + tx[t], (h - 1) / 2 + ty[t]) @ _rot_scale(
            angle[t], scale[t]) @ tilt
    return cams


def person_motion(rng: np.random.Generator, n: int, fps: float, size: Size, pha: np.ndarray,
                  sway: bool = True) -> np.ndarray:
    """(n, 3, 3) float64 maps of the person in the unshaken view: walk, breathe, sway.

    The person walks 8-20% of the width towards the frame centre (eased in and out), scales by
    2-5% and, with ``sway``, rocks by 1-3 deg, both about the feet (lowest opaque pixel).
    """
    h, w = size
    ys, xs = np.nonzero(pha > 0.5)
    cx, foot = (float(xs.mean()), float(ys.max())) if xs.size else (w / 2, h - 1.0)
    travel = rng.uniform(0.08, 0.2) * w * (1 if cx < w / 2 else -1)
    # amplitude, period (s) and phase of the breathing scale and of the sway angle (deg)
    s_amp, s_period, s_phase = rng.uniform(0.02, 0.05), rng.uniform(2, 4), rng.uniform(0, 7)
    r_amp, r_period, r_phase = rng.uniform(1, 3), rng.uniform(1.5, 3), rng.uniform(0, 7)
    out = np.empty((n, 3, 3))
    for t in range(n):
        ease = (1 - math.cos(math.pi * t / max(1, n - 1))) / 2
        s = 1 + s_amp * math.sin(2 * math.pi * t / (fps * s_period) + s_phase)
        angle = r_amp * math.sin(2 * math.pi * t / (fps * r_period) + r_phase) if sway else 0
        out[t] = _shift(travel * (ease - 0.5), 0.0) @ _rot_scale(angle, s, (cx, foot))
    return out


def plate_shift(n: int, width: int, pan: float = 0.0, offset: float = 0.0) -> np.ndarray:
    """(n,) float64 extra sideways shift of the plate camera in px, per plate frame.

    ``offset`` of the width throughout, plus a pan from ``+pan`` to ``-pan`` of the width over
    the clip (linear). A positive shift moves the scene right in the plate frame, so the plate
    does not see a strip of that width on the right of the subject's view.
    """
    ramp = np.linspace(1.0, -1.0, n) if n > 1 else np.ones(n)
    return width * (offset + pan * ramp)


def plate_exposure(rng: np.random.Generator, n: int, fps: float) -> Tuple[np.ndarray, np.ndarray]:
    """``(gain, bias)``: (n, 3) float64 each, per plate frame and RGB channel, 0-1 units."""
    g0, b0 = rng.uniform(0.9, 1.1, 3), rng.uniform(-0.03, 0.03, 3)
    gain = g0 + np.stack([smooth_track(rng, n, fps, 0.05) for _ in range(3)], axis=1)
    bias = b0 + np.stack([smooth_track(rng, n, fps, 0.02) for _ in range(3)], axis=1)
    return np.clip(gain, 0.85, 1.15), bias


PLATE_ORDERS = ("same", "reversed", "faster", "offset")


def walk_positions(order: str, n: int, m: int) -> Tuple[np.ndarray, np.ndarray]:
    """Where along a walk (0 = its start, 1 = its end) each subject and plate frame is shot.

    The subject walks from 0 to 1 at an even pace. The plate pass, by ``order``: ``'same'``
    from 0 to 1 over its ``m`` frames (what time mapping assumes); ``'reversed'`` from 1 back
    to 0; ``'faster'`` 1.6 times as fast, then standing at the end; ``'offset'`` at the
    subject's pace but starting half a walk earlier (``m`` should be about ``1.5 n``).

    Returns:
        ``(subject, plate)``: (n,) and (m,) float64 positions.
    """
    if order not in PLATE_ORDERS:
        raise ValueError(f"plate order must be one of {PLATE_ORDERS}, got {order!r}")
    u = np.arange(n) / max(1, n - 1)
    v = np.arange(m) / max(1, m - 1)
    plate = {"same": v, "reversed": 1.0 - v, "faster": np.minimum(1.0, 1.6 * v),
             "offset": np.arange(m) / max(1, n - 1) - 0.5}[order]
    return u, plate


def _walked(cams: np.ndarray, positions: np.ndarray, distance: float) -> np.ndarray:
    """``cams`` (k, 3, 3) looking ``distance * (position - 0.5)`` px to the right in the scene."""
    return np.stack([c @ _shift(-distance * (p - 0.5), 0.0) for c, p in zip(cams, positions)])
