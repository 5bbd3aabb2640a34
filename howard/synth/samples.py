"""Synthetic training samples: a foreground composited over a background, with a reference plate.

A sample is ``(src, bgr, pha, fgr)``: ``src`` the frame the camera saw, ``bgr`` the clean plate as
howard's pipeline would hand it to the network, ``pha`` / ``fgr`` the truth. The plate is a
perturbed copy of the background inside ``src`` on purpose, as in the published recipe: colour
drift, noise, a small misalignment, shadows the subject casts that the plate lacks, compression,
and a filled border where an aligned plate did not cover the frame.

Foregrounds come from the procedural :func:`howard.synth.person.person` or from folders in the usual
matting-dataset layouts; backgrounds from bundled photos or folders of images.
"""

import os
from typing import Dict, Iterable, Sequence, Tuple

import cv2
import numpy as np

from .folders import FolderBackgrounds, FolderForegrounds, _read  # noqa: F401 (re-exported)
from .person import person
from .photos import background, jitter
from .scenery import outdoor
from .train_objects import objects as _objects

__all__ = ["SampleGenerator", "person", "background", "FolderForegrounds", "FolderBackgrounds"]

def _affine(rng: np.random.Generator, size: Tuple[int, int], rot: float, shift: float,
            scale: Tuple[float, float], shear: float) -> np.ndarray:
    """A random 2x3 affine about the image centre (degrees, fraction of size)."""
    h, w = size
    a, sh = np.deg2rad(rng.uniform(-rot, rot)), np.deg2rad(rng.uniform(-shear, shear))
    s = rng.uniform(*scale)
    m = s * np.array([[np.cos(a), -np.sin(a + sh)], [np.sin(a), np.cos(a + sh)]])
    c = np.array([w / 2, h / 2])
    t = c - m @ c + rng.uniform(-shift, shift, 2) * [w, h]
    return np.hstack([m, t[:, None]])


def _closeup(rng: np.random.Generator, m: np.ndarray, pha: np.ndarray,
             size: Tuple[int, int]) -> np.ndarray:
    """``m`` (2x3) followed by a zoom of 1.3-3x about a point of the figure's upper half (head,
    shoulders, chest) that lands near the frame's centre: a medium shot or a close-up, where
    the subject fills much of the frame and runs off its edges."""
    ys, xs = np.nonzero(pha > 0.5)
    if len(ys) == 0:
        return m
    top, bottom = ys.min(), ys.max()
    upper = np.flatnonzero(ys <= top + 0.55 * (bottom - top))
    k = upper[int(rng.integers(len(upper)))]
    px, py = m @ np.array([xs[k], ys[k], 1.0])
    h, w = size
    s = rng.uniform(1.3, 3.0)
    tx, ty = w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.6)
    zoom = np.array([[s, 0, tx - s * px], [0, s, ty - s * py], [0, 0, 1]])
    return (zoom @ np.vstack([m, [0, 0, 1]]))[:2]


def _warp(img: np.ndarray, m: np.ndarray, size: Tuple[int, int], border=cv2.BORDER_CONSTANT):
    return cv2.warpAffine(img, m, (size[1], size[0]), flags=cv2.INTER_LINEAR, borderMode=border)


def _jpeg(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    q = int(rng.integers(40, 90))
    ok, buf = cv2.imencode(".jpg", (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8),
                           [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0


def same_hue(rng: np.random.Generator, colour: np.ndarray) -> np.ndarray:
    """Colours (...x3 RGB in [0, 1]) with the hues of ``colour`` but a quite different
    brightness (grey level moved 30-70 % of the way towards black or white, whichever has room)
    and saturation (chroma scaled by 0.2-0.5 or 2-4, as far as it fits)."""
    colour = np.asarray(colour, np.float32)
    grey = colour.mean(axis=-1, keepdims=True)
    chroma = colour - grey
    tint = rng.normal(0, 0.02, 3).astype(np.float32)
    faint = np.abs(chroma).max(axis=-1, keepdims=True) < 0.02
    chroma = np.where(faint, chroma + tint - tint.mean(), chroma)  # grey gets a hue to keep
    darker = (grey > 0.65) | ((grey >= 0.35) & (rng.random() < 0.6))
    t = rng.uniform(0.3, 0.7)
    g = np.where(darker, grey * (1 - t), grey + (1 - grey) * t)
    k = rng.uniform(0.2, 0.5) if rng.random() < 0.3 else rng.uniform(2.0, 4.0)
    room = np.where(chroma > 0, (1 - g) / np.maximum(chroma, 1e-6),
                    g / np.maximum(-chroma, 1e-6)).min(axis=-1, keepdims=True)
    k = np.minimum(k, room)  # stay inside the colour cube, so the hue is kept
    return np.clip(g + chroma * k, 0, 1).astype(np.float32)


def _camouflage(rng: np.random.Generator, fgr: np.ndarray, pha: np.ndarray,
                bg: np.ndarray, hue: float = 0.5) -> np.ndarray:
    """Recolour an elliptical patch of the subject from the local background colour, keeping
    some of the subject's own texture.

    With probability ``1 - hue`` the patch takes that colour give or take a little (the plate
    difference alone cannot tell subject from background there); otherwise it keeps the
    background's hue but not its saturation and brightness (a blue cap against a blue sky, a
    brown sleeve against brown bark), which is still plainly the subject."""
    ys, xs = np.nonzero(pha > 0.5)
    if len(ys) == 0:
        return fgr
    k = int(rng.integers(len(ys)))
    extent = float(max(ys.max() - ys.min(), xs.max() - xs.min()) + 1)
    mask = np.zeros(pha.shape, np.float32)
    cv2.ellipse(mask, (int(xs[k]), int(ys[k])),
                (int(extent * rng.uniform(0.05, 0.3)) + 1, int(extent * rng.uniform(0.05, 0.3)) + 1),
                rng.uniform(0, 180), 0, 360, 1.0, -1, cv2.LINE_AA)
    mask = cv2.GaussianBlur(mask, (0, 0), 1 + extent * 0.01) * rng.uniform(0.7, 1.0)
    mask *= pha > 0  # colour is undefined (0) where there is no subject
    box = max(3, int(extent * rng.uniform(0.02, 0.1)) | 1)
    local = cv2.blur(bg, (box, box))
    texture = fgr - cv2.blur(fgr, (9, 9))
    if rng.random() >= hue:
        d = rng.normal(0, 1, 3)
        d *= rng.uniform(0.04, 0.2) / (np.linalg.norm(d) + 1e-6)
        base = local + d.astype(np.float32)
    else:
        base = same_hue(rng, local)
    target = np.clip(base + texture * rng.uniform(0, 0.8), 0, 1)
    return (fgr * (1 - mask[..., None]) + target * mask[..., None]).astype(np.float32)


def _ground_shadow(rng: np.random.Generator, pha: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """``bg`` darkened by the subject's shadow on the ground it stands on: the figure projected
    from its lowest point (the feet), squashed and sheared as by a low or high sun, falling in
    front of it or behind, sharp and darkest where it touches the feet and softer further out.
    Unchanged when no part of the subject is in the frame or its feet are below the frame."""
    h, w = pha.shape
    rows = np.flatnonzero((pha > 0.5).any(axis=1))
    if len(rows) == 0 or rows[-1] >= h - 3:
        return bg
    yb = float(rows[-1] + 1)
    s = rng.uniform(0.08, 0.5) * (1 if rng.random() < 0.7 else -1)  # <0: falls behind
    k = rng.uniform(-2.0, 2.0)
    # height above the ground d = yb - y lands at (x + k d, yb + s d)
    m = np.float32([[1, -k, k * yb], [0, -s, yb * (1 + s)]])
    cast = _warp(pha, m, (h, w))
    # contact: the lowest part of the figure, flattened just under itself
    near = pha * (np.arange(h, dtype=np.float32)[:, None] > yb - 0.04 * h)
    contact = _warp(near, np.float32([[1, 0, 0], [0, -0.15, yb * 1.15]]), (h, w))
    unit = max(h, w) / 100.0
    sharp = cv2.GaussianBlur(cast, (0, 0), rng.uniform(0.3, 1.0) * unit)
    soft = cv2.GaussianBlur(cast, (0, 0), rng.uniform(1.5, 4.0) * unit)
    dist = np.abs(np.arange(h, dtype=np.float32) - yb)[:, None]
    close = np.exp(-dist / (rng.uniform(0.03, 0.1) * h))
    shadow = sharp * close + soft * (1 - close)
    contact = cv2.GaussianBlur(contact, (0, 0), rng.uniform(0.2, 0.6) * unit)
    dark = np.maximum(rng.uniform(0.3, 0.75) * shadow, rng.uniform(0.5, 0.9) * contact)
    return (bg * (1 - np.clip(dark, 0, 1))[..., None]).astype(np.float32)


def low_light(rng: np.random.Generator, src: np.ndarray, bgr: np.ndarray, fgr: np.ndarray):
    """A dim shot as a phone records it: the scene at 5-100 % exposure (log-uniform), the plate a
    little brighter or darker than the frame, signal-dependent noise with chroma blotches that
    grows as the light falls (amplified sensor gain), crushed blacks and coarse compression.
    The plate's noise is drawn independently of the frame's.

    Args:
        src, bgr, fgr: float32 HxWx3 RGB in [0, 1]: frame, plate and true foreground colour.

    Returns:
        ``(src, bgr, fgr)``: the dim frame and plate, and the foreground colour at the same
        exposure (noise-free: the colour the network should recover).
    """
    e = float(np.exp(rng.uniform(np.log(0.05), 0.0)))
    gain = min(6.0, (0.5 / e) ** 0.5) if e < 0.5 else 1.0
    shot, read = rng.uniform(0.0003, 0.002) * gain, rng.uniform(0.002, 0.008) * gain
    chroma, black = rng.uniform(0.2, 1.0), rng.uniform(0.0, 0.03) if rng.random() < 0.6 else 0.0
    h, w = src.shape[:2]
    out = []
    for img, k in ((src, 1.0), (bgr, float(rng.uniform(0.9, 1.1)))):
        x = img * (e * k)
        sigma = np.sqrt(shot * x + read ** 2)
        x = x + sigma * rng.standard_normal(x.shape).astype(np.float32)
        blotch = rng.standard_normal((max(1, h // 4), max(1, w // 4), 3)).astype(np.float32)
        x = x + chroma * read * 2 * cv2.resize(blotch, (w, h), interpolation=cv2.INTER_CUBIC)
        x = np.clip((x - black) / (1 - black), 0, 1)
        if rng.random() < 0.6:
            q = int(rng.integers(25, 70))
            ok, buf = cv2.imencode(".jpg", (x * 255 + 0.5).astype(np.uint8),
                                   [cv2.IMWRITE_JPEG_QUALITY, q])
            x = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0
        out.append(x.astype(np.float32))
    fgr = np.clip((fgr * e - black) / (1 - black), 0, 1).astype(np.float32)
    return out[0], out[1], fgr


class SampleGenerator:
    """Deterministic training samples: sample ``i`` depends only on ``(seed, i)``.

    Args:
        seed: the base seed.
        fg_dirs: optional foreground folders (see :class:`FolderForegrounds`), used for a share
            ``fg_share`` of the person samples when given; the procedural person for the rest.
        bg_dirs: optional background image folders, used for a share ``bg_share`` of the
            samples when given.
        empty: probability of a sample with no subject at all.
        details: procedural figures get faces, headwear and tattoos (see
            :func:`howard.synth.person.person`); everything else about each sample stays the same.
        outdoor: probability that the background is a procedural outdoor scene
            (:func:`howard.synth.scenery.outdoor`: sky, trees, poles) instead of a photo.
        camouflage: probability that a patch of the subject takes the colour of the
            background behind it, give or take a little, so the plate difference alone cannot
            tell subject from background there.
        camouflage_hue: the share of those patches that keep the background's hue but take a
            quite different saturation and brightness (see :func:`same_hue`).
        closeup: probability that the subject is zoomed 1.3-3x about its head or chest (a
            medium shot or close-up, running off the frame's edges).
        ground: probability that the subject casts a shadow on the ground it stands on, touching
            its feet (see :func:`_ground_shadow`), which the plate lacks.
        objects: probability that the subject is not a person but one to three objects, plants,
            furry clumps or veils (see :func:`howard.synth.train_objects.objects`).
        dim: probability of a low-light sample (see :func:`low_light`): exposure 5-100 %,
            noise that grows as the light falls, crushed blacks, dark-video compression.
        photos: extra real photos (float32 HxWx3 RGB in [0, 1]) used as textures of objects.
        ``outdoor``, ``camouflage``, ``closeup``, ``ground``, ``objects`` and ``dim`` draw from
        their own generators, so with all at 0 a sample is the same as without them.
    """

    def __init__(self, seed: int = 0, fg_dirs: Sequence[os.PathLike] = (),
                 bg_dirs: Sequence[os.PathLike] = (), empty: float = 0.03,
                 details: bool = False, outdoor: float = 0.0, camouflage: float = 0.0,
                 camouflage_hue: float = 0.5, closeup: float = 0.0, ground: float = 0.0,
                 objects: float = 0.0, dim: float = 0.0, photos: Sequence[np.ndarray] = (),
                 fg_share: float = 0.5, bg_share: float = 0.5):
        self.seed, self.empty, self.details = seed, empty, details
        self.fg_share, self.bg_share = fg_share, bg_share
        self.objects, self.dim, self.photos = objects, dim, tuple(photos)
        self.outdoor, self.camouflage, self.camouflage_hue = outdoor, camouflage, camouflage_hue
        self.closeup, self.ground = closeup, ground
        self.fg_folder = FolderForegrounds(fg_dirs) if fg_dirs else None
        self.bg_folder = FolderBackgrounds(bg_dirs) if bg_dirs else None

    def _foreground(self, rng, size):
        if self.fg_folder is not None and rng.random() < self.fg_share:
            return self.fg_folder(rng, size)
        return person(rng, size, details=self.details)

    def _background(self, rng, size):
        if self.bg_folder is not None and rng.random() < self.bg_share:
            return self.bg_folder(rng, size)
        return background(rng, size)

    def sample(self, index: int, size: Tuple[int, int]) -> Dict[str, np.ndarray]:
        """One sample of ``size`` (h, w).

        Returns:
            dict of float32 arrays in [0, 1]: ``src``, ``bgr``, ``fgr`` (hxwx3 RGB) and
            ``pha`` (hxw).
        """
        rng = np.random.default_rng([self.seed, int(index)])
        xrng = np.random.default_rng([self.seed, int(index), 0x5CE7E])
        orng = np.random.default_rng([self.seed, int(index), 0x0B1EC7])
        h, w = size
        if self.objects and orng.random() < self.objects:
            fgr, pha = _objects(orng, size, self.photos,
                                person=lambda r, s: person(r, s, details=self.details))
        else:
            fgr, pha = self._foreground(rng, size)
        m = _affine(rng, size, 5, 0.1, (0.4, 1.0) if rng.random() < 0.5 else (0.8, 1.1), 5)
        if self.closeup and xrng.random() < self.closeup:
            m = _closeup(xrng, m, pha, size)
        fgr, pha = _warp(fgr, m, size), _warp(pha, m, size)
        if rng.random() < 0.5:
            fgr, pha = fgr[:, ::-1], pha[:, ::-1]
        if rng.random() < 0.1:  # out of focus or over-sharpened subject
            k = int(rng.integers(1, 3)) * 2 + 1
            blur_f = cv2.GaussianBlur(fgr * pha[..., None], (k, k), 0)
            pha = cv2.GaussianBlur(pha, (k, k), 0)
            fgr = np.clip(blur_f / np.maximum(pha, 1e-4)[..., None], 0, 1)
        fgr = jitter(rng, fgr, 0.6)
        if rng.random() < self.empty:
            pha = np.zeros_like(pha)
        bg = self._background(rng, (h, w))  # drawn even when replaced: keeps rng's stream
        if self.outdoor and xrng.random() < self.outdoor:
            bg = outdoor(xrng, (h, w))
        bg = _warp(bg, _affine(rng, size, 5, 0.05, (1, 1.3), 3), size, cv2.BORDER_REFLECT_101)
        if self.camouflage and xrng.random() < self.camouflage:
            fgr = _camouflage(xrng, fgr, pha, bg, self.camouflage_hue)
        bgr = bg.copy()
        if rng.random() < 0.3:  # the subject's shadow falls on the scene, not on the plate
            k = int(rng.integers(5, 16)) * 2 + 1
            shadow = cv2.GaussianBlur(pha, (k, k), 0)
            shadow = _warp(shadow, _affine(rng, size, 10, 0.1, (0.9, 1.1), 10), size)
            bg = bg * (1 - rng.uniform(0.2, 0.6) * shadow)[..., None]
        if self.ground and xrng.random() < self.ground:
            bg = _ground_shadow(xrng, pha, bg)
        src = fgr * pha[..., None] + bg * (1 - pha[..., None])
        bgr = self._plate_errors(rng, bgr, size)
        if self.dim and orng.random() < self.dim:
            src, bgr, fgr = low_light(orng, src, bgr, fgr)
        for name in ("src", "bgr"):
            img = src if name == "src" else bgr
            if rng.random() < 0.4:
                img = img + rng.normal(0, rng.uniform(0, 0.03), img.shape).astype(np.float32)
            if rng.random() < 0.3:
                img = _jpeg(rng, img)
            if name == "src":
                src = img
            else:
                bgr = img
        return {"src": np.clip(src, 0, 1).astype(np.float32),
                "bgr": np.clip(bgr, 0, 1).astype(np.float32),
                "fgr": np.ascontiguousarray(fgr, np.float32),
                "pha": np.ascontiguousarray(pha, np.float32)}

    def _plate_errors(self, rng, bgr, size):
        """What the aligned plate gets wrong: colour, a little geometry, a filled border."""
        h, w = size
        if rng.random() < 0.8:
            bgr = jitter(rng, bgr, 0.35)
        r = rng.random()
        if r < 0.3:  # residual affine misalignment (published recipe)
            bgr = _warp(bgr, _affine(rng, size, 1, 0.01, (0.99, 1.01), 0), size,
                        cv2.BORDER_REFLECT_101)
        elif r < 0.5:  # residual homography error of a pixel or two, as alignment leaves
            d = rng.normal(0, rng.uniform(0.3, 2.0), (4, 2)).astype(np.float32)
            corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
            H = cv2.getPerspectiveTransform(corners, corners + d)
            bgr = cv2.warpPerspective(bgr, H, (w, h), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REFLECT_101)
        if rng.random() < 0.1:  # a border the warped plate did not cover, filled by smearing
            side, n = int(rng.integers(4)), int(rng.integers(2, max(3, min(h, w) // 12)))
            bgr = np.rot90(bgr, side).copy()
            bgr[:, :n] = bgr[:, n:n + 1]
            bgr = np.ascontiguousarray(np.rot90(bgr, -side))
        return bgr

    def batch(self, indices: Iterable[int], size: Tuple[int, int]) -> Dict[str, np.ndarray]:
        """Samples ``indices`` stacked as NCHW float32 (``pha`` Nx1xHxW)."""
        rows = [self.sample(i, size) for i in indices]
        out = {}
        for k in ("src", "bgr", "fgr", "pha"):
            arr = np.stack([r[k] for r in rows])
            out[k] = np.ascontiguousarray(arr[:, None] if k == "pha" else arr.transpose(0, 3, 1, 2))
        return out
