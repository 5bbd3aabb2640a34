"""Candidate plate frames, the streaming plate window, and the aligner's choices."""

import json

import cv2
import numpy as np
import pytest
from skimage import data

from conftest import known_homography, paste_blob, translation, view
from howard.align import homography
from howard.align import aligner as plate
from howard.io import media
from howard.errors import InputError

SIZE = (360, 640)


class ListSource(media.FrameSource):
    """An in-memory clip that counts how often it is decoded from the start."""

    kind = "video"

    def __init__(self, frames):
        super().__init__("memory", frames[0].shape[:2], 24.0, len(frames))
        self.list, self.starts = frames, []

    def count(self):
        return len(self.list)

    def frames(self, start=0):
        self.starts.append(start)
        for i in range(start, len(self.list)):
            yield i, self.list[i]


def parallax_clip(scene, n=12):
    """A plate clip from a camera sliding sideways past two layers: the far scene moves
    (3, 1) px a frame, a near poster (a cat) (11, 3) px. One homography cannot align both,
    so only the true plate frame explains a subject frame everywhere."""
    cat = np.ascontiguousarray(data.chelsea()[40:200, 80:330])  # 160x250 near layer
    frames = []
    for k in range(n):
        y0, x0 = 120 + k, 200 + 3 * k
        f = np.ascontiguousarray(scene[y0:y0 + SIZE[0], x0:x0 + SIZE[1]])
        y, x = 150 - 3 * k, 330 - 11 * k
        f[y:y + 160, x:x + 250] = cat
        frames.append(f)
    return frames


class TestCandidates:
    def test_window_and_previous(self):
        assert plate.candidates(10, 100, 100, 3) == [7, 8, 9, 10, 11, 12, 13]
        assert plate.candidates(10, 100, 50, 2) == [3, 4, 5, 6, 7]  # 10 * 50 // 100 = 5
        assert plate.candidates(10, 100, 50, 2, previous=0) == [0, 3, 4, 5, 6, 7]
        assert plate.candidates(0, 100, 50, 3) == [0, 1, 2, 3]
        assert plate.candidates(99, 100, 50, 3) == [46, 47, 48, 49]
        assert plate.candidates(5, 10, 1, 3, previous=0) == [0]  # a still plate


class TestPlateFit:
    def test_same_aspect_resized(self):
        big = np.zeros((720, 1280, 3), np.uint8)
        assert plate.fit_plate(big, SIZE).shape == SIZE + (3,)
        assert plate.plate_crop((722, 1280), (720, 1280)) == (0, 722, 0, 1280)  # within 1%

    def test_aspect_mismatch(self):
        with pytest.raises(InputError, match="plate_fit='crop'"):
            plate.plate_crop((1080, 1440), (1080, 1920))
        assert plate.plate_crop((1080, 1440), (720, 1280), "crop") == (135, 945, 0, 1440)
        assert plate.plate_crop((1080, 1920), (1080, 1440), "crop") == (0, 1080, 240, 1680)
        frame = np.zeros((1080, 1440, 3), np.uint8)
        assert plate.fit_plate(frame, SIZE, "stretch").shape == SIZE + (3,)
        with pytest.raises(ValueError):
            plate.plate_crop((10, 10), (10, 10), "squash")


class TestWindow:
    def test_bounded_and_described_once(self, scene):
        source = ListSource(parallax_clip(scene, 12))
        window = plate.PlateWindow(source, SIZE, n_features=500)
        calls = []
        detect = homography.detect

        def counting(image, **kw):
            calls.append(image.ctypes.data)
            return detect(image, **kw)

        align_detect, homography.detect = homography.detect, counting
        try:
            previous, held = None, 0
            for t in range(24):  # subject twice as long: the window moves every other frame
                picks = plate.candidates(t, 24, 12, 2, previous)
                got = window.fetch(picks)
                assert sorted(got) == picks and all(f.features is not None for f in got.values())
                held = max(held, len(window.frames))
                previous = picks[0]  # an old winner stays a candidate
        finally:
            homography.detect = align_detect
        assert held <= 2 * 2 + 2
        assert window.described == len(calls) == 12  # every plate frame described exactly once
        assert source.starts == [0]  # one forward pass

    def test_going_back_rereads(self, scene):
        source = ListSource(parallax_clip(scene, 6))
        window = plate.PlateWindow(source, SIZE, n_features=200)
        window.fetch([4, 5])
        assert sorted(window.fetch([1])) == [1]
        assert source.starts == [4, 0]  # from further back: the frames before are kept

    @pytest.mark.parametrize("behind_mb", [0.6, 256.0])
    def test_a_reversed_plate_restarts_its_decoder_rarely(self, behind_mb):
        """A plate walked the other way: each request is one frame lower. The decoder restarts
        once every ``behind`` frames (each restart decodes from the clip's start inside
        ffmpeg), the frames are the right ones, and no more than ``behind`` are held."""
        n = 120
        frames = [np.full((90, 160, 3), i, np.uint8) for i in range(n)]
        source = ListSource(frames)
        window = plate.PlateWindow(source, (90, 160), n_features=50, small_width=80,
                                   behind_mb=behind_mb)
        assert 2 <= window.behind <= 64
        held = 0
        for t in range(n - 3):
            top = n - 1 - t
            picks = list(range(max(0, top - 3), top + 1))
            got = window.fetch(picks)
            assert sorted(got) == picks
            assert all(int(got[i].rgb[0, 0, 0]) == i and got[i].features is not None
                       for i in picks)
            held = max(held, len(window._behind))
        assert held <= window.behind
        restarts = len(source.starts) - 1
        assert restarts <= n // max(1, window.behind - 4) + 2
        assert window.decoded <= n + restarts * window.behind


class TestAligner:
    def test_picks_true_plate_frame(self, scene):
        clip = parallax_clip(scene)
        aligner = plate.PlateAligner(ListSource(clip), SIZE, n_subject=24, window=3)
        subject, blob = paste_blob(clip[6], 0.25)
        # t = 16 maps to plate frame 8; candidates 5..11 hold the truth, 6
        a = aligner.align(16, subject, blob.astype(np.float32))
        assert a.plate_index == 6 and not a.fallback
        assert homography.corner_error(a.H, np.eye(3), SIZE) < 0.1
        scores = {i: r for i, _, r in a.tried}
        assert sorted(scores) == list(range(5, 12))
        assert scores[6] < 0.5 * min(r for i, r in scores.items() if i != 6)
        # t = 23 maps to 11 (window 8..11): 6 is tried only as the previous winner
        a = aligner.align(23, subject, blob)
        assert a.plate_index == 6 and [i for i, _, _ in a.tried] == [6, 8, 9, 10, 11]
        np.testing.assert_array_equal(a.bgr[~blob], clip[6][~blob])

    def test_a_candidate_far_from_the_others_is_left_out(self, scene, monkeypatch):
        """A wrongly zoomed homography that scores the lowest residual (as on a motion-blurred
        frame) loses to the plate frames that agree with each other."""
        clip = parallax_clip(scene)
        subject, blob = paste_blob(clip[6], 0.25)
        zoomed = np.array([[1.3, 0.0, -90.0], [0.0, 1.3, -50.0], [0.0, 0.0, 1.0]])

        def rig(aligner):
            estimate, residual = aligner._estimate, aligner._residual

            def fake_estimate(frame, feat, prior):
                H, n, why = estimate(frame, feat, prior)
                return (zoomed, 300, None) if np.array_equal(frame.rgb, clip[9]) else (H, n, why)

            def fake_residual(frame, H, *args, **kw):
                return -1.0 if np.allclose(H, zoomed) else residual(frame, H, *args, **kw)
            monkeypatch.setattr(aligner, "_estimate", fake_estimate)
            monkeypatch.setattr(aligner, "_residual", fake_residual)
            return aligner

        aligner = rig(plate.PlateAligner(ListSource(clip), SIZE, n_subject=24, window=3,
                                         refine=False))
        a = aligner.align(16, subject, blob.astype(np.float32))
        assert a.plate_index == 6 and homography.corner_error(a.H, np.eye(3), SIZE) < 0.5
        assert 9 in [i for i, _, _ in a.tried]
        # without the agreement check the zoomed candidate would have won
        monkeypatch.setattr(homography, "disagreeing", lambda Hs, size: np.zeros(len(Hs)))
        aligner = rig(plate.PlateAligner(ListSource(clip), SIZE, n_subject=24, window=3,
                                         refine=False))
        assert aligner.align(16, subject, blob.astype(np.float32)).plate_index == 9

    def test_still_plate_known_h(self, scene, tmp_path):
        off = translation(-200, -140)
        H = np.array([[1.01, 0.012, -9.0], [-0.01, 0.995, 6.5], [2e-5, -1e-5, 1.0]])
        still = view(scene, off, (720, 1280))  # the plate at twice the subject's size
        media.write_png(tmp_path / "plate.png", still)
        D = np.diag([0.5, 0.5, 1.0])  # the subject camera at half the plate's resolution
        subject = view(scene, D @ H @ off, SIZE)
        subject = np.clip(subject * 0.9 + 12, 0, 255).astype(np.uint8)  # exposure drift
        subject, blob = paste_blob(subject, 0.3)
        aligner = plate.PlateAligner(tmp_path / "plate.png", SIZE, n_subject=50)
        a = aligner.align(0, subject, blob)
        H_half = D @ H @ np.linalg.inv(homography.scale_matrix(0.5))  # plate shrunk by area
        assert not a.fallback and a.refined
        assert homography.corner_error(a.H, H_half, SIZE) < 0.25
        np.testing.assert_allclose(a.gain, 0.9, atol=0.02)
        np.testing.assert_allclose(a.bias, 12 / 255, atol=0.01)
        assert np.abs(a.bgr.astype(int) - subject)[a.valid & ~blob].mean() < 3
        assert (a.bgr[~a.valid] == subject[~a.valid]).all()  # border filled from the frame
        rec = json.loads(json.dumps(a.to_json()))
        assert rec["plate_index"] == 0 and len(rec["H"]) == 3 and rec["fallback"] is False

    def test_textureless_plate_falls_back(self, scene):
        flat = [np.full(SIZE + (3,), 128, np.uint8)] * 3
        aligner = plate.PlateAligner(ListSource(flat), SIZE, n_subject=3)
        subject = np.ascontiguousarray(scene[:SIZE[0], :SIZE[1]])
        for t in range(3):
            a = aligner.align(t, subject)
            assert a.fallback and "features" in a.reason and a.inliers == 0
            np.testing.assert_array_equal(a.H, np.eye(3))
            assert a.bgr.shape == subject.shape and a.bgr.dtype == np.uint8
        json.dumps(a.to_json())

    def test_smooth_background_tracked_by_ecc(self, scene):
        """A background too smooth for features (a blurred, softly lit wall) and a camera that
        moved: ECC alone finds the plate from the identity; without it the frame falls back to
        the unwarped plate, 10 px off."""
        smooth = cv2.GaussianBlur(np.ascontiguousarray(scene[:600, :900]), (0, 0), 12)
        M = np.eye(3)
        M[:2] = cv2.getRotationMatrix2D((420, 280), 1.0, 1.02)
        M[:2, 2] += (6, 4)  # plate -> subject, in scene coordinates
        crop = translation(-100, -100)
        plate_frame = view(smooth, crop, SIZE)
        subject = view(smooth, crop @ M, SIZE)
        true = crop @ M @ np.linalg.inv(crop)
        results = {}
        for refine in (False, True):
            aligner = plate.PlateAligner(ListSource([plate_frame]), SIZE, n_subject=1,
                                         refine=refine)
            results[refine] = aligner.align(0, subject)
        old, new = results[False], results[True]
        assert old.fallback and homography.corner_error(old.H, true, SIZE) > 8
        assert not new.fallback and new.refined and "ECC alone" in new.reason
        assert new.inliers == 0 and homography.corner_error(new.H, true, SIZE) < 0.3
        assert json.loads(json.dumps(new.to_json()))["fallback"] is False

    def test_fallback_reuses_last_good(self, scene):
        clip = parallax_clip(scene, 4)
        aligner = plate.PlateAligner(ListSource(clip), SIZE, n_subject=4, window=1)
        good = aligner.align(0, clip[0])
        assert not good.fallback
        grey = np.full(SIZE + (3,), 90, np.uint8)  # a frame with nothing to match
        bad = aligner.align(1, grey)
        assert bad.fallback and bad.plate_index == good.plate_index
        np.testing.assert_array_equal(bad.H, good.H)
        # resuming from the record continues the same way
        other = plate.PlateAligner(ListSource(clip), SIZE, n_subject=4, window=1)
        other.restore(json.loads(json.dumps(bad.to_json())))
        assert other.prev_index == aligner.prev_index
        np.testing.assert_allclose(other.good_H, aligner.good_H, rtol=1e-7, atol=1e-9)

    def test_resume_continues_identically(self, scene):
        clip = parallax_clip(scene, 8)
        subjects = [paste_blob(clip[min(7, t + 1)], 0.2, seed=t) for t in range(6)]
        one = plate.PlateAligner(ListSource(clip), SIZE, n_subject=6, window=1)
        records = [one.align(t, s, b).to_json() for t, (s, b) in enumerate(subjects)]
        two = plate.PlateAligner(ListSource(clip), SIZE, n_subject=6, window=1)
        two.restore(json.loads(json.dumps(records[2])))
        again = [two.align(t, s, b).to_json() for t, (s, b) in enumerate(subjects) if t > 2]
        assert again == records[3:]

    def test_plate_shorter_than_counted(self, scene, caplog):
        clip = parallax_clip(scene, 3)
        aligner = plate.PlateAligner(ListSource(clip), SIZE, n_subject=10, n_plate=10)
        a = aligner.align(9, clip[2])
        assert a.plate_index == 2 and aligner.plates.length == 3
        assert "ended at frame 3" in caplog.text

    def test_smoothing(self, scene):
        clip = parallax_clip(scene, 1)
        aligner = plate.PlateAligner(ListSource(clip), SIZE, n_subject=2, smooth=0.5)
        aligner.align(0, clip[0])
        moved = np.ascontiguousarray(np.roll(clip[0], 4, axis=1))
        a = aligner.align(1, moved)
        shift = homography.project(a.H, np.array([[320.0, 180.0]]))[0][0, 0] - 320.0
        assert 1.5 < shift < 2.5  # half way between 0 and the measured 4 px

    def test_aspect_error_early(self, scene):
        clip = [np.zeros((300, 300, 3), np.uint8)]
        with pytest.raises(InputError, match="aspect"):
            plate.PlateAligner(ListSource(clip), SIZE)
        a = plate.PlateAligner(ListSource(clip), SIZE, plate_fit="crop")
        assert a.align(0, np.zeros(SIZE + (3,), np.uint8)).fallback

    def test_wrong_frame_size(self, scene):
        aligner = plate.PlateAligner(ListSource(parallax_clip(scene, 1)), SIZE)
        with pytest.raises(InputError, match="expected 640x360"):
            aligner.align(0, np.zeros((10, 10, 3), np.uint8))


@pytest.mark.parametrize("seed", range(4))
def test_small_frames_align(seed):
    """At 120x214 ORB finds too few keypoints unless the frames are enlarged for detection:
    three of these four frames used to fall back to the unwarped plate."""
    size = (120, 214)
    scene = np.ascontiguousarray(data.astronaut())
    S = np.diag([0.334, 0.334, 1.0])
    plates = [view(scene, S @ translation(-60 - 2 * k, -50), size) for k in range(5)]
    H = known_homography(seed, size)
    src, _ = paste_blob(view(scene, H @ S @ translation(-64, -50), size), 0.25, seed)
    got = plate.PlateAligner(ListSource(plates), size, n_subject=1).choose(0, src)
    assert not got.fallback, got.reason
    true = H @ S @ translation(-64, -50) @ np.linalg.inv(
        S @ translation(-60 - 2 * got.plate_index, -50))
    corners = np.float64([[0, 0, 1], [214, 0, 1], [214, 120, 1], [0, 120, 1]])
    a, b = corners @ got.H.T, corners @ true.T
    assert np.abs(a[:, :2] / a[:, 2:] - b[:, :2] / b[:, 2:]).max() < 6.0
