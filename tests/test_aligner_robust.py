"""The aligner never raises on plates that do not match the frame: every way of finding no
homography is a recorded fallback with a finite 3x3 ``H``."""

import json

import numpy as np
import pytest
from skimage import data

from howard.align.aligner import PlateAligner
from howard.io import media


class ListSource(media.FrameSource):
    kind = "video"

    def __init__(self, frames):
        super().__init__("memory", frames[0].shape[:2], 24.0, len(frames))
        self.list = frames

    def count(self):
        return len(self.list)

    def frames(self, start=0):
        for i in range(start, len(self.list)):
            yield i, self.list[i]


def _photo(name, size):
    import cv2
    img = getattr(data, name)()
    img = img if img.ndim == 3 else np.repeat(img[..., None], 3, 2)
    return np.ascontiguousarray(cv2.resize(img[..., :3], (size[1], size[0])))


def _image(rng, kind, size):
    h, w = size
    if kind == "black":
        return np.zeros((h, w, 3), np.uint8)
    if kind == "flat":
        return np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8)
    if kind == "noise":
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if kind == "stripes":
        img = np.zeros((h, w, 3), np.uint8)
        img[:, ::4] = 255  # repetitive: matches everywhere and nowhere
        return img
    return _photo(kind, size)


KINDS = ["black", "flat", "noise", "stripes", "astronaut", "coffee", "chelsea", "rocket"]


def _check(a):
    rec = json.loads(json.dumps(a.to_json(), allow_nan=False))
    H = np.asarray(rec["H"], float)
    assert H.shape == (3, 3) and np.isfinite(H).all()
    assert a.bgr.shape[2] == 3 and np.isfinite(a.bgr.astype(float)).all()
    return rec


@pytest.mark.parametrize("seed", range(6))
def test_unrelated_and_degenerate_pairs_never_raise(seed):
    rng = np.random.default_rng(seed)
    size = [(36, 64), (90, 160), (180, 320)][seed % 3]
    plate_kind, frame_kind = rng.choice(KINDS, 2)
    plate = [_image(rng, plate_kind, size) for _ in range(4)]
    aligner = PlateAligner(ListSource(plate), size, n_subject=5, window=2)
    try:
        for t in range(5):
            src = _image(rng, frame_kind if t != 2 else "black", size)
            pha = None if t == 0 else rng.random(size).astype(np.float32) * (t % 2)
            _check(aligner.align(t, src, pha))
    finally:
        aligner.close()


def test_subject_covering_the_whole_frame_is_a_fallback():
    """Nothing of the background in view: no residual can be judged, no ECC track either."""
    size = (90, 160)
    plate = [_photo("coffee", size)] * 3
    aligner = PlateAligner(ListSource(plate), size, n_subject=3)
    try:
        for t in range(3):
            a = aligner.align(t, _photo("astronaut", size), np.ones(size, np.float32))
            rec = _check(a)
            assert rec["fallback"]
    finally:
        aligner.close()


def test_plate_of_another_aspect_cropped():
    size = (90, 160)
    plate = [_photo("astronaut", (120, 120))] * 3
    aligner = PlateAligner(ListSource(plate), size, n_subject=3, plate_fit="crop")
    try:
        for t in range(3):
            _check(aligner.align(t, _photo("coffee", size)))
    finally:
        aligner.close()


def test_matte_with_a_plate_of_another_place_runs_to_the_end(tmp_path):
    """The repro of a wrong plate picked from the same folder: exit 0, one RGBA per frame."""
    import cv2
    from click.testing import CliRunner

    from howard.cli import main
    from howard.synth.clips import make_clip

    def photo_bg(name):
        img = _photo(name, (360, 640)).astype(np.float32) / 255
        return lambda rng, size: cv2.resize(img, (size[1], size[0]))

    make_clip(tmp_path / "a", 5, (180, 320), 10, plate_ratio=1.3, write_gt=False,
              background_fn=photo_bg("astronaut"))
    make_clip(tmp_path / "b", 6, (180, 320), 10, plate_ratio=1.3, write_gt=False,
              background_fn=photo_bg("coffee"))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["matte", str(tmp_path / "a" / "subject.mp4"),
                                    str(tmp_path / "b" / "plate.mp4"), str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert len(list((out / "rgba").glob("*.png"))) == 10
    lines = (out / "alignment.jsonl").read_text().splitlines()
    assert len(lines) == 10
    for line in lines:
        assert np.isfinite(np.asarray(json.loads(line)["H"], float)).all()
