"""Synthetic handheld clips: determinism, exact plate -> subject homographies, truth files,
camera and exposure bounds, and decodable videos. Tiny clips (96x160, 6 frames)."""

import json

import cv2
import numpy as np
import pytest

from howard.synth import clips

from howard.io import media

SIZE, N = (96, 160), 6


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("clip") / "a"
    meta = clips.make_clip(out, seed=5, size=SIZE, n_frames=N, crf=18)
    return out, meta


@pytest.fixture(scope="module")
def plan():
    return clips.plan_clip(5, SIZE, N)


def read_unit(path) -> np.ndarray:
    """A PNG as float64 in 0-1 (8- or 16-bit, grey or RGB as stored; colour order RGB)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img.astype(np.float64) / (65535.0 if img.dtype == np.uint16 else 255.0)


def files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in (".png", ".json")}


def test_same_seed_same_bytes(clip, tmp_path):
    out, meta = clip
    again = clips.make_clip(tmp_path / "b", seed=5, size=SIZE, n_frames=N, crf=18)
    first, second = files(out), files(tmp_path / "b")
    assert len(first) == 3 * N + 1 and first == second
    assert again == meta
    other = clips.plan_clip(6, SIZE, N)
    assert not np.allclose(other.subject_cams, clips.plan_clip(5, SIZE, N).subject_cams)


def test_meta(clip):
    out, meta = clip
    assert json.loads((out / "meta.json").read_text()) == meta
    assert (meta["seed"], meta["size"], meta["fps"]) == (5, list(SIZE), 24.0)
    assert (meta["n_subject"], meta["n_plate"]) == (N, 7)  # round(6 * 1.2)
    assert [f["plate_index"] for f in meta["frames"]] == [t * 7 // N for t in range(N)]
    gain = np.array(meta["plate_exposure"]["gain"])
    bias = np.array(meta["plate_exposure"]["bias"])
    assert gain.shape == bias.shape == (7, 3)
    assert gain.min() >= 0.85 and gain.max() <= 1.15 and np.abs(bias).max() <= 0.05
    assert meta["frames"][2]["plate_gain"] == meta["plate_exposure"]["gain"][2 * 7 // N]


def test_homography_maps_plate_onto_true_background(clip, plan):
    """The clean plate view warped by the recorded homography is the subject frame's true
    background (gt/bgr): mean abs error < 0.01 where both frames see the scene, 4 px in."""
    out, meta = clip
    h, w = SIZE
    for f in meta["frames"]:
        H = np.array(f["homography"])
        plate = plan.plate_view(f["plate_index"])
        warped = cv2.warpPerspective(plate, H, (w, h), flags=cv2.INTER_LINEAR)
        valid = cv2.warpPerspective(np.ones((h, w), np.uint8), H, (w, h),
                                    flags=cv2.INTER_NEAREST)
        valid = cv2.erode(valid, np.ones((9, 9), np.uint8)).astype(bool)
        assert valid.mean() > 0.5
        truth = read_unit(out / "gt" / "bgr" / f"{f['index']:05d}.png")
        err = np.abs(warped - truth)[valid].mean()
        assert err < 0.01, (f["index"], err)
        # the test has teeth: the same plate unwarped is clearly off
        assert np.abs(plate - truth)[valid].mean() > 3 * err


def test_truth_composes_the_subject_frame(clip, plan):
    """pha * fgr + (1 - pha) * bgr from the PNGs is the clean subject frame (8-bit truth:
    within 2/255 on average) and the person is there and moves."""
    out, _ = clip
    centroids = []
    for t in range(N):
        pha = read_unit(out / "gt" / "pha" / f"{t:05d}.png")[..., None]
        fgr = read_unit(out / "gt" / "fgr" / f"{t:05d}.png")
        bgr = read_unit(out / "gt" / "bgr" / f"{t:05d}.png")
        src = plan.subject_frame(t)["src"]
        assert np.abs(pha * fgr + (1 - pha) * bgr - src).mean() < 2 / 255
        assert 0.02 < pha.mean() < 0.9 and ((pha > 0) & (pha < 1)).any()
        ys, xs = np.nonzero(pha[..., 0] > 0.5)
        centroids.append(xs.mean())
    assert abs(centroids[-1] - centroids[0]) > 1.0  # px


def test_plate_exposure(plan):
    j = 3
    expect = np.clip(plan.plate_view(j) * plan.gain[j] + plan.bias[j], 0, 1)
    np.testing.assert_allclose(plan.plate_frame(j), expect, atol=1e-6)


def test_cameras_stay_inside_scene(plan):
    h, w = SIZE
    sh, sw = plan.scene.shape[:2]
    corners = np.array([[0, w - 1, w - 1, 0], [0, 0, h - 1, h - 1], [1, 1, 1, 1]], float)
    for cam in np.concatenate([plan.subject_cams, plan.plate_cams]):
        p = np.linalg.inv(cam) @ corners
        x, y = p[:2] / p[2]
        assert x.min() >= 0 and y.min() >= 0 and x.max() <= sw - 1 and y.max() <= sh - 1


def test_smooth_track_bounds():
    rng = np.random.default_rng(0)
    track = clips.smooth_track(rng, 200, 24, 2.0)
    assert np.abs(track).max() <= 2.0 and np.abs(track).max() > 0.2
    # smooth: the frame-to-frame change is a small part of the range
    assert np.abs(np.diff(track)).max() < 0.25 * np.ptp(track)


def test_videos_decode(clip):
    out, _ = clip
    subject, plate = media.open_source(out / "subject.mp4"), media.open_source(out / "plate.mp4")
    assert (subject.size, plate.size) == (SIZE, SIZE)
    assert (subject.count(), plate.count()) == (N, 7)
    # content survives: noise 0.01 plus H.264 at crf 18 leave under 0.03 mean abs error
    t, frame = next(iter(subject))
    clean = clips.plan_clip(5, SIZE, N).subject_frame(t)["src"]
    assert np.abs(frame / 255.0 - clean).mean() < 0.03


def test_make_set_and_bad_size(tmp_path):
    metas = clips.make_set(tmp_path, 2, seed=1, size=(32, 48), n_frames=2, write_gt=False)
    assert [m["seed"] for m in metas] == [1000, 1001]
    assert sorted(p.name for p in (tmp_path / "clip_001").iterdir()) == [
        "meta.json", "plate.mp4", "subject.mp4"]
    with pytest.raises(ValueError):
        clips.plan_clip(0, (95, 160), 2)


def test_closeup_person_magnifies_the_chest():
    size = (96, 160)
    full = clips.samples.person(np.random.default_rng(4), size)[1]
    fgr, pha = clips.closeup_person(2.5)(np.random.default_rng(4), size)
    assert fgr.shape == (*size, 3) and pha.shape == size
    assert 0 <= pha.min() and pha.max() <= 1 and 0 <= fgr.min() and fgr.max() <= 1
    assert pha.mean() > 2 * full.mean()  # the figure fills much more of the frame
    assert pha[int(0.4 * size[0]), int(0.45 * size[1])] > 0.99  # the chest at the anchor
    assert pha[-1].max() > 0.5  # and runs off the bottom edge
    with pytest.raises(ValueError):
        clips.closeup_person(0.5)
    plan = clips.plan_clip(3, size, 2, person_fn=clips.closeup_person(2.0))
    assert plan.subject_frame(1)["pha"].mean() > 0.2


class TestPlateFraming:
    """A plate framed off the shot (``plate_pan``, ``plate_offset``) and a person at the edge."""

    def test_plate_shift(self):
        np.testing.assert_allclose(clips.plate_shift(5, 100, pan=0.1), [10, 5, 0, -5, -10])
        np.testing.assert_allclose(clips.plate_shift(3, 100, offset=0.2), [20, 20, 20])
        np.testing.assert_allclose(clips.plate_shift(1, 100, pan=0.1, offset=0.1), [20])

    def test_zero_leaves_the_clip_as_it_was(self, plan):
        same = clips.plan_clip(5, SIZE, N, plate_pan=0.0, plate_offset=0.0)
        np.testing.assert_array_equal(same.plate_cams, plan.plate_cams)
        np.testing.assert_array_equal(same.scene, plan.scene)

    def test_offset_leaves_a_strip_on_the_right(self):
        """Shifting the plate by 10 % of the width leaves the 16 px on the right of every
        subject frame unseen (without shake, exactly), and with shake the recorded
        homography still maps the plate onto the true background."""
        h, w = SIZE
        still = clips.plan_clip(5, SIZE, N, plate_offset=0.1, shake=0.0)
        for t in range(N):
            ones = cv2.warpPerspective(np.ones((h, w), np.uint8), still.homography(t), (w, h),
                                       flags=cv2.INTER_NEAREST)
            assert (ones[:, -16:] == 0).all() and ones[:, :-17].all()
        off = clips.plan_clip(5, SIZE, N, plate_offset=0.1)
        for t in range(N):
            H = off.homography(t)
            ones = cv2.warpPerspective(np.ones((h, w), np.uint8), H, (w, h),
                                       flags=cv2.INTER_NEAREST)
            assert (ones[h // 2, -8:] == 0).all()
            view = cv2.warpPerspective(off.plate_view(off.plate_index(t)), H, (w, h))
            inside = cv2.erode(ones, np.ones((9, 9), np.uint8)).astype(bool)
            assert np.abs(view - off.background(t))[inside].mean() < 0.01

    def test_pan_moves_the_strip_across(self):
        h, w = SIZE
        pan = clips.plan_clip(5, SIZE, N, plate_pan=0.2, shake=0.0)
        first, last = (cv2.warpPerspective(np.ones((h, w), np.uint8), pan.homography(t),
                                           (w, h), flags=cv2.INTER_NEAREST)[h // 2]
                       for t in (0, N - 1))
        # without shake: 32 px missed on the right at first; later the plate frames lie on
        # the other side of the shot (the last subject frame maps to plate frame 5 of 7)
        assert (first[-32:] == 0).all() and first[:-33].all()
        assert (last[:8] == 0).all() and last[-1] == 1

    def test_edge_person(self):
        size = (96, 160)
        fgr, pha = clips.edge_person(0.9)(np.random.default_rng(4), size)
        middle = clips.samples.person(np.random.default_rng(4), size)[1]
        assert fgr.shape == (*size, 3) and 0 <= pha.min() and pha.max() <= 1
        xs = np.nonzero(pha > 0.5)[1]
        assert xs.max() == size[1] - 1 and xs.min() > 0.6 * size[1]  # cut by the right edge
        assert abs(middle.sum() - pha.sum()) > 0.05 * middle.sum()  # part of it left the frame
        with pytest.raises(ValueError):
            clips.edge_person(1.5)
