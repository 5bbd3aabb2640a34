"""Contact sheets: a grid of frames, plates, mattes and error maps with column titles.

Used by ``scripts/evaluate.py`` (what the evaluation saw) and ``scripts/make_sheet.py`` (the
README picture). Every image may be grey or colour, uint8, uint16 or float in [0, 1]; the
sheet is HxWx3 uint8 RGB.
"""

import os
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ..io import composite, media

PathLike = Union[str, os.PathLike]
PAPER = (255, 255, 255)
INK = (30, 30, 30)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def heat_map(error: np.ndarray, vmax: float = 1.0) -> np.ndarray:
    """HxW error (float, 0 = none) as an HxWx3 uint8 RGB heat map (inferno: black -> yellow).

    Args:
        error: HxW float array, e.g. ``abs(pred - true)``.
        vmax: the error shown at full brightness; larger values are clipped.
    """
    if vmax <= 0:
        raise ValueError(f"vmax must be positive, got {vmax}")
    scaled = (np.clip(np.asarray(error, np.float64) / vmax, 0.0, 1.0) * 255.0 + 0.5)
    coloured = cv2.applyColorMap(scaled.astype(np.uint8), cv2.COLORMAP_INFERNO)
    return cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)


def fit_tile(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """``image`` as HxWx3 uint8 RGB of ``size`` = (h, w), scaled to fit and centred on paper."""
    rgb = media.to_rgb8(np.asarray(image))
    h, w = size
    s = min(w / rgb.shape[1], h / rgb.shape[0])
    nw, nh = max(1, int(round(rgb.shape[1] * s))), max(1, int(round(rgb.shape[0] * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(rgb, (nw, nh), interpolation=interp)
    out = np.full((h, w, 3), PAPER, np.uint8)
    y0, x0 = (h - nh) // 2, (w - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = scaled
    return out


def _put_text(canvas: np.ndarray, text: str, box: Tuple[int, int, int, int],
              colour=INK, centre: bool = True) -> None:
    """Write ``text`` in ``box`` = (x, y, w, h), centred or from the left, shrunk to fit."""
    x, y, w, h = box
    scale = h / 30.0
    (tw, th), _ = cv2.getTextSize(text, FONT, scale, 1)
    if tw > w - 4:
        scale *= (w - 4) / tw
        (tw, th), _ = cv2.getTextSize(text, FONT, scale, 1)
    org = (x + (w - tw) // 2 if centre else x + 3, y + (h + th) // 2)
    cv2.putText(canvas, text, org, FONT, scale, colour, 1, cv2.LINE_AA)


def _caption(canvas: np.ndarray, text: str, box: Tuple[int, int, int, int]) -> None:
    """White ``text`` on a darkened strip ``box`` = (x, y, w, h) of ``canvas``."""
    x, y, w, h = box
    (tw, _), _ = cv2.getTextSize(text, FONT, h / 30.0, 1)
    w = min(w, tw + 8)
    canvas[y:y + h, x:x + w] //= 3
    _put_text(canvas, text, (x, y, w, h), colour=(255, 255, 255), centre=False)


def draw_sheet(rows: Sequence[Sequence[np.ndarray]], titles: Sequence[str] = (),
               width: int = 1200, gap: int = 4, title_height: int = 24,
               captions: Optional[Sequence[str]] = None) -> np.ndarray:
    """Lay images out in a grid, one row per entry of ``rows``, with column titles on top.

    Every cell has the aspect of the first image of the first row; other images are scaled to
    fit their cell, centred.

    Args:
        rows: rows of images (each grey HxW or colour HxWx3/4; uint8, uint16 or float 0-1);
            every row has the same number of images.
        titles: one title per column (or none for no title strip).
        width: width of the sheet in px.
        gap: px of paper between and around cells.
        title_height: height of the title strip in px.
        captions: optional text per row, written over the row's first cell.

    Returns:
        HxWx3 uint8 RGB sheet, ``width`` px wide.
    """
    if not rows or not rows[0]:
        raise ValueError("a sheet needs at least one row with one image")
    cols = len(rows[0])
    if any(len(r) != cols for r in rows):
        raise ValueError(f"every row needs {cols} images, got {[len(r) for r in rows]}")
    if titles and len(titles) != cols:
        raise ValueError(f"{len(titles)} titles for {cols} columns")
    if captions is not None and len(captions) != len(rows):
        raise ValueError(f"{len(captions)} captions for {len(rows)} rows")
    tile_w = (width - gap * (cols + 1)) // cols
    if tile_w < 1:
        raise ValueError(f"a {width} px sheet has no room for {cols} columns")
    first = np.asarray(rows[0][0])
    tile_h = max(1, int(round(tile_w * first.shape[0] / first.shape[1])))
    top = title_height if titles else 0
    height = top + gap + len(rows) * (tile_h + gap)
    sheet = np.full((height, width, 3), PAPER, np.uint8)
    x0 = (width - (cols * tile_w + (cols - 1) * gap)) // 2
    for c, title in enumerate(titles):
        _put_text(sheet, title, (x0 + c * (tile_w + gap), 0, tile_w, top + gap // 2))
    for r, row in enumerate(rows):
        y = top + gap + r * (tile_h + gap)
        for c, image in enumerate(row):
            x = x0 + c * (tile_w + gap)
            sheet[y:y + tile_h, x:x + tile_w] = fit_tile(image, (tile_h, tile_w))
        if captions is not None and captions[r]:
            _caption(sheet, captions[r], (x0, y, tile_w, max(12, min(24, tile_h // 7))))
    return sheet


def matte_row(src: np.ndarray, bgr: np.ndarray, rgba: np.ndarray, back: np.ndarray,
              premultiplied: bool = False) -> List[np.ndarray]:
    """The cells showing one matted frame: frame, aligned plate, alpha, composite.

    Args:
        src, bgr: HxWx3 uint8 RGB subject frame and aligned plate.
        rgba: HxWx4 uint8 or uint16 RGBA as howard writes it.
        back: HxWx3 uint8 RGB new background of the frame's size.
        premultiplied: ``rgba`` holds premultiplied colour (``--premultiply``).

    Returns:
        ``[src, bgr, alpha (HxW float32), composite (HxWx3 uint8, in linear light)]``.
    """
    scale = 65535.0 if rgba.dtype == np.uint16 else 255.0
    alpha = rgba[..., 3].astype(np.float32) / np.float32(scale)
    colour = rgba[..., :3].astype(np.float32) / np.float32(scale)
    if premultiplied:
        colour = np.clip(colour / np.maximum(alpha, 1e-6)[..., None], 0.0, 1.0)
    return [src, bgr, alpha, composite.composite(colour, alpha, back)]


def save_sheet(path: PathLike, sheet: np.ndarray, max_bytes: Optional[int] = None,
               quality: int = 90) -> Path:
    """Write a sheet as JPEG (``.jpg``/``.jpeg``) or PNG, atomically.

    A JPEG's quality is lowered in steps of 5 (not below 40) until it is at most
    ``max_bytes``; ``quality`` is where it starts.

    Returns:
        The path written.
    """
    path = Path(path)
    bgr = cv2.cvtColor(media.to_rgb8(sheet), cv2.COLOR_RGB2BGR)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        for q in range(quality, 39, -5):
            ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, q,
                                                  cv2.IMWRITE_JPEG_OPTIMIZE, 1])
            if max_bytes is None or len(data) <= max_bytes:
                break
    else:
        ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ValueError(f"cannot encode the sheet as {path.suffix or 'an image'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    media.atomic_write_bytes(path, data.tobytes())
    return path
