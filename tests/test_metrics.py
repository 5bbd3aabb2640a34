"""Matting metrics on hand-computed 4x4 cases, masks, the unknown band and summaries."""

import numpy as np
import pytest

from howard.eval import metrics

TOL = 1e-12  # exact arithmetic on a few float64 values


def block_matte() -> np.ndarray:
    """4x4 true alpha: an opaque 2x2 block in the top-left corner, the rest 0."""
    a = np.zeros((4, 4))
    a[:2, :2] = 1.0
    return a


class TestSadMse:
    def test_hand_computed(self):
        true = block_matte()
        pred = true.copy()
        pred[0, 0] = 0.5  # |d| 0.5
        pred[3, 3] = 0.25  # |d| 0.25
        assert metrics.sad(pred, true) == pytest.approx(0.75 / 1000, abs=TOL)
        assert metrics.mse(pred, true) == pytest.approx((0.25 + 0.0625) / 16 * 1000, abs=TOL)

    def test_mask_restricts(self):
        true = block_matte()
        pred = true.copy()
        pred[0, 0], pred[3, 3] = 0.5, 0.25
        mask = np.zeros((4, 4), bool)
        mask[3, 2:] = True  # two pixels, one with error 0.25
        assert metrics.sad(pred, true, mask) == pytest.approx(0.25 / 1000, abs=TOL)
        assert metrics.mse(pred, true, mask) == pytest.approx(0.0625 / 2 * 1000, abs=TOL)
        assert metrics.mse(pred, true, np.zeros((4, 4), bool)) == 0.0

    def test_integer_inputs_are_scaled(self):
        true = block_matte()
        as8 = (true * 255).astype(np.uint8)
        as16 = (true * 65535).astype(np.uint16)
        assert metrics.sad(as8, true) == 0.0 and metrics.sad(as16, true) == 0.0

    def test_shape_mismatch(self):
        with pytest.raises(ValueError):
            metrics.sad(np.zeros((4, 4)), np.zeros((4, 5)))


class TestGrad:
    def test_kernels(self):
        g, dg = metrics.gaussian_derivative_kernels(1.4)
        assert len(g) == 9  # radius ceil(3.62) = 4 for sigma 1.4
        assert np.linalg.norm(g) == pytest.approx(1.0, abs=TOL)
        np.testing.assert_allclose(dg, -dg[::-1], atol=TOL)

    def test_ramp(self):
        """A ramp of slope s has gradient s * sum(dg*x) * sum(g) away from the borders."""
        s = 0.02
        ramp = np.tile(np.arange(30) * s, (30, 1))
        g, dg = metrics.gaussian_derivative_kernels(1.4)
        x = np.arange(-4, 5)
        expect = abs(s * np.dot(dg, x) * g.sum())
        mag = metrics.gradient_magnitude(ramp)
        np.testing.assert_allclose(mag[5:-5, 5:-5], expect, rtol=1e-9)
        mask = np.zeros((30, 30), bool)
        mask[5:-5, 5:-5] = True
        got = metrics.grad(ramp, np.zeros((30, 30)), mask)
        assert got == pytest.approx(mask.sum() * expect ** 2 / 1000, rel=1e-9)

    def test_offset_and_symmetry(self):
        rng = np.random.default_rng(0)
        true = rng.uniform(0, 0.5, (12, 12))
        # a constant offset leaves every gradient unchanged (replicated borders included)
        assert metrics.grad(true + 0.3, true) == pytest.approx(0.0, abs=1e-12)
        pred = rng.uniform(0, 1, (12, 12))
        assert metrics.grad(np.rot90(pred), np.rot90(true)) == pytest.approx(
            metrics.grad(pred, true), rel=1e-9)
        assert metrics.grad(pred, true) > 0


class TestConn:
    def test_isolated_pixel_threshold(self):
        """(3,3): true 0.5, pred 0.1, outside the main block: it leaves at level 0.1, so
        d = 0.1 (below 0.15, phi 1) for pred and 0.5 (phi 0.5) for true: error 0.5, not 0.4."""
        true = block_matte()
        pred = true.copy()
        true[3, 3], pred[3, 3] = 0.5, 0.1
        levels = metrics.disconnection_levels(pred, true)
        assert levels[3, 3] == 0.0 and levels[0, 0] == 1.0 and levels[2, 2] == 0.0
        assert metrics.conn(pred, true) == pytest.approx(0.5 / 1000, abs=TOL)
        assert metrics.sad(pred, true) == pytest.approx(0.4 / 1000, abs=TOL)

    def test_weak_bridge(self):
        """Row 1 continues the block with (1,2), (1,3) = 0.8 in truth; pred has (1,2) = 0.5,
        so both pixels leave the block's component after level 0.5: (1,2) phi 1 vs 0.7,
        (1,3) phi 0.7 vs 0.7. Error 0.3."""
        true = block_matte()
        true[1, 2:] = 0.8
        pred = true.copy()
        pred[1, 2] = 0.5
        levels = metrics.disconnection_levels(pred, true)
        assert levels[1, 2] == 0.5 and levels[1, 3] == 0.5
        assert metrics.conn(pred, true) == pytest.approx(0.3 / 1000, abs=1e-12)
        mask = np.ones((4, 4), bool)
        mask[1, 2] = False
        assert metrics.conn(pred, true, mask) == pytest.approx(0.0, abs=1e-12)

    def test_all_zero(self):
        z = np.zeros((4, 4))
        assert metrics.conn(z, z) == 0.0
        # nothing is connected at any level: every level is 0, pred phi 0.5, true phi 1
        assert metrics.conn(np.full((4, 4), 0.5), z) == pytest.approx(16 * 0.5 / 1000, abs=TOL)


class TestDtssd:
    def test_same_change_is_zero(self):
        rng = np.random.default_rng(1)
        t0, p0 = rng.uniform(0, 1, (2, 6, 6))
        change = rng.uniform(-0.2, 0.2, (6, 6))
        # the prediction is wrong in each frame but changes exactly like the truth
        assert metrics.dtssd(p0, p0 + change, t0, t0 + change) == pytest.approx(0, abs=1e-12)

    def test_hand_computed(self):
        z = np.zeros((4, 4))
        pred = z.copy()
        pred[0, 0] = 0.4  # one pixel flickers by 0.4: sqrt(0.16 / 16) * 100 = 10
        assert metrics.dtssd(z, pred, z, z) == pytest.approx(10.0, abs=1e-9)
        mask = np.zeros((4, 4), bool)
        mask[0, :] = True  # over 4 pixels: sqrt(0.16 / 4) * 100 = 20
        assert metrics.dtssd(z, pred, z, z, mask) == pytest.approx(20.0, abs=1e-9)


class TestBand:
    def test_fractional_pixel_disk(self):
        true = np.zeros((9, 9))
        true[4, 4] = 0.5
        band = metrics.unknown_band(true, 2)
        yy, xx = np.mgrid[:9, :9]
        np.testing.assert_array_equal(band, (yy - 4) ** 2 + (xx - 4) ** 2 <= 4)

    def test_hard_edge(self):
        true = np.zeros((6, 8))
        true[:, 4:] = 1.0
        band = metrics.unknown_band(true, 1)
        expect = np.zeros((6, 8), bool)
        expect[:, 2:6] = True  # columns 3|4 are the edge, plus 1 px on each side
        np.testing.assert_array_equal(band, expect)
        assert not metrics.unknown_band(np.zeros((6, 8)), 3).any()

    def test_default_width(self):
        assert metrics.default_band_width((540, 960)) == 5
        assert metrics.default_band_width((64, 64)) == 3


class TestFrame:
    def test_perfect_is_zero(self):
        rng = np.random.default_rng(2)
        true = np.clip(rng.uniform(-0.5, 1.5, (16, 20)), 0, 1)
        prev = np.clip(rng.uniform(-0.5, 1.5, (16, 20)), 0, 1)
        out = metrics.frame_metrics(true, true, prev=(prev, prev))
        assert set(out) == {"sad", "mse", "grad", "conn", "sad_band", "mse_band",
                            "grad_band", "conn_band", "dtssd", "dtssd_band"}
        assert all(v == pytest.approx(0.0, abs=1e-12) for v in out.values())

    def test_matches_single_metrics(self):
        rng = np.random.default_rng(3)
        true = np.zeros((20, 20))
        true[5:15, 6:14] = 1.0
        true[5, 6:14] = 0.5
        pred = np.clip(true + rng.normal(0, 0.1, true.shape), 0, 1)
        out = metrics.frame_metrics(pred, true, band_width=2)
        band = metrics.unknown_band(true, 2)
        for name in ("sad", "mse", "grad", "conn"):
            fn = getattr(metrics, name)
            assert out[name] == pytest.approx(fn(pred, true), rel=1e-12)
            assert out[name + "_band"] == pytest.approx(fn(pred, true, band), rel=1e-12)
        assert out["sad_band"] < out["sad"]

    def test_summarize(self):
        rows = [{"sad": 1.0, "mse": 2.0}, {"sad": 3.0, "mse": 4.0, "dtssd": 5.0}]
        assert metrics.summarize(rows) == {"sad": 2.0, "mse": 3.0, "dtssd": 5.0}
        assert metrics.summarize([]) == {}
