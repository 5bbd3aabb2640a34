"""Write synthetic handheld clip pairs with exact ground truth (see howard.synth.clips).

    python scripts/make_clips.py --out out/clips --clips 4 --frames 48 --size 540x960 --seed 0

Each ``clip_NNN`` folder gets ``subject.mp4``, ``plate.mp4``, ``meta.json`` (true plate frame
and plate -> subject homography per frame, plate exposure) and ``gt/{pha,fgr,bgr}/%05d.png``.
"""

import argparse
import logging
import re
import time
from pathlib import Path
from typing import List, Optional, Tuple

from howard.synth.clips import make_set


def parse_size(text: str) -> Tuple[int, int]:
    """``'540x960'`` (height x width) -> (540, 960)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"size must be HEIGHTxWIDTH such as 540x960, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="folder to write clip_000, ... into")
    p.add_argument("--clips", type=int, default=1, help="number of clips (default 1)")
    p.add_argument("--frames", type=int, default=24, help="subject frames per clip (default 24)")
    p.add_argument("--size", type=parse_size, default=(540, 960),
                   help="HEIGHTxWIDTH, both even (default 540x960)")
    p.add_argument("--seed", type=int, default=0, help="set seed; clip i uses seed*1000+i")
    p.add_argument("--fps", type=float, default=24.0)
    p.add_argument("--plate-ratio", type=float, default=1.2,
                   help="plate length / subject length (default 1.2)")
    p.add_argument("--crf", type=int, default=18, help="x264 quality, lower is better (18)")
    p.add_argument("--noise", type=float, default=0.01, help="sensor noise std, 0-1 units")
    p.add_argument("--shake", type=float, default=1.0, help="handheld motion multiplier")
    p.add_argument("--no-gt", action="store_true", help="write videos and meta.json only")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    start = time.time()
    metas = make_set(args.out, args.clips, args.seed, size=args.size, n_frames=args.frames,
                     plate_ratio=args.plate_ratio, fps=args.fps, crf=args.crf, noise=args.noise,
                     shake=args.shake, write_gt=not args.no_gt)
    for i, meta in enumerate(metas):
        folder = args.out / f"clip_{i:03d}"
        mb = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6
        print(f"{folder}: seed {meta['seed']}, {meta['n_subject']} subject + {meta['n_plate']} "
              f"plate frames of {meta['size'][1]}x{meta['size'][0]}, {mb:.1f} MB")
    print(f"wrote {len(metas)} clips in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
