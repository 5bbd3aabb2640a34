"""Synthetic clips whose plate pass is walked another way, and clips with a near layer."""

import numpy as np
import pytest

from howard.synth import clips

SIZE = (64, 96)


@pytest.mark.parametrize("order", clips.PLATE_ORDERS)
def test_walk_positions(order):
    subject, plate = clips.walk_positions(order, 10, 15)
    np.testing.assert_allclose(subject, np.linspace(0, 1, 10))
    assert plate.shape == (15,)
    first, last = {"same": (0, 1), "reversed": (1, 0), "faster": (0, 1),
                   "offset": (-0.5, 14 / 9 - 0.5)}[order]
    assert plate[0] == pytest.approx(first) and plate[-1] == pytest.approx(last)
    if order == "faster":
        assert plate[9] == 1.0  # at the end after 60 % of the frames, then standing
    with pytest.raises(ValueError):
        clips.walk_positions("sideways", 3, 3)


def test_reversed_plate_matches_the_other_end():
    plan = clips.plan_clip(3, SIZE, n_frames=8, pan=0.8, plate_order="reversed", shake=0.0)
    # without shake, subject frame 0 and the plate's last frame are the same view
    np.testing.assert_allclose(plan.homography(0, plan.n_plate - 1), np.eye(3), atol=1e-9)
    # and the time-mapped plate frame is 0.8 frame widths away
    assert abs(plan.homography(0)[0, 2]) == pytest.approx(0.8 * SIZE[1], rel=1e-6)
    # the person stays in frame while the camera walks
    assert plan.subject_frame(7)["pha"].sum() > 0.5 * plan.subject_frame(0)["pha"].sum()


def test_offset_plate_is_long_enough():
    plan = clips.plan_clip(3, SIZE, n_frames=9, plate_order="offset", pan=0.5)
    assert plan.n_plate == 13


def test_defaults_unchanged():
    a = clips.plan_clip(4, SIZE, n_frames=3)
    b = clips.plan_clip(4, SIZE, n_frames=3, pan=0.0, plate_order="same", parallax=0.0)
    np.testing.assert_array_equal(a.scene, b.scene)
    np.testing.assert_array_equal(a.plate_cams, b.plate_cams)
    assert a.near is None and a.follow is None


def test_near_layer_has_parallax():
    """With near boards the plate warped by the true homography of the far scene still
    differs from the true background on the boards, and only there."""
    import cv2

    plan = clips.plan_clip(5, (120, 160), n_frames=6, parallax=0.6, shake=2.0)
    flat = clips.plan_clip(5, (120, 160), n_frames=6, shake=2.0)
    np.testing.assert_array_equal(plan.scene, flat.scene)  # the far scene is the same
    t, j = 5, 0
    H = plan.homography(t, j)
    warped = cv2.warpPerspective(plan.plate_view(j), H, (160, 120), flags=cv2.INTER_LINEAR)
    err = np.abs(warped - plan.background(t)).mean(axis=2)[10:-10, 10:-10]
    far = np.abs(cv2.warpPerspective(flat.plate_view(j), H, (160, 120)) -
                 flat.background(t)).mean(axis=2)[10:-10, 10:-10]
    assert far.mean() < 0.01 and err.mean() > 2 * far.mean()
