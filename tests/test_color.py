"""Per-channel gain/bias: recovery of a known map, outliers, clamps, application."""

import cv2
import numpy as np
import pytest

from howard.align import color

GAIN = np.array([1.12, 0.93, 1.05])
BIAS = np.array([-0.03, 0.02, 0.0])  # full-scale units (x255: -7.65, 5.1, 0)


def exposed(plate: np.ndarray, gain=GAIN, bias=BIAS) -> np.ndarray:
    """``plate`` through a known exposure change, rounded to uint8 like a camera would."""
    out = plate.astype(np.float64) * gain + bias * 255.0
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def plate(scene):
    return np.ascontiguousarray(scene[100:460, 200:840])  # 360x640 photographic texture


class TestFit:
    def test_recovers_known(self, plate):
        gain, bias = color.fit_gain_bias(plate, exposed(plate))
        # uint8 rounding is the only noise: 0.5% in gain, half a level in bias
        np.testing.assert_allclose(gain, GAIN, atol=0.005)
        np.testing.assert_allclose(bias, BIAS, atol=0.5 / 255 + 0.002)

    def test_outliers(self, plate):
        src = exposed(plate)
        rng = np.random.default_rng(0)
        # a subject-like blob (a third of the pixels) that has nothing to do with the plate
        src[:, :210] = rng.integers(0, 256, src[:, :210].shape, dtype=np.uint8)
        gain, bias = color.fit_gain_bias(plate, src)
        np.testing.assert_allclose(gain, GAIN, atol=0.02)
        np.testing.assert_allclose(bias, BIAS, atol=0.01)

    def test_mask(self, plate):
        src = exposed(plate)
        src[:, :300] = 255 - src[:, :300]
        mask = np.zeros(plate.shape[:2], bool)
        mask[:, 300:] = True
        gain, bias = color.fit_gain_bias(plate, src, mask)
        np.testing.assert_allclose(gain, GAIN, atol=0.005)
        np.testing.assert_allclose(bias, BIAS, atol=0.004)

    def test_float_and_uint16_agree(self, plate):
        src = exposed(plate)
        g8, b8 = color.fit_gain_bias(plate, src)
        g16, b16 = color.fit_gain_bias(plate.astype(np.uint16) * 257, src.astype(np.uint16) * 257)
        gf, bf = color.fit_gain_bias(plate / 255.0, src / 255.0)
        np.testing.assert_allclose(g8, g16, atol=1e-4)
        np.testing.assert_allclose(b8, bf, atol=1e-4)

    def test_clamped(self, plate):
        gain, bias = color.fit_gain_bias(plate, 255 - plate)  # a negative gain would fit
        assert (gain >= color.GAIN_RANGE[0]).all() and (gain <= color.GAIN_RANGE[1]).all()
        assert (np.abs(bias) <= color.BIAS_RANGE[1] + 1e-6).all()

    def test_clamped_slope(self, plate):
        gain, bias = color.fit_gain_bias(plate, (plate * 0.3).astype(np.uint8))
        np.testing.assert_allclose(gain, color.GAIN_RANGE[0])  # 0.3 would fit

    def test_misaligned_plate_gets_an_offset_only(self):
        # an even texture seen 40 px off: pixel pairs do not correspond, so a least-squares
        # slope would be near 0 and flatten the plate to grey; the levels still match
        rng = np.random.default_rng(1)
        texture = cv2.GaussianBlur(rng.uniform(40, 215, (300, 400, 3)), (0, 0), 3)
        texture = np.round(texture).astype(np.uint8)
        src = exposed(np.roll(texture, 40, axis=1), gain=1.0, bias=np.array([0.05, -0.04, 0.0]))
        gain, bias = color.fit_gain_bias(texture, src)
        np.testing.assert_array_equal(gain, 1.0)
        np.testing.assert_allclose(bias, [0.05, -0.04, 0.0], atol=0.01)

    def test_flat_plate(self, plate):
        flat = np.full_like(plate, 100)
        gain, bias = color.fit_gain_bias(flat, np.full_like(plate, 120))
        np.testing.assert_allclose(gain, 1.0)
        np.testing.assert_allclose(bias, 20 / 255, atol=1e-5)

    def test_too_few_pixels(self, plate):
        mask = np.zeros(plate.shape[:2], bool)
        mask[0, :10] = True
        gain, bias = color.fit_gain_bias(plate, exposed(plate), mask)
        np.testing.assert_array_equal(gain, 1.0)
        np.testing.assert_array_equal(bias, 0.0)


class TestApply:
    def test_uint8_matches_formula(self, plate):
        out = color.apply_gain_bias(plate, GAIN, BIAS)
        assert out.dtype == np.uint8 and out.shape == plate.shape
        diff = np.abs(out.astype(int) - exposed(plate).astype(int))
        assert diff.max() <= 1  # LUT rounds half up, np.round half to even

    def test_float(self):
        x = np.array([[[0.0, 0.5, 1.0]]], np.float32)
        out = color.apply_gain_bias(x, [2.0, 1.0, 1.0], [0.0, 0.1, 0.1])
        np.testing.assert_allclose(out, [[[0.0, 0.6, 1.0]]], atol=1e-6)
        assert out.dtype == np.float32

    def test_uint16(self):
        x = np.full((2, 2, 3), 40000, np.uint16)
        out = color.apply_gain_bias(x, [1.0, 2.0, 0.5], [0.0, 0.0, 0.1])
        assert out.dtype == np.uint16
        np.testing.assert_array_equal(out[0, 0], [40000, 65535, 26554])

    def test_round_trip(self, plate):
        gain, bias = color.fit_gain_bias(plate, exposed(plate))
        out = color.apply_gain_bias(plate, gain, bias)
        assert np.abs(out.astype(int) - exposed(plate).astype(int)).mean() < 0.6
