"""Foregrounds and backgrounds from folders of images, in the usual matting-dataset layouts:
RGBA cut-outs, or ``fgr/`` and ``pha/`` folders of matching names; any images as backgrounds.
"""

import os
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np


_IMAGES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"cannot read image {path}")
    scale = 65535.0 if img.dtype == np.uint16 else 255.0
    img = img.astype(np.float32) / scale
    if img.ndim == 2:
        return img
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)


def _listing(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGES)


class FolderForegrounds:
    """Foregrounds from folders: ``fgr/`` + ``pha/`` with matching names, or RGBA images."""

    def __init__(self, dirs: Sequence[os.PathLike]):
        self.items: List[Tuple[Path, Optional[Path]]] = []
        for d in map(Path, dirs):
            if (d / "fgr").is_dir() and (d / "pha").is_dir():
                phas = {p.stem: p for p in _listing(d / "pha")}
                self.items += [(f, phas[f.stem]) for f in _listing(d / "fgr") if f.stem in phas]
            else:
                self.items += [(f, None) for f in _listing(d)]
        if not self.items:
            raise ValueError(f"no foregrounds found in {list(map(str, dirs))}")

    def __call__(self, rng: np.random.Generator, size: Tuple[int, int]):
        f, p = self.items[rng.integers(len(self.items))]
        img = _read(f)
        if p is None:
            if img.ndim != 3 or img.shape[2] != 4:
                raise ValueError(f"{f} has no alpha channel")
            fgr, pha = img[..., :3], img[..., 3]
        else:
            fgr, pha = img[..., :3], _read(p)
            pha = pha if pha.ndim == 2 else pha[..., 0]
        # Fit the whole foreground into the frame, keeping its aspect.
        h, w = size
        s = min(h / fgr.shape[0], w / fgr.shape[1])
        nh, nw = max(1, int(fgr.shape[0] * s)), max(1, int(fgr.shape[1] * s))
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        out_f, out_p = np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)
        y, x = h - nh, (w - nw) // 2
        out_f[y:, x:x + nw] = cv2.resize(fgr, (nw, nh), interpolation=interp)
        out_p[y:, x:x + nw] = cv2.resize(pha, (nw, nh), interpolation=interp)
        return out_f, out_p


class FolderBackgrounds:
    """Backgrounds from folders of images, randomly cropped to cover the size."""

    def __init__(self, dirs: Sequence[os.PathLike]):
        self.items = [p for d in map(Path, dirs) for p in _listing(d)]
        if not self.items:
            raise ValueError(f"no background images found in {list(map(str, dirs))}")

    def __call__(self, rng: np.random.Generator, size: Tuple[int, int]) -> np.ndarray:
        from .photos import random_view
        img = _read(self.items[rng.integers(len(self.items))])
        img = np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img[..., :3]
        return random_view(rng, img, size)
