"""The plate mosaic: other plate frames laid into what the chosen one misses, the fill where no
plate frame reaches, the keyframes kept for it, and the aligner using them.

Scenes are the textured photo mosaic of conftest seen through known homographies at 360x640.
"""

import json

import cv2
import numpy as np
import pytest

from conftest import paste_blob, translation, view
from howard.align import aligner as plate
from howard.align import homography, mosaic
from howard.align.keyframes import Keyframes, keyframe_indices
from test_plate import ListSource

SIZE = (360, 640)
SUBJECT = translation(-300, -200)  # scene -> subject frame


def _rotation(degrees, scale=1.0):
    return np.vstack([cv2.getRotationMatrix2D((320, 180), degrees, scale), [0, 0, 1]])


def _two_plates(scene):
    """Truth, and two plate frames warped to the subject frame: A misses the 50 px on the
    right (its camera is 48 px off, plus the trimmed border), B (rotated 1.5 deg, zoomed 2 %,
    exposure 0.9x + 10) covers them."""
    truth = view(scene, SUBJECT, SIZE)
    cam_a = translation(48, 0) @ SUBJECT
    cam_b = translation(-40, 6) @ _rotation(1.5, 1.02) @ SUBJECT
    a = view(scene, cam_a, SIZE)
    b = np.clip(view(scene, cam_b, SIZE) * 0.9 + 10, 0, 255).astype(np.uint8)
    warped_a = homography.warp_plate(a, SUBJECT @ np.linalg.inv(cam_a), SIZE)
    warped_b = homography.warp_plate(b, SUBJECT @ np.linalg.inv(cam_b), SIZE)
    return truth, warped_a, warped_b


class TestCompose:
    def test_two_known_homographies_give_the_background(self, scene):
        """The mosaic of A and B is the true background: mean abs error under 2.5 levels
        where B fills in (two bilinear resamplings of a photo), under 1 level in the band
        where B is blended into A, and no colour step (mean signed error under 0.5)."""
        truth, (bgr_a, valid_a), (bgr_b, valid_b) = _two_plates(scene)
        feather = mosaic.feather_width(SIZE)
        out, covered, gained = mosaic.compose(bgr_a, valid_a, [(bgr_b, valid_b)], feather)
        assert out.dtype == np.uint8 and out.shape == truth.shape
        assert valid_a.mean() < 0.93 and covered.mean() > 0.99
        filled = covered & ~valid_a
        assert gained == [pytest.approx(filled.mean())]
        err = out.astype(int) - truth
        assert np.abs(err).mean(2)[filled].mean() < 2.5
        assert abs(err[filled].mean()) < 0.5
        depth = cv2.distanceTransform(valid_a.view(np.uint8), cv2.DIST_L2, 3)
        band = valid_a & (depth < feather)
        assert np.abs(err).mean(2)[band].mean() < 1.0
        np.testing.assert_array_equal(out[valid_a & ~band], bgr_a[valid_a & ~band])
        # the test has teeth: B pasted in as it is shows its exposure (3x the error)
        raw = bgr_a.copy()
        raw[filled] = bgr_b[filled]
        assert np.abs(raw.astype(int) - truth).mean(2)[filled].mean() > \
            3 * np.abs(err).mean(2)[filled].mean()

    def test_a_layer_adding_nothing_is_skipped(self, scene):
        _, (bgr_a, valid_a), _ = _two_plates(scene)
        out, covered, gained = mosaic.compose(bgr_a, valid_a, [(bgr_a, valid_a)], 6)
        np.testing.assert_array_equal(out, bgr_a)
        np.testing.assert_array_equal(covered, valid_a)
        assert gained == [0.0]

    def test_coverage_and_feather(self):
        assert mosaic.coverage(np.eye(3), SIZE).all()
        cov = mosaic.coverage(translation(20, 0), SIZE, erode=0)
        assert not cov[:, :20].any() and cov[:, 20:].all()
        assert mosaic.feather_width((1080, 1920)) == 19 and mosaic.feather_width((90, 160)) == 4


class TestFill:
    def test_a_subject_in_an_uncovered_strip_is_kept(self, scene):
        """Where nothing covers the frame, the frame is copied except where the subject
        crosses into that part; there the plate is extended, so the subject does not
        reappear in its own plate."""
        truth = view(scene, SUBJECT, SIZE)
        covered = np.ones(SIZE, bool)
        covered[:, -120:] = False
        subject = np.zeros(SIZE, bool)
        subject[60:300, 470:640] = True  # a figure standing across the coverage edge
        src = truth.copy()
        src[subject] = (250, 40, 200)
        bgr, inpainted = mosaic.fill_uncovered(truth * covered[..., None], covered, src)
        hole = subject & ~covered
        assert inpainted == pytest.approx(hole.mean(), abs=0.002)  # 5 px majority at the ends
        off = ~covered & ~subject
        off[50:310] = False
        np.testing.assert_array_equal(bgr[off], src[off])  # background: the frame itself
        np.testing.assert_array_equal(bgr[covered], truth[covered])
        # under the subject: the surroundings extended, nowhere near the subject's colour
        inner = hole.copy()
        inner[:64] = inner[296:] = False
        gap = np.abs(bgr[inner].astype(int) - src[inner]).sum(1)
        assert gap.min() > 100 and np.abs(bgr[inner].astype(int) - truth[inner]).mean() < 60

    def test_no_subject_anywhere_copies_the_frame(self, scene):
        truth = view(scene, SUBJECT, SIZE)
        covered = np.ones(SIZE, bool)
        covered[:, :10] = False
        plate = truth.copy()
        plate[~covered] = 0
        bgr, inpainted = mosaic.fill_uncovered(plate, covered, truth)
        assert inpainted == 0.0
        np.testing.assert_array_equal(bgr, truth)

    def test_a_subject_cut_by_the_edge_is_found(self, scene):
        """A subject crossing the coverage edge is extended straight into the uncovered
        strip (the rows it crosses, and only those), with no alpha needed."""
        truth = view(scene, SUBJECT, SIZE)
        covered = np.ones(SIZE, bool)
        covered[:, -100:] = False
        src = truth.copy()
        src[120:260, 480:] = (250, 40, 200)  # a figure running off the right edge
        plate = truth * covered[..., None]
        found = mosaic.subject_at_edge(plate, covered, src)
        assert not (found & covered).any()
        assert found[124:256, -100:].all()  # the rows it crosses, within the 5 px majority
        assert not found[:116].any() and not found[264:].any()
        bgr, inpainted = mosaic.fill_uncovered(plate.copy(), covered, src)
        assert inpainted == pytest.approx(found.mean())
        assert np.abs(bgr[120:260, -100:].astype(int) - src[120:260, -100:]).sum(2).min() > 100
        np.testing.assert_array_equal(bgr[:110, -100:], src[:110, -100:])
        # at 1920 px the verdict is made at 640 px and scaled back: the same rows
        big = [cv2.resize(x, (1920, 1080), interpolation=cv2.INTER_NEAREST)
               for x in (plate, covered.view(np.uint8), src)]
        found = mosaic.subject_at_edge(big[0], big[1].view(bool), big[2])
        assert found[3 * 126:3 * 254, -300:].all() and not found[:3 * 114].any()


class TestKeyframes:
    def test_indices(self):
        assert keyframe_indices(0, 100, 8, 24) == [0, 8, 16, 24]
        assert keyframe_indices(30, 100, 8, 24) == [8, 16, 24, 32, 40, 48]
        assert keyframe_indices(95, 100, 8, 24) == [72, 80, 88, 96]
        assert keyframe_indices(3, 5, 8, 24) == [0]
        assert keyframe_indices(3, 100, 8, 0) == []

    def test_read_forwards_once_and_bounded(self, scene):
        frames = [view(scene, translation(-3 * k, 0) @ SUBJECT, SIZE) for k in range(60)]
        source = ListSource(frames)
        keys = Keyframes(plate.PlateWindow(source, SIZE, n_features=200), step=8, reach=16)
        held = 0
        for centre in range(0, 60, 3):
            got = keys.around(centre)
            assert sorted(got) == keyframe_indices(centre, 60, 8, 16)
            assert all(np.array_equal(f.rgb, frames[i]) for i, f in got.items())
            held = max(held, len(keys.frames))
        assert held <= 2 * 16 // 8 + 1
        assert source.starts == [0]  # one forward pass
        keys.close()


def _pan_clip(scene, n=24, step=6.0, start=48.0):
    """A plate whose camera pans left ``step`` px a frame from ``start`` px right of the
    subject's: its first frames miss a strip on the right that its later frames see."""
    return [view(scene, translation(start - step * k, 0) @ SUBJECT, SIZE) for k in range(n)]


class TestAlignerMosaic:
    @staticmethod
    def _window_only(aligner):
        """The aligner kept to its time-mapped window: plate frame 8 of the pan is framed
        exactly like the subject, and the whole-plate search would rightly pick it, leaving
        nothing for the mosaic to do."""
        aligner.search.widen = lambda picks, *args, **kwargs: (picks, False)
        aligner.search.more = lambda *args, **kwargs: []
        return aligner

    def test_a_keyframe_fills_the_strip(self, scene):
        clip = _pan_clip(scene)
        subject, blob = paste_blob(view(scene, SUBJECT, SIZE), 0.15)
        aligner = self._window_only(plate.PlateAligner(ListSource(clip), SIZE, n_subject=24,
                                                       window=3))
        a = aligner.align(0, subject, blob)
        assert a.plate_index in (0, 1, 2, 3) and not a.fallback
        assert a.valid.mean() < 0.96 and a.covered.mean() > 0.995
        assert a.mosaic and a.mosaic[0][0] in (8, 16, 24)
        truth = view(scene, SUBJECT, SIZE)
        filled = a.covered & ~a.valid & ~blob
        assert np.abs(a.bgr.astype(int) - truth).mean(2)[filled].mean() < 3
        rec = json.loads(json.dumps(a.to_json()))
        assert rec["valid"] < 0.96 and rec["covered"] > 0.995
        assert rec["uncovered"] == pytest.approx(1 - rec["covered"], abs=1e-4)
        assert rec["mosaic"] == a.mosaic
        # without the mosaic the strip is the frame (the blob is not in it)
        bare = self._window_only(plate.PlateAligner(ListSource(clip), SIZE, n_subject=24,
                                                    window=3, mosaic=False))
        b = bare.align(0, subject, blob)
        assert b.mosaic == [] and np.array_equal(b.covered, b.valid)
        np.testing.assert_array_equal(b.bgr[~b.valid & ~blob], subject[~b.valid & ~blob])

    def test_covered_frame_renders_as_before(self, scene):
        """A frame the chosen plate frame covers gets no mosaic: the plate warped and
        colour-matched, exactly."""
        clip = [view(scene, translation(-2 * k, -k) @ _rotation(0, 0.9) @ SUBJECT, SIZE)
                for k in range(6)]
        subject, blob = paste_blob(view(scene, SUBJECT, SIZE), 0.2)
        aligner = plate.PlateAligner(ListSource(clip), SIZE, n_subject=6)
        a = aligner.choose(2, subject, blob)
        assert a.sources == []
        plate_rgb, H = a.plate, a.H
        aligner.render(a, subject)
        assert a.valid.all() and a.covered.all() and a.inpainted == 0.0
        warped = homography.warp_plate(plate_rgb, H, SIZE)[0]
        from howard.align import color
        np.testing.assert_array_equal(a.bgr, color.apply_gain_bias(warped, a.gain, a.bias))

    def test_restarted_aligner_builds_the_same_mosaic(self, scene):
        """Frames after a restart (a resumed run, a cluster chunk's warm-up) have the same
        mosaic, bytes and records as in a continuous run: the keyframes held depend only on
        the frame, not on what was read before."""
        clip = _pan_clip(scene, 36, step=3.0)
        subject, blob = paste_blob(view(scene, SUBJECT, SIZE), 0.15)
        whole = plate.PlateAligner(ListSource(clip), SIZE, n_subject=30, window=2)
        ref = [whole.align(t, subject, blob) for t in range(12)]
        assert any(r.mosaic for r in ref[8:])
        again = plate.PlateAligner(ListSource(clip), SIZE, n_subject=30, window=2)
        again.restore(ref[7].to_json())
        for t in range(8, 12):
            a = again.align(t, subject, blob)
            np.testing.assert_array_equal(a.bgr, ref[t].bgr)
            got, want = a.to_json(), ref[t].to_json()
            got.pop("seconds", None), want.pop("seconds", None)
            assert got == want


@pytest.mark.slow
def test_the_network_keeps_a_subject_no_plate_frame_sees():
    """End to end with the shipped weights: a plate framed 12 % of the width off the shot
    (no plate frame sees the strip on the right) and a person standing in it. Given the
    filled plate, the network keeps the person there (mean alpha over its solid part in the
    strip above 0.8, where a plate filled from the frame itself, as before the mosaic, gives
    under 0.7) and the frame's SAD falls by a quarter or more. 270x480, three clips."""
    from howard.net.infer import Matter, select_device
    from howard.net.weights import load_model
    from howard.synth import clips

    size = (270, 480)
    dev = select_device("cpu")
    matter = Matter(load_model(None, None, refine=True, device=dev, backbone_scale=0.5,
                               sample_pixels=8_000), dev)

    def to8(x):
        return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)

    kept, copied, sad_kept, sad_copied = [], [], [], []
    for seed in range(3):
        plan = clips.plan_clip(seed, size, 8, plate_offset=0.12,
                               person_fn=clips.edge_person(0.9))
        plates = [to8(plan.plate_frame(j)) for j in range(plan.n_plate)]
        truth = plan.subject_frame(4)
        src = to8(truth["src"])
        a = plate.PlateAligner(ListSource(plates), size, n_subject=8).align(
            4, src, plan.subject_frame(2)["pha"])
        strip = ~a.covered & (truth["pha"] > 0.9)
        assert strip.sum() > 2000  # the person stands where no plate frame reaches
        before = homography.fill_border(a.bgr.copy(), src, a.valid)
        for bgr, means, sads in ((a.bgr, kept, sad_kept), (before, copied, sad_copied)):
            pha = matter(src, bgr)["pha"][0]
            means.append(float(pha[strip].mean()))
            sads.append(float(np.abs(pha - truth["pha"]).sum()))
    assert np.mean(kept) > 0.8 and np.mean(copied) < 0.7, (kept, copied)
    assert np.mean(sad_kept) < 0.75 * np.mean(sad_copied), (sad_kept, sad_copied)
