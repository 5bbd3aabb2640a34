"""Training foregrounds that are not people: cut-out objects, foliage, fur, veils, several at once.

The network should learn "whatever the plate does not explain is foreground", not what a person
looks like. These generators draw subjects of many outlines (smooth, jagged, thin-structured),
fractional alpha where it belongs (strands, twigs, translucent leaves, semi-transparent layers)
and real photo textures. They are for training only: the evaluation families in
:mod:`howard.synth.families` are drawn by other code, so a score there measures generalisation.

Every function returns ``(fgr, pha)``: float32 HxWx3 RGB in [0, 1] and float32 HxW in [0, 1].
Shapes are drawn at twice the size and reduced by area averaging, so thin structures get the
fractional coverage a camera would record.
"""

from typing import Callable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .photos import bank, jitter, random_view

Layer = Tuple[np.ndarray, np.ndarray]
SS = 2  # supersampling factor of the drawing canvas


def _texture(rng: np.random.Generator, size: Tuple[int, int],
             photos: Sequence[np.ndarray] = ()) -> np.ndarray:
    """An HxWx3 fill: a view of a real photo (the bundled ones or ``photos``), a flat colour with
    grain, or a smooth two-colour gradient."""
    h, w = size
    r = rng.random()
    if r < 0.6:
        pool = list(photos) if photos and rng.random() < 0.5 else list(bank("all"))
        img = random_view(rng, pool[int(rng.integers(len(pool)))], size)
        return jitter(rng, img, 0.8)
    c0 = rng.uniform(0, 1, 3).astype(np.float32)
    if r < 0.8:
        grain = rng.normal(0, rng.uniform(0.005, 0.05), (h, w, 1)).astype(np.float32)
        return np.clip(c0 + grain, 0, 1)
    c1 = rng.uniform(0, 1, 3).astype(np.float32)
    t = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    a = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(a) * t + np.sin(a) * np.linspace(0, 1, h, dtype=np.float32)[:, None, None])
    ramp = (ramp - ramp.min()) / max(1e-6, float(ramp.max() - ramp.min()))
    return np.clip(c0 * (1 - ramp) + c1 * ramp, 0, 1).astype(np.float32)


def _reduce(mask: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    return cv2.resize(mask, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def _outline(rng: np.random.Generator, centre, radius: float, jagged: bool) -> np.ndarray:
    """A closed star-shaped polygon (Nx1x2 int32): a random Fourier radius, plus spikes if
    ``jagged``."""
    n = 180
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for k in range(1, 6):
        r += rng.normal(0, 0.25 / k) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    if jagged:
        r *= 1 + rng.uniform(0.05, 0.3) * (rng.random(n) - 0.5) * 2
    r = np.clip(r, 0.25, None) * radius
    pts = np.stack([centre[0] + r * np.cos(t), centre[1] + r * rng.uniform(0.5, 1.5) * np.sin(t)], 1)
    return pts.astype(np.int32)[:, None]


def cutout(rng: np.random.Generator, size: Tuple[int, int],
           photos: Sequence[np.ndarray] = ()) -> Layer:
    """An object cut out of a photo: smooth or jagged outline, sometimes with holes and a handle
    or legs (thin bars), a slightly soft edge."""
    h, w = size
    H, W = h * SS, w * SS
    mask = np.zeros((H, W), np.float32)
    c = (rng.uniform(0.2, 0.8) * W, rng.uniform(0.2, 0.8) * H)
    radius = rng.uniform(0.1, 0.4) * min(H, W)
    cv2.fillPoly(mask, [_outline(rng, c, radius, rng.random() < 0.4)], 1.0, cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 3))):  # holes
        hc = (c[0] + rng.normal(0, radius * 0.3), c[1] + rng.normal(0, radius * 0.3))
        cv2.fillPoly(mask, [_outline(rng, hc, radius * rng.uniform(0.08, 0.25), False)], 0.0,
                     cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 4))):  # legs, handles, antennae
        a = rng.uniform(0, 2 * np.pi)
        p0 = (int(c[0] + 0.7 * radius * np.cos(a)), int(c[1] + 0.7 * radius * np.sin(a)))
        ln = radius * rng.uniform(0.5, 1.6)
        p1 = (int(p0[0] + ln * np.cos(a + rng.normal(0, 0.4))),
              int(p0[1] + ln * np.sin(a + rng.normal(0, 0.4))))
        cv2.line(mask, p0, p1, 1.0, max(1, int(rng.uniform(1, 12) * SS)), cv2.LINE_AA)
    pha = _reduce(mask, size)
    if rng.random() < 0.5:
        pha = cv2.GaussianBlur(pha, (0, 0), rng.uniform(0.3, 1.2))
    return _texture(rng, size, photos), np.clip(pha, 0, 1)


def _branch(rng, mask, leaves, p, angle, length, width, depth):
    if depth == 0 or length < 3 * SS:
        if leaves is not None and rng.random() < 0.8:
            axes = (max(1, int(length * rng.uniform(0.6, 1.6))), max(1, int(length * rng.uniform(0.2, 0.6))))
            cv2.ellipse(leaves, (int(p[0]), int(p[1])), axes, np.rad2deg(angle), 0, 360,
                        float(rng.uniform(0.45, 1.0)), -1, cv2.LINE_AA)
        return
    q = (p[0] + length * np.cos(angle), p[1] + length * np.sin(angle))
    cv2.line(mask, (int(p[0]), int(p[1])), (int(q[0]), int(q[1])), 1.0, max(1, int(width)),
             cv2.LINE_AA)
    for _ in range(int(rng.integers(1, 4))):
        _branch(rng, mask, leaves, q, angle + rng.normal(0, 0.6), length * rng.uniform(0.55, 0.85),
                width * rng.uniform(0.5, 0.8), depth - 1)


def foliage(rng: np.random.Generator, size: Tuple[int, int],
            photos: Sequence[np.ndarray] = ()) -> Layer:
    """A branching plant or twig: stems down to sub-pixel width, leaves of which some are
    translucent (alpha 0.45-1), from the bottom edge or floating."""
    h, w = size
    H, W = h * SS, w * SS
    stems, leaves = np.zeros((H, W), np.float32), np.zeros((H, W), np.float32)
    with_leaves = rng.random() < 0.75
    for _ in range(int(rng.integers(1, 4))):
        base = (rng.uniform(0.1, 0.9) * W, H * rng.uniform(0.7, 1.05))
        _branch(rng, stems, leaves if with_leaves else None, base,
                -np.pi / 2 + rng.normal(0, 0.3), rng.uniform(0.12, 0.3) * H,
                rng.uniform(1.5, 8) * SS, int(rng.integers(3, 7)))
    stem_c = _texture(rng, size, photos) * rng.uniform(0.3, 0.8)
    hue = np.array([rng.uniform(0.1, 0.5), rng.uniform(0.35, 0.9), rng.uniform(0.05, 0.4)],
                   np.float32)
    if rng.random() < 0.3:
        hue = rng.uniform(0, 1, 3).astype(np.float32)  # flowers, autumn leaves
    leaf_c = np.clip(hue * rng.uniform(0.6, 1.3, (h, w, 1)).astype(np.float32)
                     + 0.15 * (_texture(rng, size, photos) - 0.5), 0, 1)
    a_s, a_l = np.clip(_reduce(stems, size), 0, 1), np.clip(_reduce(leaves, size), 0, 1)
    pha = a_l + a_s * (1 - a_l)
    fgr = (leaf_c * a_l[..., None] + stem_c * (a_s * (1 - a_l))[..., None]) / np.maximum(pha, 1e-6)[..., None]
    return np.clip(fgr, 0, 1).astype(np.float32), pha.astype(np.float32)


def fur(rng: np.random.Generator, size: Tuple[int, int],
        photos: Sequence[np.ndarray] = ()) -> Layer:
    """A furry or hairy clump: a body whose outline dissolves into thousands of thin strands."""
    h, w = size
    H, W = h * SS, w * SS
    body = np.zeros((H, W), np.float32)
    c = (rng.uniform(0.25, 0.75) * W, rng.uniform(0.25, 0.75) * H)
    radius = rng.uniform(0.1, 0.3) * min(H, W)
    cv2.fillPoly(body, [_outline(rng, c, radius, False)], 1.0, cv2.LINE_AA)
    strands = np.zeros((H, W), np.float32)
    ys, xs = np.nonzero(cv2.Canny((body * 255).astype(np.uint8), 50, 150))
    if len(ys):
        n = int(rng.integers(800, 3000))
        k = rng.integers(len(ys), size=n)
        out = np.arctan2(ys[k] - c[1], xs[k] - c[0]) + rng.normal(0, 0.5, n)
        ln = rng.uniform(0.05, 0.35) * radius * rng.uniform(0.5, 1.5, n)
        curl = rng.uniform(-0.02, 0.02)
        for x, y, a, L in zip(xs[k], ys[k], out, ln):
            pts = [(x, y)]
            for s in range(1, 5):
                a = a + curl * L + rng.normal(0, 0.1)
                pts.append((pts[-1][0] + L / 4 * np.cos(a), pts[-1][1] + L / 4 * np.sin(a)))
            cv2.polylines(strands, [np.int32(pts)[:, None]], False, float(rng.uniform(0.4, 1.0)),
                          1, cv2.LINE_AA)
    pha = np.clip(_reduce(np.maximum(body, strands), size), 0, 1)
    tex = _texture(rng, size, photos)
    base = rng.uniform(0, 1, 3).astype(np.float32)
    fgr = np.clip(0.6 * base + 0.4 * tex + rng.normal(0, 0.04, (h, w, 1)).astype(np.float32), 0, 1)
    return fgr.astype(np.float32), pha.astype(np.float32)


def veil(rng: np.random.Generator, size: Tuple[int, int],
         photos: Sequence[np.ndarray] = ()) -> Layer:
    """A semi-transparent layer (tulle, smoke-coloured glass, a thin curtain): alpha 0.1-0.85
    modulated by soft folds, with an opaque hem or frame sometimes."""
    h, w = size
    outline = np.zeros((h * SS, w * SS), np.float32)
    c = (rng.uniform(0.2, 0.8) * w * SS, rng.uniform(0.2, 0.8) * h * SS)
    cv2.fillPoly(outline, [_outline(rng, c, rng.uniform(0.2, 0.5) * min(h, w) * SS, False)], 1.0,
                 cv2.LINE_AA)
    shape = _reduce(outline, size)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    folds = np.zeros((h, w), np.float32)
    for _ in range(3):
        f, a = rng.uniform(0.01, 0.08), rng.uniform(0, np.pi)
        folds += np.sin(f * (np.cos(a) * xx + np.sin(a) * yy) + rng.uniform(0, 6.3))
    lo, hi = sorted(rng.uniform(0.1, 0.85, 2))
    level = lo + (hi - lo) * (folds / 6 + 0.5)
    pha = shape * level
    if rng.random() < 0.4:  # an opaque hem along the outline
        hem = cv2.morphologyEx(shape, cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8))
        pha = np.maximum(pha, np.clip(hem, 0, 1))
    return _texture(rng, size, photos), np.clip(pha, 0, 1).astype(np.float32)


KINDS: List[Tuple[Callable, float]] = [(cutout, 0.4), (foliage, 0.25), (fur, 0.2), (veil, 0.15)]


def _over(top: Layer, below: Layer) -> Layer:
    (f1, a1), (f2, a2) = top, below
    a = a1 + a2 * (1 - a1)
    f = (f1 * a1[..., None] + f2 * (a2 * (1 - a1))[..., None]) / np.maximum(a, 1e-6)[..., None]
    return np.clip(f, 0, 1).astype(np.float32), a.astype(np.float32)


def objects(rng: np.random.Generator, size: Tuple[int, int],
            photos: Sequence[np.ndarray] = (), person: Optional[Callable] = None) -> Layer:
    """One to three subjects of the kinds above (and, with ``person``, sometimes a procedural
    person among them), layered front to back; some run off the frame's edges."""
    n = 1 if rng.random() < 0.55 else int(rng.integers(2, 4))
    kinds, p = zip(*KINDS)
    p = np.array(p) / np.sum(p)
    layers = []
    for _ in range(n):
        if person is not None and n > 1 and rng.random() < 0.3:
            layers.append(person(rng, size))
        else:
            layers.append(kinds[int(rng.choice(len(kinds), p=p))](rng, size, photos))
    out = layers[0]
    for layer in layers[1:]:
        out = _over(out, layer)
    fgr, pha = out
    if rng.random() < 0.25:  # pushed partly out of the frame
        h, w = size
        m = np.float32([[1, 0, rng.uniform(-0.4, 0.4) * w], [0, 1, rng.uniform(-0.3, 0.4) * h]])
        fgr = cv2.warpAffine(fgr, m, (w, h), flags=cv2.INTER_LINEAR)
        pha = cv2.warpAffine(pha, m, (w, h), flags=cv2.INTER_LINEAR)
    return fgr.astype(np.float32), pha.astype(np.float32)
