"""Procedural outdoor scenes: a sky with clouds, bare or leafy trees, poles, a hedge, the ground.

Handheld footage is often shot outside, and the hardest places for a matte are there: a subject
against a bright sky (clothes can be the sky's colour) and fine dark branches that a plate taken
a little later or from a little elsewhere never lines up with exactly. The bundled photos have
neither, so :func:`outdoor` draws such scenes. Trees and poles are drawn at twice the size and
area-averaged down, so twigs thinner than a pixel come out as faint, fractional lines, as a
camera records them. Every array is float32 HxWx3 RGB in [0, 1].
"""

from typing import Tuple

import cv2
import numpy as np

from .photos import bank, jitter, photo, random_view

# (top, horizon) colours of a few kinds of sky.
SKIES = np.array([
    [[0.25, 0.50, 0.88], [0.72, 0.86, 0.97]],   # clear
    [[0.55, 0.76, 0.95], [0.86, 0.94, 0.99]],   # pale, hazy
    [[0.62, 0.64, 0.68], [0.86, 0.87, 0.88]],   # overcast
    [[0.30, 0.38, 0.70], [0.97, 0.74, 0.58]],   # dusk
    [[0.52, 0.50, 0.75], [1.00, 0.72, 0.42]],   # sunset
], np.float32)
BARK = np.array([[0.16, 0.13, 0.11], [0.30, 0.27, 0.24], [0.42, 0.40, 0.38]], np.float32)
GROUND = ("grass.png", "gravel.png", "brick.png")
LEAVES = np.array([[0.18, 0.35, 0.12], [0.30, 0.45, 0.15], [0.12, 0.25, 0.10],
                   [0.55, 0.50, 0.15], [0.65, 0.35, 0.10]], np.float32)


def _noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth value noise in [0, 1] with features about ``cell`` pixels across."""
    gh, gw = int(h / cell) + 2, int(w / cell) + 2
    return cv2.resize(rng.random((gh, gw)).astype(np.float32), (w, h),
                      interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _sky(rng: np.random.Generator, h: int, w: int, horizon: int) -> np.ndarray:
    top, low = SKIES[rng.integers(len(SKIES))] + rng.uniform(-0.05, 0.05, (2, 3))
    t = (np.arange(h, dtype=np.float32) / max(horizon, 1)).clip(0, 1) ** rng.uniform(0.6, 1.6)
    sky = top[None, None] * (1 - t[:, None, None]) + low[None, None] * t[:, None, None]
    sky = np.broadcast_to(sky, (h, w, 3)).astype(np.float32)
    if rng.random() < 0.7:  # clouds: two octaves of noise, thresholded softly
        cell = rng.uniform(0.15, 0.5) * w
        n = 0.65 * _noise(rng, h, w, cell) + 0.35 * _noise(rng, h, w, cell / 4)
        cover = ((n - rng.uniform(0.45, 0.7)) * rng.uniform(3, 8)).clip(0, 1)
        cover *= rng.uniform(0.4, 1.0)
        shade = rng.uniform(0.75, 1.0) * (1 - 0.25 * n[..., None])
        cloud = np.float32([1.0, 0.98, 0.96]) * shade
        if rng.random() < 0.3:  # lit by a low sun
            cloud = cloud * np.float32([1.0, 0.8, 0.7])
        sky = sky * (1 - cover[..., None]) + cloud * cover[..., None]
    return np.ascontiguousarray(sky, np.float32)


def _ground(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A band of ground (h x w): a texture photo squashed into perspective, or plain asphalt."""
    if rng.random() < 0.6:
        name = GROUND[rng.integers(len(GROUND))]
        tex = random_view(rng, photo(name), (max(8, h // 2), w), zoom=(1, 3), max_angle=3)
        tex = cv2.resize(tex, (w, h), interpolation=cv2.INTER_LINEAR)
        grey = tex.mean(axis=2, keepdims=True)
        tint = rng.uniform(0.3, 0.8, 3).astype(np.float32)
        tex = grey * tint * 1.3 + (tex - grey) * rng.uniform(0, 1)
    else:
        tex = np.empty((h, w, 3), np.float32)
        tex[:] = rng.uniform(0.25, 0.6)
        tex += rng.normal(0, 0.04, (h, w, 1)).astype(np.float32)
    fall = np.linspace(rng.uniform(0.7, 1.0), rng.uniform(0.9, 1.2), h, dtype=np.float32)
    return (tex * fall[:, None, None]).clip(0, 1)


def _tree(rng: np.random.Generator, img: np.ndarray, root: Tuple[float, float], height: float,
          bark: np.ndarray, leafy: bool) -> None:
    """Draw a branching tree in place on ``img`` (the 2x canvas), trunk at ``root``."""
    spread, shrink = rng.uniform(0.35, 0.8), rng.uniform(0.62, 0.78)
    depth = int(rng.integers(6, 10))
    tips = []
    stack = [(root[0], root[1], -np.pi / 2 + rng.uniform(-0.1, 0.1), height * 0.3,
              height * rng.uniform(0.025, 0.05), 0)]
    colour = tuple(float(c) for c in bark)
    while stack:
        x, y, a, length, thick, d = stack.pop()
        x2, y2 = x + np.cos(a) * length, y + np.sin(a) * length
        cv2.line(img, (int(x * 4), int(y * 4)), (int(x2 * 4), int(y2 * 4)), colour,
                 max(1, int(round(thick))), cv2.LINE_AA, shift=2)
        if d < depth and length > 3:
            for _ in range(int(rng.integers(2, 4))):
                a2 = a + rng.uniform(-spread, spread) - 0.15 * np.cos(a)
                stack.append((x2, y2, a2, length * shrink * rng.uniform(0.8, 1.1),
                              max(0.6, thick * 0.6), d + 1))
        else:
            tips.append((x2, y2))
    if leafy and tips:
        base = LEAVES[rng.integers(len(LEAVES))]
        r = max(2, int(height * rng.uniform(0.005, 0.015)))
        for x, y in tips[:: max(1, len(tips) // 1500)]:
            for _ in range(4):
                c = (base * rng.uniform(0.6, 1.3)).clip(0, 1)
                cv2.circle(img, (int(x + rng.normal(0, 2 * r)), int(y + rng.normal(0, 2 * r))),
                           int(r * rng.uniform(0.5, 1.5)), tuple(float(v) for v in c), -1,
                           cv2.LINE_AA)


def outdoor(rng: np.random.Generator, size: Tuple[int, int]) -> np.ndarray:
    """A random outdoor scene of ``size`` (h, w): sky, trees, poles, hedge and ground.

    Returns:
        float32 hxwx3 RGB [0, 1].
    """
    h, w = size
    H, W = 2 * h, 2 * w
    horizon = int(H * rng.uniform(0.45, 0.95))
    img = cv2.resize(_sky(rng, h, w, horizon // 2), (W, H), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.3:  # buildings along the horizon, cut from the bundled photos
        scenes = bank("scene")
        for _ in range(int(rng.integers(1, 4))):
            bw, bh = int(W * rng.uniform(0.1, 0.4)), int(H * rng.uniform(0.05, 0.3))
            x0 = int(rng.integers(0, max(1, W - bw)))
            y0 = max(0, horizon - bh)
            img[y0:horizon, x0:x0 + bw] = random_view(
                rng, scenes[rng.integers(len(scenes))], (horizon - y0, bw)) * rng.uniform(0.5, 1)
    bark = BARK[rng.integers(len(BARK))] * rng.uniform(0.7, 1.2)
    leafy = rng.random() < 0.5
    for _ in range(int(rng.integers(0, 7))):  # trees, the far ones smaller
        height = H * rng.uniform(0.2, 1.0)
        _tree(rng, img, (rng.uniform(-0.1, 1.1) * W, horizon + rng.uniform(0, 0.02) * H),
              height, bark * rng.uniform(0.85, 1.15), leafy and rng.random() < 0.8)
    for _ in range(int(rng.integers(0, 3))):  # lamp posts and poles
        x, top = rng.uniform(0, W), horizon - H * rng.uniform(0.2, 0.8)
        grey = tuple(float(v) for v in np.full(3, rng.uniform(0.2, 0.6)))
        thick = max(1, int(W * rng.uniform(0.002, 0.006)))
        cv2.line(img, (int(x), int(horizon)), (int(x), int(top)), grey, thick, cv2.LINE_AA)
        if rng.random() < 0.6:
            cv2.line(img, (int(x), int(top)), (int(x + rng.uniform(-1, 1) * W * 0.04), int(top)),
                     grey, thick, cv2.LINE_AA)
    if rng.random() < 0.5:  # a hedge along the horizon
        hh = int(H * rng.uniform(0.02, 0.08))
        edge = horizon - (hh * (0.6 + 0.4 * _noise(rng, 1, W, W * 0.03)[0])).astype(int)
        ys = np.arange(H)[:, None]
        mask = (ys >= edge[None, :]) & (ys < horizon)
        colour = LEAVES[rng.integers(len(LEAVES))] * rng.uniform(0.5, 0.9)
        leaf = colour * (0.7 + 0.6 * _noise(rng, H, W, 6)[..., None])
        img[mask] = leaf[mask]
    img[horizon:] = _ground(rng, H - horizon, W)  # horizon < 0.95 H: the ground is never empty
    out = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.3:  # slightly out of focus, as a background often is
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 2.0))
    return jitter(rng, out.clip(0, 1).astype(np.float32), 0.4)
