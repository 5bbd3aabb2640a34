"""Features, matching, robust homography, sanity checks, warping, masks and scores.

Views of a photographic mosaic through known homographies (see conftest); tolerances are
mean corner distances in px at 1280x720.
"""

import cv2
import numpy as np
import pytest

from howard.align import homography

SIZE = (720, 1280)


def translation_after(H, dx, dy):
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1.0]]) @ H


def estimate(plate, subject, exclude=None, method="orb"):
    fp = homography.detect(plate, method)
    fs = homography.detect(subject, method, exclude=exclude)
    pp, ps = homography.match(fp, fs)
    return homography.find_homography(pp, ps, thresh=3.0)


class TestDetect:
    def test_smoke(self, plate_and_subject):
        plate = plate_and_subject[0]
        f = homography.detect(plate, n_features=2000)
        assert 1500 < len(f) <= 2000
        assert f.pts.dtype == np.float32 and f.desc.dtype == np.uint8 and f.desc.shape[1] == 32
        # full-resolution coordinates although found at 960 px
        assert f.pts[:, 0].max() > 1100 and f.pts[:, 1].max() > 600
        assert (f.pts >= -0.5).all() and (f.pts[:, 0] <= 1279.5).all()

    def test_exclude(self, plate_and_subject):
        _, subject, _, blob = plate_and_subject
        f = homography.detect(subject, exclude=blob)
        x, y = np.round(f.pts).astype(int).T
        inside = blob[np.clip(y, 0, 719), np.clip(x, 0, 1279)]
        assert inside.mean() < 0.01  # only rounding at the mask edge
        assert len(f) > 1000

    def test_textureless(self):
        f = homography.detect(np.full(SIZE + (3,), 128, np.uint8))
        assert len(f) == 0 and f.desc is None
        assert homography.match(f, f)[0].shape == (0, 2)

    def test_bad_method(self):
        with pytest.raises(ValueError, match="orb"):
            homography.detect(np.zeros((8, 8, 3), np.uint8), method="surf")


class TestHomography:
    def test_recovers_known_h_with_occluder(self, plate_and_subject):
        plate, subject, H, blob = plate_and_subject
        He, n = estimate(plate, subject, exclude=blob)
        assert n > 300
        assert homography.corner_error(He, H, SIZE) < 0.5
        assert homography.check_homography(He, SIZE, n) is None

    def test_occluder_not_masked(self, plate_and_subject):
        # the ratio test and the robust estimator alone survive a third of the frame occluded
        plate, subject, H, _ = plate_and_subject
        He, n = estimate(plate, subject)
        assert homography.corner_error(He, H, SIZE) < 0.5

    @pytest.mark.slow
    def test_sift(self, plate_and_subject):
        plate, subject, H, blob = plate_and_subject
        He, n = estimate(plate, subject, exclude=blob, method="sift")
        assert homography.corner_error(He, H, SIZE) < 0.5

    def test_identical_frames(self, plate_and_subject):
        plate = plate_and_subject[0]
        He, n = estimate(plate, plate)
        assert homography.corner_error(He, np.eye(3), SIZE) < 0.1

    def test_deterministic(self, plate_and_subject):
        plate, subject, _, blob = plate_and_subject
        a, b = estimate(plate, subject, blob), estimate(plate, subject, blob)
        np.testing.assert_array_equal(a[0], b[0])

    def test_guided_matching(self, plate_and_subject):
        plate, subject, H, blob = plate_and_subject
        fp, fs = homography.detect(plate), homography.detect(subject, exclude=blob)
        near = translation_after(H, 25, -20)  # a prior about 30 px off, like last frame's H
        He, n = homography.find_homography(*homography.match(fp, fs, prior=near), thresh=3.0)
        assert n > 300 and homography.corner_error(He, H, SIZE) < 0.5
        far = translation_after(H, 500, 0)  # a prior that is plain wrong finds little
        assert len(homography.match(fp, fs, prior=far)[0]) < 0.1 * len(homography.match(fp, fs)[0])

    def test_too_few_points(self):
        pts = np.random.default_rng(0).uniform(0, 100, (5, 2)).astype(np.float32)
        assert homography.find_homography(pts, pts) == (None, 0)

    def test_ecc_polish(self, plate_and_subject):
        plate, subject, H, blob = plate_and_subject
        start = H @ np.array([[1, 0, 1.2], [0, 1, -0.8], [0, 0, 1.0]])  # ~1.4 px off
        f = 640 / 1280
        grey = [cv2.cvtColor(homography.shrink(x, 640), cv2.COLOR_RGB2GRAY) for x in (subject, plate)]
        mask = ~homography.subject_mask(blob, grey[0].shape)
        R = homography.refine_ecc(grey[0], grey[1], start, f, mask)
        assert homography.corner_error(R, H, SIZE) < 0.15

    def test_ecc_refuses_to_wander(self):
        flat = np.full((90, 160), 100, np.uint8)
        assert homography.refine_ecc(flat, flat, np.eye(3), 1 / 8) is None

    def test_ecc_tracks_from_afar(self, plate_and_subject):
        """Coarse to fine, ECC alone finds H from a start 12 px off."""
        plate, subject, H, blob = plate_and_subject
        start = H @ np.array([[1, 0, 10.0], [0, 1, -7.0], [0, 0, 1.0]])
        f = 640 / 1280
        grey = [cv2.cvtColor(homography.shrink(x, 640), cv2.COLOR_RGB2GRAY) for x in (subject, plate)]
        mask = ~homography.subject_mask(blob, grey[0].shape)
        assert homography.corner_error(start, H, SIZE) > 10
        R = homography.track_ecc(grey[0], grey[1], start, f, mask)
        assert R is not None and homography.corner_error(R, H, SIZE) < 0.3

    def test_ecc_tracking_gives_up(self):
        flat = np.full((90, 160), 100, np.uint8)
        assert homography.track_ecc(flat, flat, np.eye(3), 1 / 8, np.ones((90, 160), bool)) is None
        # too little background to go on
        tex = (np.random.default_rng(0).uniform(0, 255, (90, 160))).astype(np.uint8)
        few = np.zeros((90, 160), bool)
        few[:20, :20] = True
        assert homography.track_ecc(tex, tex, np.eye(3), 1 / 8, few) is None


class TestCheck:
    def test_plausible(self):
        assert homography.check_homography(np.eye(3), SIZE, 100) is None

    @pytest.mark.parametrize("H, inliers, words", [
        (None, 0, "no homography"),
        (np.eye(3), 10, "too few inliers"),
        (np.diag([-1.0, 1.0, 1.0]), 100, "flips"),
        (np.diag([0.5, 0.5, 1.0]), 100, "scale"),  # det 0.25
        (np.array([[1, 0, 400.0], [0, 1, 0], [0, 0, 1]]), 100, "moves a corner"),
        (np.array([[1, 0, 0], [0, 1, 0], [-1 / 1000, 0, 1.0]]), 100, "folds"),
    ])
    def test_rejects(self, H, inliers, words):
        assert words in homography.check_homography(H, SIZE, inliers)


class TestWarp:
    def test_translation(self, plate_and_subject):
        plate = plate_and_subject[0]
        T = np.array([[1, 0, 5.0], [0, 1, -3.0], [0, 0, 1]])
        bgr, valid = homography.warp_plate(plate, T, SIZE, erode=2)
        np.testing.assert_array_equal(bgr[10:700, 10:1270], plate[13:703, 5:1265])
        # uncovered: 5 columns on the left, 3 rows at the bottom; then 2 px eroded
        assert not valid[:, :7].any() and not valid[715:].any()
        assert valid[:715, 7:].all()
        assert bgr.shape == plate.shape and valid.dtype == bool

    def test_fill_border(self):
        src = np.full((4, 5, 3), 200, np.uint8)
        bgr = np.zeros((4, 5, 3), np.uint8)
        valid = np.zeros((4, 5), bool)
        valid[:, 2:] = True
        out = homography.fill_border(bgr, src, valid)
        assert (out[:, :2] == 200).all() and (out[:, 2:] == 0).all()

    def test_rescale_homography(self):
        H = np.array([[1.01, 0.02, 13.0], [-0.01, 0.99, -7.0], [1e-5, -2e-5, 1.0]])
        f = 0.25
        S = homography.scale_matrix(f)
        p = np.array([[100.0, 50.0], [1000.0, 600.0]])
        full = homography.project(H, p)[0]
        small = homography.project(homography.rescale_homography(H, f), homography.project(S, p)[0])[0]
        np.testing.assert_allclose(small, homography.project(S, full)[0], atol=1e-9)


class TestSubjectMask:
    def test_inputs_and_dilation(self):
        pha = np.zeros((100, 200), np.float32)
        pha[40:60, 90:110] = 1.0
        tight = homography.subject_mask(pha, (50, 100), dilate=0)
        assert tight.shape == (50, 100) and tight.dtype == bool
        assert tight[20:30, 45:55].all() and tight.sum() == 100
        loose = homography.subject_mask(pha, (50, 100), dilate=0.05)
        assert loose.sum() > 2 * tight.sum() and (loose >= tight).all()
        as_u8 = homography.subject_mask((pha * 255).astype(np.uint8), (50, 100), dilate=0)
        np.testing.assert_array_equal(as_u8, tight)
        np.testing.assert_array_equal(homography.subject_mask(pha > 0.5, (50, 100), 0), tight)
        assert not homography.subject_mask(None, (5, 6)).any()


class TestResidual:
    def test_scores(self, plate_and_subject):
        plate = homography.shrink(plate_and_subject[0], 320)
        mask = np.ones(plate.shape[:2], bool)
        assert homography.photometric_residual(plate, plate, mask) == 0.0
        brighter = np.clip(plate.astype(np.float32) * 0.8 + 20, 0, 255).astype(np.uint8)
        assert homography.photometric_residual(brighter, plate, mask) < 1.5  # exposure is forgiven
        shifted = np.roll(plate, 2, axis=1)
        assert homography.photometric_residual(shifted, plate, mask) > 5.0  # misalignment is not
        assert homography.photometric_residual(plate, plate, ~mask) == float("inf")


def test_disagreeing_finds_the_odd_homography_out():
    size = (1080, 1920)
    rng = np.random.default_rng(0)
    near = []
    for k in range(6):  # nearby plate frames of a slow pan: a few px apart
        H = np.eye(3)
        H[:2, 2] = [3.0 * k, rng.normal(0, 1)]
        near.append(H)
    zoomed = np.array([[1.38, 0.08, -164.0], [0.056, 1.23, -102.0], [1.5e-4, 6e-5, 1.0]])
    odd = homography.disagreeing(near + [zoomed], size)
    assert odd[-1] > 100 and not odd[:-1].any()
    # a steady pan across the window is agreement, not disagreement
    pan = [np.array([[1, 0, 25.0 * k], [0, 1, 0], [0, 0, 1]]) for k in range(7)]
    assert not homography.disagreeing(pan, size).any()
    # two candidates are no consensus
    assert not homography.disagreeing([near[0], zoomed], size).any()
