"""The comparison baselines: the difference key and the published single-plate alignment."""

import numpy as np
import pytest

from conftest import make_scene, translation, view
from howard.align import homography
from howard.eval import baselines


def textured(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    """A small uint8 RGB image of mid-grey values with mild noise."""
    rng = np.random.default_rng(seed)
    return rng.integers(100, 140, (h, w, 3)).astype(np.uint8)


class TestDifferenceKey:
    def test_identical_frame_and_plate_is_transparent(self):
        plate = textured()
        alpha = baselines.difference_key(plate, plate.copy())
        assert alpha.shape == plate.shape[:2] and alpha.dtype == np.float32
        assert np.all(alpha == 0.0)

    @pytest.mark.parametrize("blur", [0.0, 1.0])
    def test_opaque_square_keys_inside_only(self, blur):
        plate = textured()
        frame = plate.copy()
        frame[6:18, 10:22] = (250, 20, 20)
        alpha = baselines.difference_key(frame, plate, blur=blur)
        inside = np.zeros(alpha.shape, bool)
        inside[6:18, 10:22] = True
        core = np.zeros(alpha.shape, bool)
        core[8:16, 12:20] = True  # away from the edge the blur softens
        assert alpha[core].min() == pytest.approx(1.0)
        assert alpha[inside].mean() > (0.95 if blur == 0 else 0.8)
        far = np.ones(alpha.shape, bool)
        far[3:21, 7:25] = False  # more than the blur's reach from the square
        assert np.all(alpha[far] == 0.0)

    def test_small_hole_is_filled_and_speck_removed(self):
        plate = np.full((40, 40, 3), 120, np.uint8)
        frame = plate.copy()
        frame[5:30, 5:30] = 250
        frame[15, 15] = 120  # a one-pixel hole in the subject
        frame[36, 36] = 250  # a one-pixel speck in the background
        alpha = baselines.difference_key(frame, plate)
        assert alpha[15, 15] == 1.0
        assert alpha[36, 36] == 0.0

    def test_ramp_between_thresholds(self):
        plate = np.full((20, 20, 3), 100, np.uint8)
        frame = plate.copy()
        frame[:, :, 0] += 23  # 0.09 in 0-1 units: halfway between 0.06 and 0.12
        alpha = baselines.difference_key(frame, plate, low=0.06, high=0.12, blur=0)
        assert alpha.mean() == pytest.approx(0.5, abs=0.02)

    def test_bad_arguments(self):
        plate = textured()
        with pytest.raises(ValueError):
            baselines.difference_key(plate, plate[:10])
        with pytest.raises(ValueError):
            baselines.difference_key(plate, plate, low=0.2, high=0.1)


class TestPublishedAlign:
    def test_recovers_a_translation(self):
        scene = make_scene(600, 800)
        size = (360, 480)
        plate = view(scene, translation(-120, -100), size)
        frame = view(scene, translation(-120 + 9, -100 - 6), size)  # plate moved by (9, -6)
        bgr, H = baselines.published_align(plate, frame)
        assert H is not None
        assert homography.corner_error(H, translation(9, -6), size) < 1.0
        assert bgr.shape == frame.shape and bgr.dtype == np.uint8
        inner = (slice(20, -20), slice(20, -20))
        diff = np.abs(bgr[inner].astype(int) - frame[inner].astype(int))
        assert np.median(diff) <= 3

    def test_featureless_images_return_the_plate(self):
        plate = np.full((60, 80, 3), 90, np.uint8)
        frame = np.full((60, 80, 3), 200, np.uint8)
        bgr, H = baselines.published_align(plate, frame)
        assert H is None
        assert np.array_equal(bgr, plate)
