"""Whole-plate search: the global descriptor, the plate index, and plates walked another way.

The plate clips slide a window over the photo mosaic of conftest (30 px a frame to the
right); the subject is the same walk with an occluder pasted on, so the true plate frame of a
subject frame is known exactly.
"""

import numpy as np
import pytest

from conftest import paste_blob
from howard.align import homography, search
from howard.align import aligner as plate
from test_plate import ListSource

SIZE = (180, 320)


def walk(scene, n, step=30, y=200):
    """``n`` frames of SIZE sliding ``step`` px a frame to the right over ``scene``."""
    return [np.ascontiguousarray(scene[y:y + SIZE[0], 100 + step * k:100 + step * k + SIZE[1]])
            for k in range(n)]


class TestDescriptor:
    def test_smoke(self, scene):
        d, w = search.descriptor(scene[:360, :640], SIZE)
        th, tw = search.thumb_size(SIZE)
        assert d.shape == w.shape == (th * tw,) and d.dtype == np.float32
        assert (th, tw) == (18, 32) and np.all(w == 1)
        assert abs(float(d.mean())) < 1e-4 and abs(float(d.std()) - 1) < 1e-3

    def test_exposure_ignored(self, scene):
        image = scene[:180, :320]
        darker = np.clip(image * 0.6 + 20, 0, 255).astype(np.uint8)
        a, _ = search.descriptor(image, SIZE)
        b, _ = search.descriptor(darker, SIZE)
        assert np.abs(a - b).max() < 0.05  # rounding to uint8 only

    def test_degenerate(self):
        flat = np.full(SIZE + (3,), 77, np.uint8)
        d, w = search.descriptor(flat, SIZE)
        assert np.all(d == 0) and np.isfinite(d).all()
        d, w = search.descriptor(flat, SIZE, keep=np.zeros(SIZE, bool))
        assert np.all(w == 0) and np.all(d == 0)


class TestPlateIndex:
    def test_finds_the_true_frame_and_is_deterministic(self, scene):
        frames = walk(scene, 30)
        index = search.PlateIndex(ListSource(frames), SIZE)
        assert len(index) == 30 and index.table.dtype == np.float16
        for true in (0, 11, 29):
            subject, blob = paste_blob(frames[true], 0.2, seed=true)
            dist = index.distances(subject, ~blob)
            assert int(np.argmin(dist)) == true
            # any other frame is clearly further (the gate compares 1.25 x best + 0.03)
            assert np.partition(dist, 1)[1] > 1.25 * dist.min() + 0.03
        again = search.PlateIndex(ListSource(frames), SIZE)
        np.testing.assert_array_equal(again.table, index.table)

    def test_long_plate_strided(self, scene, monkeypatch):
        monkeypatch.setattr(search, "MAX_ENTRIES", 8)
        index = search.PlateIndex(ListSource(walk(scene, 30)), SIZE)
        assert index.stride == 4 and index.indices.tolist() == [0, 4, 8, 12, 16, 20, 24, 28]


def _run(plates, subjects, **kw):
    aligner = plate.PlateAligner(ListSource(plates), SIZE, n_subject=len(subjects), **kw)
    out, mask = [], None
    for t, (src, blob) in enumerate(subjects):
        out.append(aligner.align(t, src, mask))
        mask = blob
    return aligner, out


@pytest.mark.parametrize("order", ["reversed", "faster", "offset"])
def test_plate_walked_another_way_aligns(scene, order):
    """Time mapping points at the wrong part of the walk; the search finds the right one
    and tracking follows it: no fallback, and every H within 1 px of the truth."""
    n = 12
    plates = walk(scene, 30)
    true = {"reversed": [29 - 2 * t for t in range(n)],  # 30 plate frames, walked back
            "faster": [min(29, 2 * t) for t in range(n)],
            "offset": [12 + t for t in range(n)]}[order]
    subjects = [paste_blob(plates[j], 0.15, seed=t) for t, j in enumerate(true)]
    aligner, got = _run(plates, subjects)
    for t, a in enumerate(got):
        assert not a.fallback, (t, a.reason)
        # plate frame j is 30 (j - true) px right of the subject's view
        shift = np.array([[1, 0, 30.0 * (a.plate_index - true[t])], [0, 1, 0], [0, 0, 1]])
        assert homography.corner_error(a.H, shift, SIZE) < 1.0, (t, a.plate_index, true[t])
    assert aligner.search.searches >= 1


def test_search_is_deterministic(scene):
    plates = walk(scene, 30)
    subjects = [paste_blob(plates[29 - 2 * t], 0.15, seed=t) for t in range(4)]
    runs = [[a.to_json() for a in _run(plates, subjects)[1]] for _ in range(2)]
    assert runs[0] == runs[1]
    # a resumed run continues as the whole run did
    aligner = plate.PlateAligner(ListSource(plates), SIZE, n_subject=4)
    aligner.restore(runs[0][1], runs[0][0])
    again = [aligner.align(t, subjects[t][0], subjects[t - 1][1]).to_json() for t in (2, 3)]
    assert again == runs[0][2:]


def test_matching_plate_searches_nothing(scene):
    """A plate walked as the shot was: the usual window is kept, no search."""
    plates = walk(scene, 12)
    subjects = [paste_blob(plates[t], 0.15, seed=t) for t in range(12)]
    aligner, got = _run(plates, subjects)
    assert aligner.search.searches == 0
    assert all(abs(a.plate_index - t) <= 1 and not a.fallback for t, a in enumerate(got))
