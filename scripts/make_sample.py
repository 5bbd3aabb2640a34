"""Write the small sample clip pair in data/: a handheld subject clip and its clean plate.

    python scripts/make_sample.py                    # data/subject.mp4, data/plate.mp4, README
    python scripts/make_sample.py --gt out/sample    # also the truth (gt/, meta.json) there

The clips come from howard.synth.clips (3 s at 24 fps, 960x540, plate 20% longer). The scene is the
public-domain SpaceX launch photo bundled with scikit-image (``skimage.data.rocket()``); the
person is drawn by howard.synth.samples.person.
"""

import argparse
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Tuple

import cv2
import numpy as np
from skimage import data

from howard.synth.clips import make_clip

SEED, FRAMES, SIZE, FPS, CRF = 1, 72, (540, 960), 24, 20

README = """# Sample clips

`subject.mp4` (a person in front of a scene, handheld camera, {n_subject} frames) and
`plate.mp4` (the same scene without the person, a second handheld take of {n_plate} frames with
a different exposure and white balance), {w}x{h} at {fps:g} fps, H.264 (x264 crf {crf}).

Both are synthetic, made by `python scripts/make_sample.py` (seed {seed}) with
`howard.synth.clips.make_clip`: a planar scene filmed by two simulated handheld cameras (smooth random
rotation, shift, zoom and slight perspective), sensor noise added to both clips. Run
`python scripts/make_sample.py --gt DIR` to write the exact ground truth (alpha, foreground,
background per frame and the true plate -> subject homographies in `meta.json`) into DIR.

Image sources, all from the sample data shipped with scikit-image:

* scene: `skimage.data.rocket()`, the launch of DSCOVR on a Falcon 9, photographed by SpaceX
  and released into the public domain;
* person: a procedural figure drawn by `howard.synth.samples.person`; its clothing may be textured with
  a crop of another scikit-image sample image.
"""


def rocket_scene(rng: np.random.Generator, size: Tuple[int, int]) -> np.ndarray:
    """A random crop of ``skimage.data.rocket()`` covering ``size`` (h, w).

    Returns:
        float32 (h, w, 3) RGB in [0, 1].
    """
    photo = data.rocket().astype(np.float32) / 255.0
    h, w = size
    s = 1.05 * max(h / photo.shape[0], w / photo.shape[1])
    big = cv2.resize(photo, (math.ceil(photo.shape[1] * s), math.ceil(photo.shape[0] * s)),
                     interpolation=cv2.INTER_CUBIC)
    y = int(rng.integers(0, big.shape[0] - h + 1))
    x = int(rng.integers(0, big.shape[1] - w + 1))
    return np.clip(big[y:y + h, x:x + w], 0.0, 1.0)


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("data"), help="folder for the two videos")
    p.add_argument("--gt", type=Path, default=None,
                   help="also write the ground truth (gt/, meta.json, copies of the videos) here")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--crf", type=int, default=CRF, help="x264 quality (default %(default)s)")
    args = p.parse_args(argv)

    start = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.gt if args.gt is not None else Path(tmp)
        meta = make_clip(work, args.seed, size=SIZE, n_frames=FRAMES, fps=FPS, crf=args.crf,
                         write_gt=args.gt is not None, background_fn=rocket_scene)
        for name in ("subject.mp4", "plate.mp4"):
            shutil.copyfile(work / name, args.out / name)
    h, w = SIZE
    text = README.format(n_subject=meta["n_subject"], n_plate=meta["n_plate"], w=w, h=h,
                         fps=FPS, crf=args.crf, seed=args.seed)
    (args.out / "README.md").write_text(text)
    for name in ("subject.mp4", "plate.mp4", "README.md"):
        print(f"{args.out / name}: {(args.out / name).stat().st_size / 1e6:.2f} MB")
    if args.gt is not None:
        print(f"{args.gt}: ground truth (gt/, meta.json)")
    print(f"done in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
