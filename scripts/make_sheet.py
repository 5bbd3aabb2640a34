"""Draw the README's contact sheet: frames, aligned plates, alphas and composites.

    python scripts/make_sheet.py                  # howard on 3 frames of data/ -> data/sheet.jpg
    python scripts/make_sheet.py --out out/       # rows from an existing howard output
    python scripts/make_sheet.py --pair FG.jpg BG.jpg --save pair.jpg  # a photo + clean plate

Default mode: picks ``--rows`` subject frames spread over the sample clip, writes them and the
time-mapped plate frame of each as two short image sequences, and runs ``howard.matte`` on those
(outputs ``rgba,bgr``); the first frames of a run have no earlier alpha to keep plate features
off the subject, so the alignment here is a little harder than in a full run. With ``--out``,
the rows come from a finished ``howard matte ... --outputs rgba,bgr`` folder instead. Columns:
subject frame, aligned plate, alpha, composite over ``--background``.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

import cv2
import numpy as np
from skimage import data as skdata

import howard
from howard.io import composite, media
from howard.eval import sheet
from howard.errors import HowardError
from howard.io.outputs import OutputFolder

TITLES = ["subject frame", "aligned clean plate", "alpha", "composite"]


def new_background(spec: Optional[str], size) -> np.ndarray:
    """HxWx3 uint8 RGB: ``spec`` (colour or image, see ``--background``) or the coffee photo."""
    if spec is None:
        return composite.cover(skdata.coffee(), size)
    for _, frame in composite.parse_background(spec, size, 1):
        return frame
    raise HowardError(f"background {spec!r} gave no image")


def spread(n: int, rows: int) -> List[int]:
    """``rows`` frame indices spread evenly over ``n`` frames, away from both ends."""
    return sorted({int(i) for i in np.linspace(0, n - 1, rows + 2)[1:-1].round()})


def run_picked(subject: str, plate: str, picks: List[int], work: Path, args) -> Path:
    """Matte the ``picks`` frames of ``subject`` against their time-mapped plate frames."""
    sub, pla = media.open_source(subject), media.open_source(plate)
    n_sub, n_pla = sub.count(), pla.count()
    for folder in ("subject", "plate"):
        (work / folder).mkdir(parents=True)
    wanted = {t: k for k, t in enumerate(picks)}
    for t, frame in sub.frames():
        if t in wanted:
            media.write_png(work / "subject" / f"{wanted[t]:05d}.png", frame)
    plate_of: dict = {}
    for k, t in enumerate(picks):
        plate_of.setdefault(t * n_pla // n_sub, []).append(k)
    for j, frame in pla.frames():
        for k in plate_of.get(j, []):
            media.write_png(work / "plate" / f"{k:05d}.png", frame)
    out = work / "out"
    howard.matte(str(work / "subject"), str(work / "plate"), str(out), weights=args.weights,
                 device=args.device, outputs="rgba,bgr", progress=False, threads=args.threads)
    return out


def rows_from(out: Path, subject: str, frames: Optional[List[int]], n_rows: int,
              background: Optional[str]) -> Tuple[List[list], List[str]]:
    """Sheet rows and their captions from a howard output folder and its subject clip.

    Args:
        out: the output folder (``rgba/`` needed, ``bgr/`` shown when present).
        subject: the subject clip the folder was made from.
        frames: subject frame indices to show; None for ``n_rows`` spread over the clip.
        background: see ``--background``.
    """
    record = json.loads((out / "howard.json").read_text())
    settings = record.get("settings", {})
    folder = OutputFolder(out, ("rgba", "bgr"), settings.get("name_template", "%05d.png"),
                          settings.get("start_number", 0))
    n = int(record.get("inputs", {}).get("subject_frames") or media.open_source(subject).count())
    frames = frames if frames is not None else spread(n, n_rows)
    rows, captions, back = [], [], None
    for t, src in media.open_source(subject).frames():
        if t not in frames:
            continue
        rgba = read_rgba(folder.path("rgba", t))
        back = new_background(background, src.shape[:2]) if back is None else back
        bgr_path = folder.path("bgr", t)
        bgr = media.read_image(bgr_path) if bgr_path.is_file() else np.full_like(src, 255)
        rows.append(sheet.matte_row(src, bgr, rgba, back, settings.get("premultiply", False)))
        captions.append(f"frame {t}")
    return rows, captions


def read_rgba(path: Path) -> np.ndarray:
    """An RGBA PNG as written by howard (8 or 16 bit), channels in RGBA order."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 3 or image.shape[2] != 4:
        raise HowardError(f"cannot read an RGBA image from {str(path)!r}")
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--subject", default="data/subject.mp4", help="subject clip (data/subject.mp4)")
    p.add_argument("--plate", default="data/plate.mp4", help="clean plate clip (data/plate.mp4)")
    p.add_argument("--out", type=Path, help="read this finished howard output instead of running")
    p.add_argument("--pair", nargs=2, metavar=("FG", "BG"),
                   help="one photo and its clean plate instead of the clips (needs --save)")
    p.add_argument("--save", type=Path, help="sheet path, .jpg or .png (default data/sheet.jpg)")
    p.add_argument("--rows", type=int, default=3, help="frames shown (default 3)")
    p.add_argument("--frames", help="comma list of subject frames to show (default: spread)")
    p.add_argument("--background", help="composite over this colour (white, #00b140) or image "
                   "(default: scikit-image's coffee photo)")
    p.add_argument("--weights", help="checkpoint (default: the shipped weights)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default cpu)")
    p.add_argument("--threads", type=int, help="network threads on CPU")
    p.add_argument("--width", type=int, default=1200, help="sheet width in px (default 1200)")
    p.add_argument("--max-kb", type=int, default=250, help="JPEG size limit in KB (default 250)")
    args = p.parse_args(argv)
    if args.pair and args.save is None:
        p.error("--pair needs --save PATH (data/sheet.jpg is the sample's sheet)")
    save = args.save or Path("data/sheet.jpg")
    frames = [int(f) for f in args.frames.split(",")] if args.frames else None
    try:
        with tempfile.TemporaryDirectory(prefix="howard-sheet-") as tmp:
            if args.pair:
                out = Path(tmp) / "out"
                howard.matte(args.pair[0], args.pair[1], str(out), weights=args.weights,
                             device=args.device, outputs="rgba,bgr", progress=False,
                             threads=args.threads)
                rows, _ = rows_from(out, args.pair[0], [0], 1, args.background)
                captions = None
            elif args.out is not None:
                rows, captions = rows_from(args.out, args.subject, frames, args.rows,
                                           args.background)
            else:
                n = media.open_source(args.subject).count()
                picks = frames if frames is not None else spread(n, args.rows)
                out = run_picked(args.subject, args.plate, picks, Path(tmp), args)
                rows, _ = rows_from(out, str(Path(tmp) / "subject"), list(range(len(picks))),
                                    len(picks), args.background)
                captions = [f"frame {t}" for t in picks]
    except HowardError as e:
        print(f"make_sheet: error: {e}", file=sys.stderr)
        return 2
    if not rows:
        p.error("no frames to show; check --frames against the clip length")
    titles = ["photo"] + TITLES[1:] if args.pair else TITLES
    image = sheet.draw_sheet(rows, titles, width=args.width, captions=captions)
    path = sheet.save_sheet(save, image, max_bytes=args.max_kb * 1000)
    print(f"wrote {path} ({image.shape[1]}x{image.shape[0]}, {path.stat().st_size // 1000} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
