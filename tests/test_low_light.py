"""Low light: dark or flat frames are contrast-normalised before detection, and the inliers a
homography needs scale with the frame's height."""

import numpy as np
import pytest

from conftest import known_homography, make_scene, paste_blob, translation, view
from howard.align import aligner as plate
from howard.align import features, homography
from test_plate import ListSource

SIZE = (360, 640)


@pytest.fixture(scope="module")
def night():
    """A plate frame and a subject frame (a blob for the subject) of a scene at a tenth of its
    brightness with sensor noise (sigma 1 level): 76 ORB corners without normalisation."""
    scene = make_scene()
    rng = np.random.default_rng(0)
    H = known_homography(0, SIZE)
    crop = translation(-300, -200)

    def dark(im):
        return np.clip(im * 0.1 + rng.normal(0, 1.0, im.shape), 0, 255).astype(np.uint8)

    src, blob = paste_blob(dark(view(scene, H @ crop, SIZE).astype(np.float32)), 0.25, 0)
    return dark(view(scene, crop, SIZE).astype(np.float32)), src, blob, H


class TestNormaliseContrast:
    def test_normal_contrast_unchanged(self):
        grey = (np.indices((64, 64)).sum(0) * 2).astype(np.uint8)  # spans 0-252
        assert features.normalise_contrast(grey) is grey

    def test_dark_image_stretched(self, night):
        grey = night[0][..., 1]
        out = features.normalise_contrast(grey)
        spread = np.percentile(out, 99) - np.percentile(out, 1)
        assert spread > 2 * (np.percentile(grey, 99) - np.percentile(grey, 1))
        assert out.shape == grey.shape and out.dtype == np.uint8

    def test_judged_on_the_background(self):
        """A bright subject in a dark frame does not hide the darkness of the background."""
        grey = np.full((64, 64), 10, np.uint8)
        grey[::2, ::2] = 14
        grey[:, :32] = np.tile([0, 255], (64, 16))  # the lit subject
        keep = np.zeros_like(grey)
        keep[:, 32:] = 1
        assert features.normalise_contrast(grey) is grey
        assert features.normalise_contrast(grey, keep) is not grey

    def test_degenerate(self):
        for grey in (np.zeros((1, 1), np.uint8), np.zeros((40, 40), np.uint8),
                     np.full((9, 300), 7, np.uint8)):
            assert features.normalise_contrast(grey).shape == grey.shape
        assert features.normalise_contrast(np.zeros((40, 40), np.uint8),
                                           np.zeros((40, 40), bool)).shape == (40, 40)


def test_dark_frame_aligns(night, monkeypatch):
    """The night pair aligns by features within 1 px mean corner error; without normalisation
    the features find nothing (only ECC alone, where it runs, can still save the frame)."""
    plate_frame, src, blob, true = night
    assert len(features.detect(plate_frame, normalise=False)) < 150
    assert len(features.detect(plate_frame)) > 1000
    for refine in (False, True):
        got = plate.PlateAligner(ListSource([plate_frame]), SIZE, n_subject=1,
                                 refine=refine).choose(0, src, blob)
        assert not got.fallback and got.inliers >= 30, got.reason
        assert "ECC alone" not in got.reason
        assert homography.corner_error(got.H, true, SIZE) < 1.0

    detect = homography.detect
    monkeypatch.setattr(homography, "detect",
                        lambda image, **kw: detect(image, normalise=False, **kw))
    old = plate.PlateAligner(ListSource([plate_frame]), SIZE, n_subject=1,
                             refine=False).choose(0, src, blob)
    assert old.fallback and old.inliers == 0


def test_min_inliers_scale_with_height():
    assert plate.scaled_min_inliers((360, 640)) == 30
    assert plate.scaled_min_inliers((1080, 1920)) == 30
    assert plate.scaled_min_inliers((160, 284)) == 13
    assert plate.scaled_min_inliers((16, 16)) == 12
    scene = np.zeros((200, 300, 3), np.uint8)
    a = plate.PlateAligner(ListSource([scene[:160, :284]]), (160, 284))
    assert a.min_inliers == 13
    assert plate.PlateAligner(ListSource([scene[:160, :284]]), (160, 284),
                              min_inliers=30).min_inliers == 30
