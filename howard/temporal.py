"""Motion-compensated temporal smoothing of the matte: still parts stop flickering, moving
edges do not lag.

The network mattes each frame on its own, so where nothing moves its alpha still wavers from
frame to frame. For frame ``t`` the step finds where each pixel was in frame ``t - 1`` (dense
DIS optical flow, :func:`cv2.DISOpticalFlow_create`, on a copy about :data:`FLOW_WIDTH` px
wide), warps the previous output alpha there, and blends it in as

    pha_t = w * warp(pha_{t-1}) + (1 - w) * net_t,  w = CARRY * agree_photo * agree_alpha

where ``agree_photo`` falls from 1 to 0 as the warped previous frame differs from this one by
more than the clip's noise (a patch that changed, or flow that is wrong), and ``agree_alpha``
falls from 1 to 0 as the two alphas differ by :data:`ALPHA_LOW` to :data:`ALPHA_HIGH`: a real
change of the matte (an edge that moved where the flow did not follow) takes the new alpha at
once. Pixels whose flow leaves the frame keep the new alpha.

The state carried from frame to frame is the previous grey frame (uint8) and the previous
output alpha rounded to 16 bits, so a run resumed from the state saved with its last finished
frame continues with exactly the numbers an uninterrupted run has. numpy and OpenCV only.

Off by default (``--temporal on`` to use it): on the synthetic evaluation sets
(``scripts/evaluate.py --subjects person,plant,fur,cloth``, 2 clips x 12 frames, 540x960) it
changed dtSSD by -0.04 % (plant) to -0.2 % (person, fur, cloth) and SAD by -0.06 % (plant)
to +0.5 % (person). There the subject moves in every frame and the network's frame-to-frame error follows
its edges; there is little flicker on still parts for it to remove. A sweep of the carry
(0.7, 0.85), the alpha gate and the photometric gate, run offline on the same alphas, found
at best dtSSD -1.3 % (fur, cloth), always with SAD +1 to +9 % on the person set.
"""

from typing import Optional, Tuple

import cv2
import numpy as np

MODES = ("on", "off")
CARRY = 0.7  # the most of the previous alpha a pixel keeps
FLOW_WIDTH = 480  # px: flow is computed on a copy this wide at most, then scaled up
ALPHA_LOW, ALPHA_HIGH = 0.04, 0.15  # alpha change that starts / ends the carry
GUARD = 2  # px around a disagreement that keep the new alpha too
PHOTO_LOW, PHOTO_HIGH = 2.0, 5.0  # photometric error, in multiples of the frame's noise level


def to_state(pha: np.ndarray) -> np.ndarray:
    """(H, W) float alpha [0, 1] -> uint16, the form it is carried (and saved) in."""
    return (np.clip(pha, 0, 1) * 65535.0 + 0.5).astype(np.uint16)


def from_state(state: np.ndarray) -> np.ndarray:
    """uint16 (H, W) -> float32 alpha [0, 1]."""
    return state.astype(np.float32) * np.float32(1 / 65535.0)


def grey(src: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> HxW uint8 grey."""
    return cv2.cvtColor(src, cv2.COLOR_RGB2GRAY)


def flow_size(h: int, w: int) -> Tuple[int, int]:
    """(w, h) of the copy the flow and the photometric check run on."""
    f = min(1.0, FLOW_WIDTH / w)
    return max(8, round(w * f)), max(8, round(h * f))


def _small(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    if image.shape[1] == size[0] and image.shape[0] == size[1]:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def backward_flow(cur: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """(h, w, 2) float32: for each pixel of ``cur`` (hxw uint8) the offset (dx, dy) to where
    it was in ``prev`` (DIS, medium preset, down to the finest scale)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setFinestScale(0)  # full resolution of the copy: edges of thin parts move right
    return dis.calc(cur, prev, None)


def _ramp(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """1 below ``low``, 0 above ``high``, linear between (float32)."""
    return np.clip((np.float32(high) - x) * np.float32(1 / (high - low)), 0, 1)


def _guard(w: np.ndarray, radius: int) -> np.ndarray:
    """The smallest ``w`` within ``radius`` px: pessimistic near any disagreement, as flow
    is smooth across a moving edge and the pixels beside a mismatch are where it is wrong."""
    if radius <= 0:
        return w
    return cv2.erode(w, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))


def photo_weight(cur: np.ndarray, prev_warped: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """(h, w) float32 ``CARRY * agree_photo`` (0 where the flow leaves the frame).

    Args:
        cur, prev_warped: hxw float32 grey frame and the previous one warped onto it (0-255).
        inside: hxw bool, where the flow stays inside the previous frame.
    """
    err = cv2.GaussianBlur(np.abs(cur - prev_warped), (0, 0), 1.0)
    noise = max(1.0, float(np.median(err)))  # most of a frame is background that matches
    w = _ramp(err / np.float32(noise), PHOTO_LOW, PHOTO_HIGH) * np.float32(CARRY)
    return _guard(w * inside, GUARD)


def _maps(grid: Tuple[np.ndarray, np.ndarray], flow: np.ndarray):
    xs, ys = grid
    mx, my = xs + flow[..., 0], ys + flow[..., 1]
    h, w = xs.shape
    return mx, my, (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)


_WARP = dict(interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class TemporalFilter:
    """The step, frame after frame; :attr:`state` is what :meth:`restore` takes back."""

    def __init__(self):
        self.prev: Optional[Tuple[np.ndarray, np.ndarray]] = None  # (grey uint8, pha uint16)
        self._grids: dict = {}

    @property
    def state(self) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """``(grey, pha)``: HxW uint8 previous grey frame and HxW uint16 previous alpha."""
        return self.prev

    def restore(self, grey_prev: np.ndarray, pha_prev: np.ndarray) -> None:
        """Continue after a frame whose :attr:`state` was ``(grey_prev, pha_prev)``."""
        if np.shape(grey_prev) != np.shape(pha_prev):
            raise ValueError(f"state of one frame expected, got a grey frame of "
                             f"{np.shape(grey_prev)} and an alpha of {np.shape(pha_prev)}")
        self.prev = (np.asarray(grey_prev, np.uint8), np.asarray(pha_prev, np.uint16))

    def __call__(self, src: np.ndarray, pha: np.ndarray) -> np.ndarray:
        """The smoothed alpha of the next frame.

        Args:
            src: HxWx3 uint8 RGB frame.
            pha: HxW float alpha [0, 1] the network gave it.

        Returns:
            HxW float32 alpha [0, 1], rounded to 16 bits (the carried state).
        """
        g = grey(src)
        net = np.clip(np.asarray(pha, np.float32), 0, 1)
        if self.prev is None or self.prev[0].shape != g.shape:
            state = to_state(net)
        else:
            g_prev, s_prev = self.prev
            h, w = g.shape
            size = flow_size(h, w)
            gs, gps = _small(g, size), _small(g_prev, size)
            flow = backward_flow(gs, gps)
            mx, my, inside = _maps(self._grid(size[1], size[0]), flow)
            g_w = cv2.remap(gps, mx, my, **_WARP).astype(np.float32)
            wt = photo_weight(gs.astype(np.float32), g_w, inside)
            if size != (w, h):  # flow and weight back to the frame's size
                wt = cv2.resize(wt, (w, h), interpolation=cv2.INTER_LINEAR)
                flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
                flow *= np.float32([w / size[0], h / size[1]])
                mx, my, inside = _maps(self._grid(h, w), flow)
            pha_w = cv2.remap(from_state(s_prev), mx, my, **_WARP)
            # a real change of the matte (an edge the flow did not follow) keeps the new alpha
            wt = _guard(wt * _ramp(np.abs(net - pha_w), ALPHA_LOW, ALPHA_HIGH), GUARD)
            state = to_state(net + wt * (pha_w - net))
        self.prev = (g, state)
        return from_state(state)

    def _grid(self, h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (x, y), each (h, w) float32, kept for the next frame."""
        if (h, w) not in self._grids:
            self._grids[(h, w)] = tuple(np.meshgrid(np.arange(w, dtype=np.float32),
                                                    np.arange(h, dtype=np.float32)))
        return self._grids[(h, w)]
