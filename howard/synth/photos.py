"""Real photos and textures that ship inside scikit-image, and random views of them.

They are public domain / CC0 and read from the installed package, so synthetic data needs no
download. Every array here is float32 HxWx3 RGB in [0, 1].
"""

import functools
import os
from typing import List, Tuple

import cv2
import numpy as np

# (file, kind): 'scene' photos make backgrounds and clothing, 'texture' only clothing.
_FILES = [
    ("astronaut.png", "scene"), ("chelsea.png", "scene"), ("coffee.png", "scene"),
    ("rocket.jpg", "scene"), ("motorcycle_left.png", "scene"), ("hubble_deep_field.jpg", "scene"),
    ("camera.png", "scene"), ("coins.png", "scene"), ("moon.png", "scene"), ("page.png", "scene"),
    ("horse.png", "texture"), ("ihc.png", "texture"), ("retina.jpg", "texture"),
    ("brick.png", "texture"), ("grass.png", "texture"), ("gravel.png", "texture"),
    ("color.png", "texture"), ("text.png", "texture"), ("clock_motion.png", "texture"),
]


def _folder() -> str:
    import skimage
    return os.path.join(os.path.dirname(skimage.__file__), "data")


def _rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
    scale = 255.0 if img.dtype == np.uint8 else 65535.0
    return img.astype(np.float32) / scale


@functools.lru_cache(maxsize=None)
def bank(kind: str = "scene") -> Tuple[np.ndarray, ...]:
    """The bundled photos of ``kind`` ('scene', 'texture' or 'all') as float32 HxWx3 RGB [0, 1].

    Files missing from the installed scikit-image are skipped; at least one must exist.
    """
    out: List[np.ndarray] = []
    for name, k in _FILES:
        if kind != "all" and k != kind:
            continue
        img = cv2.imread(os.path.join(_folder(), name), cv2.IMREAD_UNCHANGED)
        if img is not None:
            out.append(_rgb(img))
    if not out:
        raise RuntimeError(f"no bundled scikit-image photos found in {_folder()}")
    return tuple(out)


@functools.lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """One bundled photo by file name, as float32 HxWx3 RGB [0, 1]."""
    img = cv2.imread(os.path.join(_folder(), name), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise RuntimeError(f"bundled scikit-image photo {name} not found in {_folder()}")
    return _rgb(img)


def random_view(rng: np.random.Generator, img: np.ndarray, size: Tuple[int, int],
                zoom: Tuple[float, float] = (1.0, 2.0), max_angle: float = 5.0) -> np.ndarray:
    """A random rotated, scaled, flipped crop of ``img`` covering ``size`` (h, w).

    Args:
        img: float32 HxWx3 RGB [0, 1].
        zoom: range of magnification relative to the scale that just covers ``size``.
    Returns:
        float32 hxwx3 RGB [0, 1].
    """
    h, w = size
    ih, iw = img.shape[:2]
    angle = np.deg2rad(rng.uniform(-max_angle, max_angle))
    # Cover the rotated output rectangle with the image.
    need_w = w * abs(np.cos(angle)) + h * abs(np.sin(angle))
    need_h = w * abs(np.sin(angle)) + h * abs(np.cos(angle))
    scale = max(need_w / iw, need_h / ih) * rng.uniform(*zoom)
    # Output pixel p maps to image point c_img + R^-1 (p - c_out) / scale.
    cx = rng.uniform(need_w / scale / 2, iw - need_w / scale / 2)
    cy = rng.uniform(need_h / scale / 2, ih - need_h / scale / 2)
    ca, sa = np.cos(angle) * scale, np.sin(angle) * scale
    m = np.array([[ca, -sa, 0.0], [sa, ca, 0.0]])
    m[:, 2] = [w / 2, h / 2] - m[:, :2] @ [cx, cy]
    flags = cv2.INTER_AREA if scale < 0.7 else cv2.INTER_LINEAR
    if scale < 0.7:  # shrink first so sampling does not alias
        small = cv2.resize(img, None, fx=scale * 1.2, fy=scale * 1.2, interpolation=cv2.INTER_AREA)
        k = small.shape[1] / iw
        m[:, :2] /= k
        img, flags = small, cv2.INTER_LINEAR
    out = cv2.warpAffine(img, m, (w, h), flags=flags, borderMode=cv2.BORDER_REFLECT_101)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def jitter(rng: np.random.Generator, img: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Random brightness, contrast, saturation and per-channel gain (white balance).

    Args:
        img: float32 HxWx3 RGB [0, 1]. Returns the same shape, clipped to [0, 1].
    """
    s = strength
    gray = img.mean(axis=2, keepdims=True)
    sat = rng.uniform(1 - 0.4 * s, 1 + 0.3 * s)
    out = gray + (img - gray) * sat
    mean = float(out.mean())
    out = (out - mean) * rng.uniform(1 - 0.25 * s, 1 + 0.25 * s) + mean
    gain = rng.uniform(1 - 0.12 * s, 1 + 0.12 * s, 3) * rng.uniform(1 - 0.25 * s, 1 + 0.25 * s)
    return np.clip(out * gain.astype(np.float32) + rng.uniform(-0.05, 0.05) * s, 0, 1)


def background(rng: np.random.Generator, size: Tuple[int, int]) -> np.ndarray:
    """A random background: a view of a bundled photo, sometimes blended or shaded.

    Returns:
        float32 hxwx3 RGB [0, 1].
    """
    scenes = bank("scene")
    out = random_view(rng, scenes[rng.integers(len(scenes))], size)
    r = rng.random()
    if r < 0.2:  # two photos blended, like a cluttered room
        other = random_view(rng, scenes[rng.integers(len(scenes))], size)
        out = out * 0.6 + other * 0.4
    elif r < 0.35:  # a plain wall with a light falloff and a little texture
        colour = rng.uniform(0.15, 0.9, 3).astype(np.float32)
        ys, xs = np.mgrid[0:size[0], 0:size[1]].astype(np.float32)
        ramp = 1 + 0.3 * (xs / size[1] - 0.5) * rng.uniform(-1, 1) + \
            0.3 * (ys / size[0] - 0.5) * rng.uniform(-1, 1)
        out = np.clip(colour * ramp[..., None] + (out - out.mean()) * 0.15, 0, 1)
    return jitter(rng, out.astype(np.float32), 0.6)
