"""A procedural person: a textured silhouette with hair strands and soft, fractional edges.

The figure (head, neck, torso, arms, legs, hair) is drawn at ``SUPER`` times the output
resolution in premultiplied colour, then area-averaged down, so edges, hair strands thinner than
a pixel and translucent cloth get true fractional coverage. Clothing is cut from bundled photos,
so the network meets real image statistics on the subject as well as behind it.
"""

import copy
from typing import Callable, Tuple

import cv2
import numpy as np

from .photos import bank, jitter, random_view

SUPER = 2
SKIN = np.array([[0.96, 0.80, 0.69], [0.87, 0.67, 0.53], [0.70, 0.50, 0.36],
                 [0.50, 0.34, 0.23], [0.32, 0.21, 0.14]], np.float32)
HAIR = np.array([[0.05, 0.04, 0.03], [0.22, 0.14, 0.08], [0.45, 0.30, 0.15],
                 [0.78, 0.64, 0.38], [0.55, 0.22, 0.10], [0.62, 0.62, 0.60]], np.float32)


class _Canvas:
    """Premultiplied colour ``col`` (HxWx3) and coverage ``a`` (HxW), painted back to front."""

    def __init__(self, h: int, w: int):
        self.col = np.zeros((h, w, 3), np.float32)
        self.a = np.zeros((h, w), np.float32)

    def paint(self, mask: np.ndarray, colour: np.ndarray, opacity: float = 1.0) -> None:
        """Paint ``colour`` (HxWx3 or 3, [0, 1]) where ``mask`` (HxW uint8, 255 = inside)."""
        x0, y0, bw, bh = cv2.boundingRect(mask)
        if bw == 0 or bh == 0:
            return
        y1, x1 = y0 + bh, x0 + bw
        m = mask[y0:y1, x0:x1].astype(np.float32) * (opacity / 255.0)
        c = colour[y0:y1, x0:x1] if np.ndim(colour) == 3 else colour
        self.col[y0:y1, x0:x1] = self.col[y0:y1, x0:x1] * (1 - m[..., None]) + c * m[..., None]
        self.a[y0:y1, x0:x1] = self.a[y0:y1, x0:x1] * (1 - m) + m



def _cloth(rng: np.random.Generator, size: Tuple[int, int]) -> np.ndarray:
    """A clothing texture (HxWx3 float32): a photo crop, a plain colour, or stripes."""
    h, w = size
    r = rng.random()
    small = (max(8, h // SUPER), max(8, w // SUPER))
    if r < 0.55:
        photos = bank("all")
        tex = random_view(rng, photos[rng.integers(len(photos))], small, zoom=(1, 4), max_angle=30)
        tex = jitter(rng, tex)
    elif r < 0.8:
        tex = np.empty(small + (3,), np.float32)
        tex[:] = rng.uniform(0.02, 0.95, 3)
        tex += rng.normal(0, 0.02, small + (1,)).astype(np.float32)
    else:
        period = rng.uniform(6, 30)
        ys, xs = np.mgrid[0:small[0], 0:small[1]]
        phase = (xs * np.cos(rng.uniform(0, np.pi)) + ys * np.sin(rng.uniform(0, np.pi))) / period
        a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        tex = np.where((phase % 1.0 < 0.5)[..., None], a, b).astype(np.float32)
    return cv2.resize(np.clip(tex, 0, 1), (w, h), interpolation=cv2.INTER_LINEAR)


def _tone(rng: np.random.Generator, palette: np.ndarray, size: Tuple[int, int],
          grain: float) -> np.ndarray:
    """A palette colour with smooth shading and fine grain (HxWx3 float32)."""
    h, w = size
    base = palette[rng.integers(len(palette))] * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    low = cv2.resize(rng.normal(1, 0.08, (6, 6)).astype(np.float32), (w, h))
    fine = rng.normal(1, grain, (h // SUPER, w // SUPER)).astype(np.float32)
    shade = low * cv2.resize(fine, (w, h), interpolation=cv2.INTER_NEAREST)
    return np.clip(base * shade[..., None], 0, 1)


def _limb(mask: np.ndarray, pts, width: float) -> None:
    """Rounded thick polyline through ``pts`` (canvas px) into ``mask``."""
    pts = [tuple(int(round(v)) for v in p) for p in pts]
    t = max(1, int(round(width)))
    for p, q in zip(pts[:-1], pts[1:]):
        cv2.line(mask, p, q, 255, t, cv2.LINE_AA)
    for p in pts:
        cv2.circle(mask, p, t // 2, 255, -1, cv2.LINE_AA)


def _strands(rng: np.random.Generator, mask: np.ndarray, centre, radius: float, n: int,
             length: Tuple[float, float]) -> None:
    """``n`` thin curved hair strands leaving the head outline, drawn into ``mask``."""
    cx, cy = centre
    for _ in range(n):
        th = rng.uniform(-np.pi * 1.05, 0.05)  # upper half of the head, image y down
        x0, y0 = cx + np.cos(th) * radius * 0.95, cy + np.sin(th) * radius * 1.1
        ln = radius * rng.uniform(*length)
        d = np.array([np.cos(th), np.sin(th)]) + [0, rng.uniform(0, 1.2)]  # outward, drooping
        d /= np.linalg.norm(d)
        bend = np.array([-d[1], d[0]]) * rng.uniform(-0.5, 0.5) * ln
        t = np.linspace(0, 1, 9)[:, None]
        p1 = np.array([x0, y0]) + d * ln * 0.5 + bend
        p2 = np.array([x0, y0]) + d * ln + bend * 0.3 + [0, ln * rng.uniform(0, 0.4)]
        curve = (1 - t) ** 2 * [x0, y0] + 2 * (1 - t) * t * p1 + t ** 2 * p2
        shade = int(rng.uniform(90, 255))
        cv2.polylines(mask, [np.round(curve * 16).astype(np.int32)], False, shade, 1,
                      cv2.LINE_AA, shift=4)


def _pt(x: float, y: float) -> Tuple[int, int]:
    """A point (or pair of axes) rounded for OpenCV drawing."""
    return int(round(x)), int(round(y))


from .figure_details import _face, _headwear, _shoes, _tattoos  # noqa: E402
# (they draw with SUPER, _pt and _cloth above)


def person(rng: np.random.Generator, size: Tuple[int, int],
           details: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """A random person-like figure filling roughly the frame's height.

    Args:
        rng: the random generator (the figure is a deterministic function of its state).
        size: (h, w) of the output.
        details: also draw a face (eyes, brows, nose, mouth, shading, sometimes a beard or
            glasses), headwear, tattoos and shoes. These use their own generator derived from
            ``rng`` without drawing from it, so the rest of the figure (and everything drawn from
            ``rng`` afterwards) is the same with or without them.
    Returns:
        fgr: float32 hxwx3 RGB [0, 1], the figure's colour (0 where it has no coverage).
        pha: float32 hxw [0, 1], its coverage, fractional at edges, strands and cloth.
    """
    h, w = size
    H, W = h * SUPER, w * SUPER
    drng = np.random.default_rng(copy.deepcopy(rng).integers(2**63) ^ 0x5EED) if details else None
    cv = _Canvas(H, W)
    blank = lambda: np.zeros((H, W), np.uint8)  # noqa: E731
    ph = H * rng.uniform(0.75, 1.6)             # head top to feet
    cx, top = W * rng.uniform(0.25, 0.75), H * rng.uniform(0.02, 0.2)
    r = ph * rng.uniform(0.055, 0.075)
    head = (cx + rng.uniform(-0.3, 0.3) * r, top + 1.12 * r)
    y_sh = top + 2.3 * r + ph * rng.uniform(0.02, 0.04)
    sw = ph * rng.uniform(0.09, 0.135)
    y_hip = y_sh + ph * rng.uniform(0.27, 0.34)
    hw = sw * rng.uniform(0.7, 0.95)
    skin = _tone(rng, SKIN, (H, W), 0.03)
    hair = _tone(rng, HAIR, (H, W), 0.12)
    top_cloth, legs_cloth = _cloth(rng, (H, W)), _cloth(rng, (H, W))
    long_hair = rng.random() < 0.4
    arm_skin = _tattoos(drng, skin) if details and drng.random() < 0.2 else skin

    if long_hair:  # hair falling behind the shoulders
        m = blank()
        fall = r * rng.uniform(1.5, 4.0)
        poly = np.array([[head[0] - r * 1.05, head[1]], [head[0] + r * 1.05, head[1]],
                         [head[0] + r * rng.uniform(0.9, 1.5), head[1] + fall],
                         [head[0] - r * rng.uniform(0.9, 1.5), head[1] + fall]])
        cv2.fillPoly(m, [np.round(poly).astype(np.int32)], 255, cv2.LINE_AA)
        cv.paint(m, hair)
    m = blank()  # legs
    feet, leg_width = [], 0.0
    for side in (-1, 1):
        hip = (cx + side * hw * 0.5, y_hip)
        ang = np.deg2rad(side * rng.uniform(0, 12))
        knee = (hip[0] + np.sin(ang) * ph * 0.23, hip[1] + ph * 0.23)
        ang2 = ang + np.deg2rad(rng.uniform(-8, 8))
        foot = (knee[0] + np.sin(ang2) * ph * 0.23, knee[1] + ph * 0.23)
        leg_width = ph * rng.uniform(0.06, 0.08)
        _limb(m, [hip, knee, foot], leg_width)
        feet.append(foot)
    cv.paint(m, legs_cloth)
    if details and drng.random() < 0.6:
        _shoes(drng, cv, blank, feet, leg_width, ph)
    m = blank()  # neck, then torso
    _limb(m, [(head[0], head[1] + r * 0.5), (cx, y_sh + r * 0.3)], r * 0.8)
    cv.paint(m, skin)
    m = blank()
    torso = np.array([[cx - sw * 0.75, y_sh], [cx + sw * 0.75, y_sh], [cx + sw, y_sh + 0.4 * r],
                      [cx + hw * 1.05, y_hip + 0.1 * r], [cx - hw * 1.05, y_hip + 0.1 * r],
                      [cx - sw, y_sh + 0.4 * r]])
    cv2.fillPoly(m, [np.round(torso).astype(np.int32)], 255, cv2.LINE_AA)
    cv.paint(m, top_cloth)
    for side in (-1, 1):  # arms: sleeve, then forearm and hand in skin or sleeve
        sh = (cx + side * sw * 0.88, y_sh + 0.45 * r)
        a1 = np.deg2rad(rng.uniform(-15, 75))
        elbow = (sh[0] + side * np.sin(a1) * ph * 0.17, sh[1] + np.cos(a1) * ph * 0.17)
        a2 = a1 + np.deg2rad(rng.uniform(-100, 40))
        wrist = (elbow[0] + side * np.sin(a2) * ph * 0.15, elbow[1] + np.cos(a2) * ph * 0.15)
        m = blank()
        _limb(m, [sh, elbow], ph * rng.uniform(0.045, 0.06))
        cv.paint(m, top_cloth)
        m = blank()
        _limb(m, [elbow, wrist], ph * rng.uniform(0.035, 0.045))
        cv2.circle(m, tuple(int(v) for v in wrist), int(ph * 0.028), 255, -1, cv2.LINE_AA)
        cv.paint(m, arm_skin if rng.random() < 0.6 else top_cloth)
        if rng.random() < 0.15:  # a thin held object: cable, stick, strap
            m = blank()
            far = (wrist[0] + rng.uniform(-1, 1) * ph * 0.3, wrist[1] + rng.uniform(-1, 1) * ph * 0.3)
            cv2.line(m, tuple(int(v) for v in wrist), tuple(int(v) for v in far), 255,
                     int(rng.integers(1, 4)), cv2.LINE_AA)
            cv.paint(m, np.float32(rng.uniform(0, 1, 3)))
    m = blank()  # head
    cv2.ellipse(m, (int(head[0]), int(head[1])), (int(r * 0.85), int(r * 1.12)),
                rng.uniform(-10, 10), 0, 360, 255, -1, cv2.LINE_AA)
    cv.paint(m, skin)
    if details:
        _face(drng, cv, blank, head, r, m, skin, hair)
    m = blank()  # hair cap over the top of the head, then loose strands
    cv2.ellipse(m, (int(head[0]), int(head[1] - r * 0.25)), (int(r * 0.95), int(r * 0.95)),
                0, 180 + rng.uniform(-20, 0), 360 + rng.uniform(0, 20), 255, -1, cv2.LINE_AA)
    cv.paint(m, hair)
    m = blank()
    n = int(rng.integers(30, 400))
    _strands(rng, m, (head[0], head[1] - r * 0.2), r, n,
             (0.3, 3.5) if long_hair else (0.1, 1.0))
    cv.paint(m, hair)
    if details and drng.random() < 0.35:
        _headwear(drng, cv, blank, head, r, H, W)
    if rng.random() < 0.25:  # translucent cloth: a scarf or veil
        m = blank()
        c = np.array([cx, y_sh]) + rng.uniform(-1, 1, 2) * sw
        quad = c + rng.uniform(-1, 1, (4, 2)) * [sw * 1.2, ph * 0.15]
        cv2.fillConvexPoly(m, np.round(quad).astype(np.int32), 255, cv2.LINE_AA)
        cv.paint(m, np.float32(rng.uniform(0, 1, 3)), opacity=rng.uniform(0.2, 0.7))
    light = 1 + rng.uniform(-0.25, 0.25) * (np.arange(W, dtype=np.float32) / W - 0.5)
    cv.col *= light[None, :, None]
    return _finish(rng, cv, (h, w))


def _finish(rng: np.random.Generator, cv: _Canvas, size: Tuple[int, int]):
    """Area-average the canvas to ``size``, with optional motion blur; unpremultiply."""
    h, w = size
    col = cv2.resize(cv.col, (w, h), interpolation=cv2.INTER_AREA)
    pha = cv2.resize(cv.a, (w, h), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.2:  # motion blur, applied to premultiplied colour and coverage alike
        n = int(rng.integers(3, max(4, int(0.025 * w))))
        k = np.zeros((n, n), np.float32)
        ang = rng.uniform(0, np.pi)
        c = (n - 1) / 2
        cv2.line(k, (int(round(c - np.cos(ang) * c)), int(round(c - np.sin(ang) * c))),
                 (int(round(c + np.cos(ang) * c)), int(round(c + np.sin(ang) * c))), 1.0, 1)
        k /= k.sum()
        col, pha = cv2.filter2D(col, -1, k), cv2.filter2D(pha, -1, k)
    pha = np.clip(pha, 0, 1)
    fgr = np.where(pha[..., None] > 1e-4, col / np.maximum(pha, 1e-4)[..., None], 0)
    return np.clip(fgr, 0, 1).astype(np.float32), pha.astype(np.float32)


Generator = Callable[[np.random.Generator, Tuple[int, int]], Tuple[np.ndarray, np.ndarray]]
