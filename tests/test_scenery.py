"""Procedural outdoor scenes."""

import numpy as np

from howard.synth import scenery


def test_outdoor_is_deterministic_and_in_range():
    a = scenery.outdoor(np.random.default_rng(2), (90, 160))
    b = scenery.outdoor(np.random.default_rng(2), (90, 160))
    c = scenery.outdoor(np.random.default_rng(3), (90, 160))
    assert a.shape == (90, 160, 3) and a.dtype == np.float32
    assert 0 <= a.min() and a.max() <= 1
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_twigs_thinner_than_a_pixel_come_out_fractional():
    sky = np.float32([0.8, 0.9, 1.0])
    canvas = np.empty((400, 400, 3), np.float32)
    canvas[:] = sky
    scenery._tree(np.random.default_rng(0), canvas, (200, 399), 380, np.float32([0.1, 0.1, 0.1]),
                  leafy=False)
    small = canvas.reshape(200, 2, 200, 2, 3).mean(axis=(1, 3))  # what outdoor() does
    dark = 1 - (small[..., 2] - 0.1) / 0.9  # 0 on sky, 1 on bark
    assert (dark > 0.95).sum() > 50  # a solid trunk
    assert ((dark > 0.05) & (dark < 0.6)).sum() > 200  # and many faint twig pixels
