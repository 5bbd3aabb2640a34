"""The aligner never raises on input it cannot align: every such frame is a recorded fallback.

Property-style: seeded random and adversarial plate/frame pairs (unrelated photographs, black,
white and single-colour frames, noise, tiny and thin frames, a plate of another aspect cut with
``plate_fit='crop'``, a subject mask covering everything). For each, :meth:`PlateAligner.align`
returns, its record is strict JSON (no NaN) with a finite 3x3 ``H``, and the rendered plate has
the frame's shape.
"""

import json

import cv2
import numpy as np
import pytest
from skimage import data

from howard.align import aligner as plate
from howard.errors import InputError
from test_plate import ListSource

PHOTOS = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
KINDS = ("photo", "black", "white", "colour", "noise", "gradient")
SIZES = [(360, 640), (120, 214), (16, 16), (18, 32), (2, 2), (1, 1), (8, 320), (320, 8)]


def _frame(rng: np.random.Generator, kind: str, size) -> np.ndarray:
    """An hxwx3 uint8 RGB frame of ``kind`` at ``size`` (h, w)."""
    h, w = size
    if kind == "photo":
        im = PHOTOS[rng.integers(len(PHOTOS))]
        y, x = rng.integers(0, 60, 2)
        return np.ascontiguousarray(cv2.resize(im[y:, x:], (w, h), interpolation=cv2.INTER_AREA))
    if kind == "black":
        return np.zeros((h, w, 3), np.uint8)
    if kind == "white":
        return np.full((h, w, 3), 255, np.uint8)
    if kind == "colour":
        return np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8)
    if kind == "noise":
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    ramp = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]  # smooth, no corners
    return np.broadcast_to(ramp, (h, w, 3)).astype(np.uint8).copy()


def _pha(rng: np.random.Generator, kind: str, size):
    h, w = size
    return {"none": None, "everything": np.ones(size, np.float32),
            "half": np.broadcast_to(np.arange(w) < w // 2, size).copy(),
            "random": rng.random(size).astype(np.float32),
            "uint8": np.full(size, 255, np.uint8)}[kind]


def _check(a: plate.Alignment, size) -> dict:
    rec = json.loads(json.dumps(a.to_json(), allow_nan=False))
    H = np.array(rec["H"], dtype=np.float64)
    assert H.shape == (3, 3) and np.isfinite(H).all()
    assert a.bgr.shape == size + (3,) and a.bgr.dtype == np.uint8
    assert a.valid.shape == size
    assert isinstance(rec["fallback"], bool) and isinstance(rec["reason"], str)
    if rec["fallback"]:
        assert rec["reason"] and rec["inliers"] == 0
    return rec


@pytest.mark.parametrize("seed", range(8))
def test_never_raises_on_random_and_adversarial_pairs(seed):
    """Seeded draws over sizes, frame kinds, masks, aspect and settings; 8 x 10 = 80 pairs."""
    rng = np.random.default_rng(1000 + seed)
    for trial in range(10):
        size = SIZES[rng.integers(len(SIZES))]
        if size == (360, 640) and rng.random() < 0.6:  # keep the test fast
            size = (90, 160)
        plate_kind, src_kind = rng.choice(KINDS), rng.choice(KINDS)
        other_aspect = rng.random() < 0.3
        psize = (size[0] * 2, size[1]) if other_aspect else size
        plates = [_frame(rng, plate_kind, psize) for _ in range(int(rng.integers(1, 4)))]
        n_subject = int(rng.integers(1, 4))
        aligner = plate.PlateAligner(
            ListSource(plates), size, n_subject=n_subject, plate_fit="crop",
            refine=bool(rng.random() < 0.8), window=int(rng.integers(0, 3)),
            features=str(rng.choice(["orb", "sift"])), smooth=float(rng.choice([0.0, 0.5])))
        for t in range(n_subject):
            src = _frame(rng, src_kind, size)
            pha = _pha(rng, rng.choice(["none", "everything", "half", "random", "uint8"]), size)
            _check(aligner.align(t, src, pha), size)


@pytest.mark.parametrize("plate_kind", ["black", "colour", "photo"])
def test_subject_covering_the_frame_falls_back(plate_kind):
    """A mask over the whole frame leaves no background to judge any homography by (the
    residual is infinite); ECC cannot run either. This used to end in ``None.tolist()``."""
    rng = np.random.default_rng(5)
    size = (90, 160)
    aligner = plate.PlateAligner(ListSource([_frame(rng, plate_kind, size)] * 2), size,
                                 n_subject=3)
    for t in range(3):
        a = aligner.align(t, _frame(rng, "photo", size), np.ones(size, np.float32))
        rec = _check(a, size)
        assert rec["fallback"] and rec["residual"] is None
        np.testing.assert_array_equal(a.H, np.eye(3))


def test_unrelated_photos_fall_back_to_the_last_good_homography():
    """A plate of one photo, frames of another: no candidate survives the checks, each frame
    is a fallback with its reasons, and the run goes on."""
    size = (180, 320)
    plates = [cv2.resize(data.coffee(), (320, 180))] * 3
    aligner = plate.PlateAligner(ListSource(plates), size, n_subject=3)
    for t in range(3):
        src = cv2.resize(np.ascontiguousarray(data.astronaut()[40 * t:]), (320, 180))
        rec = _check(aligner.align(t, src), size)
        assert rec["fallback"] and "no plate frame aligned" in rec["reason"]


def test_unusable_homography_is_replaced_by_the_identity():
    assert not plate._usable(None)
    assert not plate._usable(np.full((3, 3), np.nan))
    assert not plate._usable(np.zeros((3, 3)))
    assert not plate._usable(np.eye(2))
    assert plate._usable(np.eye(3))


def test_empty_plate_is_a_user_error():
    """A plate that turns out to hold no frame at all: one clear line, not an exception from
    deep inside (``min()`` of nothing)."""
    source = ListSource([np.zeros((90, 160, 3), np.uint8)])
    source.list = []  # counted one frame, decodes none
    aligner = plate.PlateAligner(source, (90, 160), n_subject=1, n_plate=1)
    with pytest.raises(InputError, match="no frame"):
        aligner.align(0, np.zeros((90, 160, 3), np.uint8))
