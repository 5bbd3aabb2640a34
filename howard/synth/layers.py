"""A near layer in front of the planar scene, for clips with parallax.

One homography maps a plane to a plane; a handheld camera that moves (not only turns) sees
nearer things move more than far ones. The near layer is a few opaque textured boards drawn
on a canvas in the scene's coordinates; a camera ``C`` (scene -> frame pixels) that has
moved by ``d`` px in the frame (where ``C`` puts the scene's centre, less the mean over every
camera of the clip) sees the boards through ``shift(gain * d) @ C``: ``gain`` times as much
motion again, as an object ``1 + gain`` times nearer than the scene would show under a
sideways move. The true background of a frame is the scene with the boards over it.
"""

from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

from . import samples

Size = Tuple[int, int]


@dataclass
class NearLayer:
    """Boards in front of the scene.

    Attributes:
        premul: float32 (Hs, Ws, 3) premultiplied RGB [0, 1] on the scene's canvas.
        alpha: float32 (Hs, Ws) coverage [0, 1].
        gain: extra motion of the boards per px of camera motion (0: no parallax).
        centre: (2,) float64 mean frame position of the scene's centre over the cameras.
    """

    premul: np.ndarray
    alpha: np.ndarray
    gain: float
    centre: np.ndarray

    def warp(self, cam: np.ndarray) -> np.ndarray:
        """(3, 3) float64 canvas -> frame pixels for camera ``cam`` (scene -> frame)."""
        hs, ws = self.alpha.shape
        p = cam @ np.array([(ws - 1) / 2, (hs - 1) / 2, 1.0])
        d = self.gain * (p[:2] / p[2] - self.centre)
        move = np.array([[1.0, 0.0, d[0]], [0.0, 1.0, d[1]], [0.0, 0.0, 1.0]])
        return move @ cam

    def over(self, far: np.ndarray, cam: np.ndarray) -> np.ndarray:
        """float32 (h, w, 3) RGB [0, 1]: ``far`` (the scene seen by ``cam``) with the boards
        composited over it."""
        h, w = far.shape[:2]
        H = self.warp(cam)
        args = dict(dsize=(w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        premul = cv2.warpPerspective(self.premul, H, **args)
        alpha = np.clip(cv2.warpPerspective(self.alpha, H, **args), 0.0, 1.0)
        return np.clip(premul + (1.0 - alpha[..., None]) * far, 0.0, 1.0)


def draw_near(rng: np.random.Generator, canvas: Size, frame: Size, cams: np.ndarray,
              gain: float = 0.6, boards: int = 2) -> NearLayer:
    """``boards`` textured rectangles, each 12-22 % of the frame wide and 35-70 % high,
    centred 20-40 % of the frame width left or right of the canvas centre (beside a person
    in the middle), alternately.

    Args:
        rng: the layer's generator.
        canvas: (Hs, Ws) of the scene.
        frame: (h, w) of the clip.
        cams: (k, 3, 3) every camera of the clip (scene -> frame), for the mean position.
        gain: see :class:`NearLayer`.
    """
    hs, ws = canvas
    h, w = frame
    premul = np.zeros((hs, ws, 3), np.float32)
    alpha = np.zeros((hs, ws), np.float32)
    for b in range(boards):
        bw, bh = int(rng.uniform(0.12, 0.22) * w), int(rng.uniform(0.35, 0.7) * h)
        side = 1 if b % 2 == 0 else -1
        cx = ws / 2 + side * rng.uniform(0.2, 0.4) * w
        cy = hs / 2 + rng.uniform(-0.15, 0.15) * h
        x0, y0 = int(round(cx - bw / 2)), int(round(cy - bh / 2))
        x0, y0 = min(max(0, x0), ws - bw), min(max(0, y0), hs - bh)
        texture = np.asarray(samples.background(rng, (bh, bw)), np.float32)
        premul[y0:y0 + bh, x0:x0 + bw] = texture
        alpha[y0:y0 + bh, x0:x0 + bw] = 1.0
    # a soft edge one pixel wide, as a real board's edge is blurred by the lens
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.7)
    premul = cv2.GaussianBlur(premul, (0, 0), 0.7)
    centre = np.array([ws / 2 - 0.5, hs / 2 - 0.5, 1.0])
    seen = np.array([c @ centre for c in cams])
    return NearLayer(premul, alpha, float(gain), (seen[:, :2] / seen[:, 2:]).mean(axis=0))
