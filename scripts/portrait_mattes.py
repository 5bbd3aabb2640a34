"""Cut people out of ordinary photos for training: RGBA foregrounds with a soft, hair-aware alpha.

    python scripts/portrait_mattes.py PHOTOS_DIR OUT_DIR [--size 640] [--sheet sheet.jpg]

For each photo: a person segmentation (MediaPipe's selfie segmentation, Apache-2.0, from the
``mediapipe`` wheel) gives a rough mask; a trimap is drawn around its edge (a wider unknown band
on the upper half, where hair is); closed-form matting (pymatting, MIT) solves the alpha inside the
band; pymatting's multilevel foreground estimation recovers the foreground colour there, free of the
photo's own background. Each result is written as ``OUT_DIR/NAME.png`` (RGBA, straight colour),
the layout ``scripts/train.py --fg-dirs`` reads.

MediaPipe pins older numpy and protobuf, so run this in an environment of its own::

    python -m venv /tmp/mattes && /tmp/mattes/bin/pip install mediapipe==0.10.21 pymatting
    /tmp/mattes/bin/python scripts/portrait_mattes.py ../shared/data/portraits runs/portrait-mattes

Photos whose mask covers too little or too much of the frame (no clear person) are skipped with a
line saying so. Existing outputs are kept unless ``--force``.
"""

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

_IMAGES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def trimap(mask: np.ndarray, band: float) -> np.ndarray:
    """(h, w) float trimap (0 background, 0.5 unknown, 1 foreground) around a rough [0, 1] mask.

    The unknown band is ``band`` of the shorter side wide on each side of the mask's edge, 1.6x
    that on the upper half of the subject (hair), and covers the mask's own soft ramp."""
    h, w = mask.shape
    hard = (mask > 0.5).astype(np.uint8)
    r = max(2, int(round(band * min(h, w))))
    rows = np.flatnonzero(hard.any(axis=1))
    top = rows[0] if rows.size else 0
    mid = int((top + h) / 2)

    def disc(radius):
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)

    fg = cv2.erode(hard, disc(r), borderType=cv2.BORDER_REPLICATE).astype(bool)
    bg = ~cv2.dilate(hard, disc(r), borderType=cv2.BORDER_REPLICATE).astype(bool)
    wide = int(r * 1.6)
    fg_wide = cv2.erode(hard, disc(wide), borderType=cv2.BORDER_REPLICATE).astype(bool)
    bg_wide = ~cv2.dilate(hard, disc(wide), borderType=cv2.BORDER_REPLICATE).astype(bool)
    fg[:mid] = fg_wide[:mid]
    bg[:mid] = bg_wide[:mid]
    fg &= mask > 0.9
    bg &= mask < 0.1
    out = np.full((h, w), 0.5, np.float64)
    out[fg] = 1.0
    out[bg] = 0.0
    return out


def matte(photo: np.ndarray, mask: np.ndarray, band: float):
    """Straight foreground (h, w, 3) and alpha (h, w), float64 in [0, 1], of an RGB photo."""
    from pymatting import estimate_alpha_cf, estimate_foreground_ml
    tri = trimap(mask, band)
    alpha = np.clip(estimate_alpha_cf(photo, tri), 0, 1)
    fgr = np.clip(estimate_foreground_ml(photo, alpha), 0, 1)
    return fgr, alpha


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with background regions that do not reach the photo's border set to 1 (a
    segmentation often leaves dark glasses or a shadowed collar as holes in the person)."""
    out = mask.copy()
    background = (mask <= 0.5).astype(np.uint8)
    n, labels = cv2.connectedComponents(background, connectivity=4)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    holes = (labels > 0) & ~np.isin(labels, edge)
    out[holes] = 1.0
    return out


def segment(segmenter, photo_u8: np.ndarray) -> np.ndarray:
    """MediaPipe's person mask of an RGB uint8 photo, float in [0, 1] at the photo's size, its
    enclosed holes filled."""
    mask = segmenter.process(photo_u8).segmentation_mask.astype(np.float64)
    return fill_holes(np.clip(mask, 0, 1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("photos", type=Path, help="folder of photos of people")
    p.add_argument("out", type=Path, help="folder for the RGBA cut-outs")
    p.add_argument("--size", type=int, default=640, help="longer side the photos are matted at")
    p.add_argument("--band", type=float, default=0.03,
                   help="half-width of the unknown band, as a share of the shorter side")
    p.add_argument("--sheet", type=Path, help="also write a contact sheet (alpha | composite)")
    p.add_argument("--force", action="store_true", help="redo photos that already have output")
    args = p.parse_args(argv)
    try:
        import mediapipe as mp
        import pymatting  # noqa: F401
    except ImportError as exc:
        print(f"portrait_mattes: needs mediapipe and pymatting ({exc}); see this script's help",
              file=sys.stderr)
        return 2
    if not args.photos.is_dir():
        print(f"portrait_mattes: {args.photos} is not a folder", file=sys.stderr)
        return 2
    files = sorted(f for f in args.photos.iterdir() if f.suffix.lower() in _IMAGES)
    if not files:
        print(f"portrait_mattes: no photos in {args.photos}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    tiles = []
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        for n, f in enumerate(files, 1):
            target = args.out / (f.stem + ".png")
            if target.exists() and not args.force:
                print(f"[{n}/{len(files)}] {f.name}: kept {target}")
                continue
            bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if bgr is None:
                print(f"[{n}/{len(files)}] {f.name}: unreadable, skipped")
                continue
            s = args.size / max(bgr.shape[:2])
            if s < 1:
                bgr = cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            rgb = np.ascontiguousarray(bgr[:, :, ::-1])
            mask = segment(seg, rgb)
            cover = float((mask > 0.5).mean())
            if not 0.05 < cover < 0.9:
                print(f"[{n}/{len(files)}] {f.name}: no clear person (mask covers "
                      f"{cover:.0%}), skipped")
                continue
            t = time.time()
            fgr, alpha = matte(rgb.astype(np.float64) / 255, mask, args.band)
            rgba = np.dstack([fgr[:, :, ::-1], alpha])
            cv2.imwrite(str(target), np.round(rgba * 255).astype(np.uint8))
            print(f"[{n}/{len(files)}] {f.name}: alpha mean {alpha.mean():.3f}, "
                  f"fractional {(np.abs(alpha - 0.5) < 0.45).mean():.1%} "
                  f"({time.time() - t:.1f} s)", flush=True)
            if args.sheet and len(tiles) < 12:
                check = np.zeros_like(fgr)
                check[(np.indices(alpha.shape).sum(0) // 16) % 2 == 0] = 0.8
                comp = fgr * alpha[..., None] + check * (1 - alpha[..., None])
                tile = np.hstack([np.repeat(alpha[..., None], 3, 2), comp])
                tiles.append(cv2.resize(tile, (512, 256), interpolation=cv2.INTER_AREA))
    if args.sheet and tiles:
        rows = [np.hstack(tiles[i:i + 3] + [np.zeros_like(tiles[0])] * (3 - len(tiles[i:i + 3])))
                for i in range(0, len(tiles), 3)]
        cv2.imwrite(str(args.sheet), np.round(np.vstack(rows)[:, :, ::-1] * 255).astype(np.uint8))
    return 0


if __name__ == "__main__":
    sys.exit(main())
