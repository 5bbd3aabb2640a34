"""Held-out subject families for evaluation only: plants, fur, props, cloth, photo people.

Training never draws from these generators (its foregrounds come from ``samples`` and the
``train_*`` modules), so ``scripts/evaluate.py --subjects`` measures whether the matte holds on
subjects the network has not learnt the look of. Every generator is a
:data:`howard.synth.clips.PersonFn`: ``(rng, (h, w)) -> (fgr, pha)``, float32 (h, w, 3) straight
RGB [0, 1] and (h, w) alpha [0, 1], the same for the same generator state.

Thin structures (twigs, strands, spokes) are drawn :data:`SUPER` times larger and averaged
down, so a structure thinner than a pixel gets the fractional alpha it covers; translucent
leaves, glass and cloth get an opacity below 1 on top of that.
"""

from typing import Callable, Dict, Tuple

import cv2
import numpy as np

from . import photos

Size = Tuple[int, int]
SUPER = 4  # supersampling of drawn masks


class Layers:
    """Premultiplied colour and alpha, painted back to front from supersampled masks.

    ``layers.hi`` is an (h*SUPER, w*SUPER) uint8 canvas; draw on it with the coordinates from
    :meth:`pt` (and widths from :meth:`px`), then :meth:`paint` averages it down and composites
    it over what is there, and clears it.
    """

    def __init__(self, size: Size):
        h, w = size
        self.size = size
        self.premul = np.zeros((h, w, 3), np.float32)
        self.pha = np.zeros((h, w), np.float32)
        self.hi = np.zeros((h * SUPER, w * SUPER), np.uint8)

    @staticmethod
    def pt(x: float, y: float) -> Tuple[int, int]:
        """Full-resolution pixel (x, y) -> canvas coordinates (pixel centres at integers)."""
        return int(round(x * SUPER + (SUPER - 1) / 2)), int(round(y * SUPER + (SUPER - 1) / 2))

    @staticmethod
    def px(width: float) -> int:
        """A width in full-resolution pixels -> canvas pixels (at least 1)."""
        return max(1, int(round(width * SUPER)))

    def poly(self, pts: np.ndarray) -> np.ndarray:
        """(n, 2) full-resolution points -> (n, 1, 2) int32 canvas points for cv2."""
        return np.int32(np.round(np.asarray(pts) * SUPER + (SUPER - 1) / 2)).reshape(-1, 1, 2)

    def paint(self, colour, opacity=1.0) -> None:
        """Composite the canvas drawing with ``colour`` ((3,) or (h, w, 3)) and ``opacity``
        (a number or an (h, w) map) over the layers so far; clears the canvas."""
        h, w = self.size
        m = cv2.resize(self.hi, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        m = np.clip(m * np.asarray(opacity, np.float32), 0, 1)
        c = np.asarray(colour, np.float32)
        self.premul = self.premul * (1 - m[..., None]) + c * m[..., None]
        self.pha = self.pha * (1 - m) + m
        self.hi[:] = 0

    def result(self) -> Tuple[np.ndarray, np.ndarray]:
        """``(fgr, pha)``: straight colour (0 where alpha is 0) and alpha, float32."""
        a = np.clip(self.pha, 0, 1)
        fgr = np.where(a[..., None] > 1e-4, self.premul / np.maximum(a, 1e-4)[..., None], 0)
        return np.clip(fgr, 0, 1).astype(np.float32), a.astype(np.float32)


def texture(rng: np.random.Generator, size: Size, tint, strength: float = 0.35) -> np.ndarray:
    """(h, w, 3) float32: ``tint`` (3,) modulated by the luminance of a bundled photo's view."""
    bank = photos.bank("all")
    lum = photos.random_view(rng, bank[rng.integers(len(bank))], size).mean(axis=2)
    lum = (lum - lum.mean()) / (lum.std() + 1e-6)
    shade = 1 + strength * np.tanh(lum)[..., None]
    return np.clip(np.asarray(tint, np.float32) * shade, 0, 1).astype(np.float32)


def _walk(rng, start, angle, length, steps, bend):
    """(steps+1, 2) points of a curving path from ``start`` heading ``angle`` (rad, 0 = up)."""
    pts, (x, y) = [start], start
    for _ in range(steps):
        angle += rng.normal(0, bend)
        x, y = x + np.sin(angle) * length / steps, y - np.cos(angle) * length / steps
        pts.append((x, y))
    return np.array(pts), angle


def plant(rng: np.random.Generator, size: Size) -> Tuple[np.ndarray, np.ndarray]:
    """A potted plant: stems, branching twigs (down to a fraction of a pixel) and leaves, some
    of them translucent (opacity 0.35-0.75)."""
    h, w = size
    L = Layers(size)
    base_x, ground = rng.uniform(0.3, 0.7) * w, rng.uniform(0.88, 0.97) * h
    pot_w, pot_h = rng.uniform(0.08, 0.14) * w, rng.uniform(0.1, 0.16) * h
    top = ground - pot_h
    pot = np.array([[base_x - pot_w / 2, top], [base_x + pot_w / 2, top],
                    [base_x + pot_w * 0.38, ground], [base_x - pot_w * 0.38, ground]])
    cv2.fillPoly(L.hi, [L.poly(pot)], 255, cv2.LINE_AA)
    L.paint(texture(rng, size, rng.uniform([0.45, 0.2, 0.1], [0.75, 0.4, 0.25])))
    stems, leaves = [], []
    height = rng.uniform(0.4, 0.7) * h
    for _ in range(rng.integers(3, 7)):
        x0 = base_x + rng.uniform(-0.3, 0.3) * pot_w
        path, _ = _walk(rng, (x0, top + 2), rng.normal(0, 0.35), height * rng.uniform(0.6, 1),
                        12, 0.12)
        stems.append((path, rng.uniform(1.5, 3.5)))
        for _ in range(rng.integers(3, 8)):  # twigs off the stem, thinner at each level
            k = rng.integers(3, len(path))
            twig, end = _walk(rng, tuple(path[k]), rng.normal(0, 1.0),
                              height * rng.uniform(0.1, 0.3), 6, 0.25)
            stems.append((twig, rng.uniform(0.25, 1.0)))
            leaves += [(tuple(p), end + rng.normal(0, 0.8)) for p in twig[2::2]]
        leaves.append((tuple(path[-1]), rng.normal(0, 0.5)))
    for path, width in stems:
        cv2.polylines(L.hi, [L.poly(path)], False, 255, L.px(width), cv2.LINE_AA)
    L.paint(texture(rng, size, rng.uniform([0.2, 0.25, 0.08], [0.4, 0.45, 0.2])))
    groups = rng.integers(0, 6, len(leaves))
    for g in rng.permutation(6):  # six leaf colours; two of them translucent
        for (x, y), angle in (leaf for leaf, k in zip(leaves, groups) if k == g):
            length = rng.uniform(0.015, 0.045) * w
            cx, cy = x + np.sin(angle) * length / 2, y - np.cos(angle) * length / 2
            axes = (L.px(length / 2), L.px(length * rng.uniform(0.15, 0.4)))
            cv2.ellipse(L.hi, L.pt(cx, cy), axes, np.degrees(angle) - 90, 0, 360, 255, -1,
                        cv2.LINE_AA)
        green = rng.uniform([0.1, 0.3, 0.05], [0.45, 0.75, 0.3])
        L.paint(texture(rng, size, green, 0.2), rng.uniform(0.35, 0.75) if g < 2 else 1.0)
    return L.result()


def fur(rng: np.random.Generator, size: Size) -> Tuple[np.ndarray, np.ndarray]:
    """A furry creature: a lumpy body with ears and thousands of curved strands, each a
    fraction of a pixel wide, so the outline is a cloud of soft alpha."""
    h, w = size
    L = Layers(size)
    cx, cy = rng.uniform(0.35, 0.65) * w, rng.uniform(0.45, 0.65) * h
    r = rng.uniform(0.12, 0.22) * min(h, w)
    theta = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    wobble = sum(rng.uniform(0, 0.08) * np.cos(k * theta + rng.uniform(0, 6)) for k in (2, 3, 5))
    radius = r * (1 + wobble) * np.where(np.sin(theta) > 0, rng.uniform(0.7, 0.9), 1.0)
    outline = np.stack([cx + 1.3 * radius * np.cos(theta), cy + radius * np.sin(theta)], 1)
    cv2.fillPoly(L.hi, [L.poly(outline)], 255, cv2.LINE_AA)
    for side in (-1, 1):  # ears
        ex = cx + side * rng.uniform(0.4, 0.8) * r
        ear = np.array([[ex - 0.25 * r, cy - 0.7 * r], [ex + 0.25 * r, cy - 0.7 * r],
                        [ex + side * rng.uniform(0, 0.2) * r, cy - rng.uniform(1.2, 1.5) * r]])
        cv2.fillPoly(L.hi, [L.poly(ear)], 255, cv2.LINE_AA)
    coat = rng.uniform([0.2, 0.12, 0.05], [0.95, 0.85, 0.7])
    L.paint(texture(rng, size, coat, 0.45))
    for shade in rng.uniform(0.6, 1.25, 3):
        n = int(rng.integers(600, 1400))
        k = rng.integers(0, len(outline), n)
        inward = rng.uniform(0.75, 1.0, n)
        starts = np.array([cx, cy]) + (outline[k] - [cx, cy]) * inward[:, None]
        for s, t in zip(starts, theta[k] + np.pi / 2 + rng.normal(0, 0.4, n)):
            path, _ = _walk(rng, tuple(s), t, r * rng.uniform(0.12, 0.45), 4, 0.25)
            cv2.polylines(L.hi, [L.poly(path)], False, 255, 1, cv2.LINE_AA)
        L.paint(np.clip(coat * shade, 0, 1), rng.uniform(0.6, 1.0))
    return L.result()


def cloth(rng: np.random.Generator, size: Size) -> Tuple[np.ndarray, np.ndarray]:
    """A semi-transparent flag on a pole: alpha 0.2-0.8 varying with its folds (denser where
    the cloth folds over), shaded along the folds, waving edges."""
    h, w = size
    L = Layers(size)
    pole_x, ground = rng.uniform(0.2, 0.4) * w, rng.uniform(0.9, 0.98) * h
    fw, fh = rng.uniform(0.3, 0.5) * w, rng.uniform(0.25, 0.4) * h
    y0 = rng.uniform(0.08, 0.2) * h
    cv2.line(L.hi, L.pt(pole_x, y0 - 0.03 * h), L.pt(pole_x, ground), 255,
             L.px(rng.uniform(3, 6)), cv2.LINE_AA)
    L.paint(texture(rng, size, rng.uniform(0.3, 0.7, 3), 0.2))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xs - pole_x - 3) / fw  # 0 at the pole, 1 at the free end
    lam, amp, phase = rng.uniform(0.2, 0.45), rng.uniform(0.02, 0.06) * h, rng.uniform(0, 6)
    wave = np.sin(2 * np.pi * u / lam + phase)
    v = (ys - y0 - amp * np.clip(u, 0, 1) * wave) / fh
    edge = np.minimum(np.minimum(u, 1 - u) * fw, np.minimum(v, 1 - v) * fh)
    cover = np.clip(edge + 0.5, 0, 1)
    fold = np.cos(2 * np.pi * u / lam + phase)  # the slope of the wave: folds face the camera
    lo, hi = sorted(rng.uniform(0.2, 0.8, 2))
    hi = max(hi, lo + 0.2)
    opacity = lo + (hi - lo) * (0.5 + 0.5 * fold)
    stripes = rng.integers(2, 5)
    colours = rng.uniform(0.05, 0.95, (stripes, 3)).astype(np.float32)
    band = np.clip((np.clip(v, 0, 0.999) * stripes).astype(int), 0, stripes - 1)
    col = colours[band] * (0.8 + 0.2 * fold)[..., None]
    L.hi[:] = 255
    L.paint(np.clip(col, 0, 1), cover * opacity)
    return L.result()


from .props import photo_person, prop  # noqa: E402  (they use Layers and texture above)

FAMILIES: Dict[str, Callable] = {"plant": plant, "fur": fur, "prop": prop, "cloth": cloth,
                                 "photo_person": photo_person}


def family(name: str) -> Callable:
    """The generator of a held-out family by name (see :data:`FAMILIES`)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown subject family {name!r}; choose from "
                         f"person, {', '.join(FAMILIES)}")
    return FAMILIES[name]
