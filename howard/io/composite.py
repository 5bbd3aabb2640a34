"""Putting the matted subject over a new background, from arrays or from an output folder.

The compositing equation is ``C = a * F + (1 - a) * B`` per pixel, with the straight (not
premultiplied) foreground ``F`` the network predicts, its alpha ``a`` and a background ``B``.

Where it is evaluated matters. PNG and video values are sRGB-encoded, roughly light to the
power 1/2.2, while light mixes linearly: a hair covering half a pixel gives half the light of
each side only when decoded (linear-light) values are mixed; mixing encoded values darkens soft
edges and motion blur between a bright and a dark side. So ``space='linear'``, the default,
decodes, mixes and encodes again; ``space='srgb'`` mixes the encoded values as most editing
programs do by default, to match one of them. Alpha is coverage, never gamma-encoded.

Backgrounds (:func:`parse_background`) are a colour, an image, or a clip (a video, an image
folder or a printf pattern), scaled to cover the frame and streamed, looping when shorter than
the subject clip. :func:`composite_folder` re-composites an existing output folder without
running the network again.
"""

import logging
import os
import re
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from . import media
from ..errors import InputError

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
SPACES = ("linear", "srgb")
MODES = ("over", "inside")
# CSS colour keywords (so "green" is CSS's #008000; "lime" is pure #00ff00)
COLOURS = {"black": (0, 0, 0), "white": (255, 255, 255), "red": (255, 0, 0),
           "green": (0, 128, 0), "lime": (0, 255, 0), "blue": (0, 0, 255),
           "gray": (128, 128, 128), "grey": (128, 128, 128), "yellow": (255, 255, 0),
           "cyan": (0, 255, 255), "magenta": (255, 0, 255)}
LOOP_CACHE_BYTES = 256 << 20  # a looping background shorter than this is kept decoded


# --- sRGB <-> linear light ---------------------------------------------------------------------

def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """Decode sRGB values (float, 0-1) to linear light (float32, 0-1), IEC 61966-2-1."""
    x = np.asarray(x, np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(y: np.ndarray) -> np.ndarray:
    """Encode linear light (float, 0-1, clipped) to sRGB values (float32, 0-1)."""
    y = np.clip(np.asarray(y, np.float32), 0.0, 1.0)
    return np.where(y <= 0.0031308, y * 12.92,
                    1.055 * y ** (1 / 2.4) - 0.055).astype(np.float32)


_DECODE8 = srgb_to_linear(np.arange(256) / 255.0)
# linear light quantised to 16 bits -> sRGB uint8; the step is under 1/30 of an 8-bit level
_ENCODE16 = (linear_to_srgb(np.arange(65536) / 65535.0) * 255.0 + 0.5).astype(np.uint8)


def _unit(image: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float (0-1) pixels as float32 in 0-1."""
    if image.dtype == np.uint8:
        return image.astype(np.float32) * np.float32(1 / 255)
    if image.dtype == np.uint16:
        return image.astype(np.float32) * np.float32(1 / 65535)
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def _check_space(space: str) -> None:
    if space not in SPACES:
        raise InputError(f"colour space for compositing must be 'linear' or 'srgb', got "
                         f"{space!r}; 'linear' is right for soft edges")


# --- compositing arrays ------------------------------------------------------------------------

def composite(fgr: np.ndarray, pha: np.ndarray, bgr: np.ndarray,
              space: str = "linear") -> np.ndarray:
    """``C = a * F + (1 - a) * B`` per pixel, in linear light (default) or on sRGB values.

    Args:
        fgr: HxWx3 straight foreground F, RGB, sRGB-encoded; uint8, uint16 or float (0-1).
        pha: HxW or HxWx1 alpha a (coverage, linear); uint8, uint16 or float (0-1).
        bgr: HxWx3 background B, RGB, sRGB-encoded; uint8, uint16 or float (0-1).
        space: ``'linear'`` mixes decoded light (physically right); ``'srgb'`` mixes the
            encoded values as most editors do.

    Returns:
        HxWx3 uint8 RGB, sRGB-encoded.
    """
    _check_space(space)
    if pha.ndim == 2:
        pha = pha[:, :, None]
    if fgr.shape[:2] != bgr.shape[:2] or pha.shape[:2] != fgr.shape[:2] or pha.shape[2] != 1:
        raise ValueError(f"foreground {fgr.shape}, alpha {pha.shape} and background "
                         f"{bgr.shape} must share one HxW size")
    a = _unit(pha)
    if space == "srgb":
        f, b = _unit(fgr), _unit(bgr)
        return (np.clip(b + a * (f - b), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    f = _DECODE8[fgr] if fgr.dtype == np.uint8 else srgb_to_linear(_unit(fgr))
    b = _DECODE8[bgr] if bgr.dtype == np.uint8 else srgb_to_linear(_unit(bgr))
    mixed = np.clip(b + a * (f - b), 0.0, 1.0)
    return _ENCODE16[(mixed * 65535.0 + 0.5).astype(np.uint16)]


def inside(src: np.ndarray, pha: np.ndarray, video_frame: np.ndarray,
           space: str = "linear") -> np.ndarray:
    """The new video seen through the subject: ``C = a * V + (1 - a) * src``.

    The subject's silhouette becomes a window onto ``video_frame``; the original background
    stays. Arguments and result as in :func:`composite` (``src``, ``video_frame``: HxWx3 RGB).
    """
    return composite(video_frame, pha, src, space)


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """Colour times alpha, for tools that want premultiplied (associated) alpha.

    Args:
        rgba: HxWx4 RGBA, straight alpha; uint8, uint16 or float (0-1).

    Returns:
        A new HxWx4 array of the same dtype: RGB multiplied by alpha (rounded to nearest for
        integers), alpha unchanged.
    """
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"premultiply needs HxWx4 RGBA, got shape {rgba.shape}")
    out = rgba.copy()
    if rgba.dtype in (np.uint8, np.uint16):
        top = np.iinfo(rgba.dtype).max  # odd, so adding half of it rounds to nearest
        wide = rgba.astype(np.uint64)
        out[..., :3] = (wide[..., :3] * wide[..., 3:] + top // 2) // top
    else:
        out[..., :3] = rgba[..., :3] * rgba[..., 3:]
    return out


# --- backgrounds -------------------------------------------------------------------------------

def parse_colour(text: str) -> Optional[Tuple[int, int, int]]:
    """``(r, g, b)`` 0-255 for a colour name or ``#rrggbb`` / ``#rgb``; None if not a colour."""
    t = text.strip().lower()
    if t in COLOURS:
        return COLOURS[t]
    m = re.fullmatch(r"#([0-9a-f]{3}|[0-9a-f]{6})", t)
    if m is None:
        return None
    digits = m.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))


def cover(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Scale ``image`` (HxWxC) to fill ``size`` = (h, w) keeping its aspect, then centre-crop."""
    h, w = image.shape[:2]
    th, tw = size
    if (h, w) == (th, tw):
        return image
    s = max(tw / w, th / h)
    nw, nh = max(tw, int(round(w * s))), max(th, int(round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(image, (nw, nh), interpolation=interp)
    x0, y0 = (nw - tw) // 2, (nh - th) // 2
    return np.ascontiguousarray(scaled[y0:y0 + th, x0:x0 + tw])


class Background:
    """Background frames for a clip of ``n_frames``: iterating yields ``(index, frame)``,
    frame HxWx3 uint8 RGB at the requested size (shared between indices: do not modify it),
    index 0 to ``n_frames - 1``.

    Attributes:
        kind: ``'colour'``, ``'image'`` (one still) or ``'clip'`` (streamed, looped).
        name: the spec as given.
        size: ``(h, w)``.
    """

    def __init__(self, kind: str, name: str, size: Tuple[int, int], n_frames: int,
                 still: Optional[np.ndarray] = None, source: Optional[media.FrameSource] = None):
        self.kind, self.name, self.size, self.n_frames = kind, name, tuple(size), int(n_frames)
        self.still, self.source = still, source

    def __len__(self) -> int:
        return self.n_frames

    def __iter__(self) -> Iterator[Tuple[int, np.ndarray]]:
        if self.source is None:
            for index in range(self.n_frames):
                yield index, self.still
            return
        yield from self._clip()

    def _clip(self) -> Iterator[Tuple[int, np.ndarray]]:
        src, n, index = self.source, self.n_frames, 0
        hint = src.len_hint
        cache: Optional[List[np.ndarray]] = None if hint is not None and hint >= n else []
        while index < n:
            got = 0
            for _, frame in src.frames(0):
                frame = cover(frame, self.size)
                if cache is not None:
                    cache.append(frame)
                    if len(cache) * frame.nbytes > LOOP_CACHE_BYTES:
                        cache = None  # too long to keep: later loops decode again
                yield index, frame
                index, got = index + 1, got + 1
                if index >= n:
                    return
            if got == 0:
                raise InputError(f"background {self.name!r} gave no frames; check the clip")
            if cache is not None:
                for i in range(index, n):
                    yield i, cache[i % len(cache)]
                return
            log.debug("background %s ended after %d frames; looping", self.name, got)


def parse_background(spec: Union[PathLike, Sequence[int]], size: Tuple[int, int],
                     n_frames: int) -> Background:
    """A :class:`Background` from a colour, an image, or a clip.

    Args:
        spec: a colour name (black, white, red, green, lime, blue, gray/grey, yellow, cyan,
            magenta), ``#rrggbb`` or ``#rgb``, an ``(r, g, b)`` triple 0-255, or the path of an
            image, a video, an image folder or a printf pattern. Colours are tried first.
        size: ``(h, w)`` of the frames wanted; images and clips are scaled to cover it
            (aspect kept, centre-cropped).
        n_frames: frames wanted; a shorter clip loops, a longer one is cut.

    Raises:
        InputError: ``spec`` is neither a colour nor readable media.
    """
    if isinstance(spec, (str, os.PathLike)):
        name = os.fspath(spec)
        rgb = parse_colour(name)
    else:
        name, rgb = str(spec), tuple(int(c) for c in spec)
        if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
            raise InputError(f"background colour {spec!r} must be three values 0-255, e.g. "
                             f"(0, 177, 64)")
    if rgb is not None:
        still = np.full((size[0], size[1], 3), rgb, np.uint8)
        return Background("colour", name, size, n_frames, still=still)
    if not Path(name).exists() and not re.search(r"%0?\d*d", Path(name).name):
        hint = ("a hex colour is written #rrggbb or #rgb" if name.strip().startswith("#")
                else f"colours are {', '.join(COLOURS)} or #rrggbb")
        raise InputError(f"background {name!r} is not a colour nor an existing image, video or "
                         f"folder; {hint}")
    source = media.open_source(name)
    if source.kind == "image":
        still = cover(next(iter(source))[1], size)
        return Background("image", name, size, n_frames, still=still)
    return Background("clip", name, size, n_frames, source=source)


def frame_at(frames: Iterator[Tuple[int, np.ndarray]], index: int, what: str) -> np.ndarray:
    """Advance an ``(index, frame)`` stream to ``index`` and return that frame."""
    for i, frame in frames:
        if i == index:
            return frame
    raise InputError(f"{what} ended before frame {index}; check that it is the clip that was "
                     f"matted")
