"""Residual parallax correction: a known flow recovered, capped, kept off the subject, and
nothing done where there is nothing to correct."""

import cv2
import numpy as np
import pytest

from howard.align import parallax

SIZE = (240, 320)


@pytest.fixture(scope="module")
def image(scene):
    return np.ascontiguousarray(scene[100:100 + SIZE[0], 300:300 + SIZE[1]])


def shifted(image, dx, dy):
    """``image`` sampled at p + (dx, dy): what a plate looks like that needs flow (dx, dy)."""
    M = np.float64([[1, 0, -dx], [0, 1, -dy]])
    return cv2.warpAffine(image, M, SIZE[::-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def inner(x, m=30):
    return x[m:-m, m:-m]


class TestResidualFlow:
    def test_known_shift_recovered(self, image):
        # the plate shows the frame 2.5 px to the left: content at p in src is at p - 2.5 in bgr
        bgr = shifted(image, -2.5, 1.0)
        flow, mean = parallax.residual_flow(bgr, image, np.ones(SIZE, bool))
        assert flow.shape == SIZE + (2,) and flow.dtype == np.float32
        # within 0.4 px of (-2.5, 1) away from the borders
        np.testing.assert_allclose(np.median(inner(flow), axis=(0, 1)), [-2.5, 1.0], atol=0.4)
        fixed = parallax.apply_flow(bgr, flow)
        before = np.abs(inner(bgr).astype(float) - inner(image)).mean()
        after = np.abs(inner(fixed).astype(float) - inner(image)).mean()
        assert after < 0.5 * before

    def test_capped(self, image):
        bgr = shifted(image, 12.0, 0.0)
        flow, _ = parallax.residual_flow(bgr, image, np.ones(SIZE, bool), limit=0.01)
        assert np.linalg.norm(flow, axis=2).max() <= 0.01 * SIZE[1] + 1e-3

    def test_subject_left_to_the_background(self, image):
        """Inside the subject the flow is the background's around it (here 2 px), not the
        subject's own motion (here 6 px the other way)."""
        bgr = shifted(image, 2.0, 0.0)
        busy = np.zeros(SIZE, bool)
        busy[80:160, 120:200] = True
        src = image.copy()
        src[busy] = shifted(image, -6.0, 0.0)[busy]
        flow, _ = parallax.residual_flow(bgr, src, ~busy)
        assert abs(float(np.median(flow[100:140, 140:180, 0])) - 2.0) < 0.6

    def test_nothing_to_correct(self, image):
        flow, mean = parallax.residual_flow(image, image, np.ones(SIZE, bool))
        assert mean == 0.0 and not flow.any()
        out, mean = parallax.correct(image, image, np.ones(SIZE, bool))
        assert out is image and mean == 0.0

    def test_degenerate(self, image):
        flat = np.full(SIZE + (3,), 90, np.uint8)
        for bgr, src, keep in [(flat, flat, np.ones(SIZE, bool)),
                               (image, shifted(image, 2, 0), np.zeros(SIZE, bool)),
                               (image[:8, :8], image[:8, :8], np.ones((8, 8), bool))]:
            flow, mean = parallax.residual_flow(bgr, src, keep)
            assert np.isfinite(flow).all() and mean == 0.0 and not flow.any()
