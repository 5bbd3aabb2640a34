"""Synthetic training samples: shapes, ranges, determinism, the optional figure details, and
shadows on the ground."""

import numpy as np

from howard.synth.person import person
from howard.synth.samples import SampleGenerator, _ground_shadow, same_hue


def test_sample_shapes_ranges_and_determinism():
    gen = SampleGenerator(seed=5, empty=0.0)
    a, b = gen.sample(3, (96, 128)), gen.sample(3, (96, 128))
    for k in ("src", "bgr", "fgr"):
        assert a[k].shape == (96, 128, 3) and a[k].dtype == np.float32
        assert 0 <= a[k].min() and a[k].max() <= 1
        assert np.array_equal(a[k], b[k])
    assert a["pha"].shape == (96, 128)
    frac = (a["pha"] > 0.02) & (a["pha"] < 0.98)
    assert a["pha"].max() == 1 and frac.any()  # a solid subject with soft edges
    other = gen.sample(4, (96, 128))
    assert not np.array_equal(a["pha"], other["pha"])


def test_batch_is_nchw():
    batch = SampleGenerator(seed=1).batch(range(3), (64, 96))
    assert batch["src"].shape == (3, 3, 64, 96) and batch["pha"].shape == (3, 1, 64, 96)


def test_details_change_only_the_figure():
    plain, rich = SampleGenerator(seed=9, empty=0.0), SampleGenerator(seed=9, empty=0.0,
                                                                      details=True)
    changed = 0
    for i in range(6):
        p, r = plain.sample(i, (192, 128)), rich.sample(i, (192, 128))
        # the same random stream: background, plate errors and placement are unchanged
        assert np.array_equal(p["bgr"], r["bgr"])
        assert np.abs(p["pha"] - r["pha"]).mean() < 0.02
        changed += int(np.abs(p["fgr"] - r["fgr"]).max() > 0.1)
    assert changed >= 4  # most figures got a face, headwear or tattoos


def test_person_details_keep_the_generator_stream():
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    f1, a1 = person(r1, (160, 120), details=True)
    f2, a2 = person(r2, (160, 120))
    assert r1.random() == r2.random()
    assert 0 <= a1.min() and a1.max() <= 1 and not np.array_equal(f1, f2)


def test_outdoor_replaces_only_the_background():
    plain = SampleGenerator(seed=4, empty=0.0)
    off = SampleGenerator(seed=4, empty=0.0, outdoor=0.0, camouflage=0.0)
    out = SampleGenerator(seed=4, empty=0.0, outdoor=1.0)
    for i in range(3):
        p, o, x = plain.sample(i, (128, 96)), off.sample(i, (128, 96)), out.sample(i, (128, 96))
        assert all(np.array_equal(p[k], o[k]) for k in p)  # probabilities of 0 change nothing
        assert np.array_equal(p["pha"], x["pha"]) and np.array_equal(p["fgr"], x["fgr"])
        assert np.abs(p["bgr"] - x["bgr"]).mean() > 0.05


def test_camouflage_moves_a_patch_of_the_subject_towards_the_background():
    plain = SampleGenerator(seed=6, empty=0.0)
    camo = SampleGenerator(seed=6, empty=0.0, camouflage=1.0, camouflage_hue=0.0)
    closer = 0
    for i in range(6):
        p, c = plain.sample(i, (160, 120)), camo.sample(i, (160, 120))
        assert np.array_equal(p["pha"], c["pha"]) and np.array_equal(p["bgr"], c["bgr"])
        changed = np.abs(p["fgr"] - c["fgr"]).max(axis=2) > 0.02
        assert not (changed & (p["pha"] == 0)).any()  # only where the subject is
        if changed.sum() < 20:
            continue
        bg = p["bgr"][changed]  # the plate: the background behind the patch
        closer += int(np.abs(c["fgr"][changed] - bg).mean() < np.abs(p["fgr"][changed] - bg).mean())
    assert closer >= 3


def test_same_hue_keeps_the_hue_and_changes_saturation_or_brightness():
    rng = np.random.default_rng(0)
    sky = np.array([0.75, 0.93, 0.98], np.float32)
    for _ in range(50):
        c = same_hue(rng, sky)
        assert c.shape == (3,) and 0 <= c.min() and c.max() <= 1
        a, b = sky - sky.mean(), c - c.mean()
        cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))
        assert cos > 0.95  # the same hue
        assert np.abs(c - sky).max() > 0.15  # but plainly another colour


def test_camouflage_of_the_same_hue_stays_distinct_from_the_background():
    near = SampleGenerator(seed=6, empty=0.0, camouflage=1.0, camouflage_hue=0.0)
    hue = SampleGenerator(seed=6, empty=0.0, camouflage=1.0, camouflage_hue=1.0)
    gaps = []
    for i in range(6):
        n, h = near.sample(i, (160, 120)), hue.sample(i, (160, 120))
        assert np.array_equal(n["pha"], h["pha"]) and np.array_equal(n["bgr"], h["bgr"])
        changed = (np.abs(n["fgr"] - h["fgr"]).max(axis=2) > 0.02) & (n["pha"] > 0.5)
        if changed.sum() < 20:
            continue
        bg = n["bgr"][changed]
        gaps.append((np.abs(h["fgr"][changed] - bg).mean(), np.abs(n["fgr"][changed] - bg).mean()))
    assert len(gaps) >= 3
    assert sum(g_hue > g_near for g_hue, g_near in gaps) >= len(gaps) - 1


def test_closeup_zooms_into_the_subject():
    plain = SampleGenerator(seed=8, empty=0.0)
    off = SampleGenerator(seed=8, empty=0.0, closeup=0.0)
    close = SampleGenerator(seed=8, empty=0.0, closeup=1.0)
    bigger = 0
    for i in range(5):
        p, o, c = plain.sample(i, (128, 96)), off.sample(i, (128, 96)), close.sample(i, (128, 96))
        assert all(np.array_equal(p[k], o[k]) for k in p)
        assert 0 <= c["pha"].min() and c["pha"].max() <= 1
        inside = c["pha"] == 1  # colour and alpha moved together: the frame shows the subject
        assert inside.sum() > 100
        assert np.abs(c["src"][inside] - c["fgr"][inside]).mean() < 0.05
        bigger += int(c["pha"].mean() > 1.5 * p["pha"].mean())
    assert bigger >= 4


def _standing(h=200, w=160, foot=150):
    """A rectangle 'figure' whose lowest row is ``foot - 1``."""
    pha = np.zeros((h, w), np.float32)
    pha[60:foot, 70:90] = 1
    return pha


def test_ground_shadow_touches_the_feet_and_only_darkens():
    pha, bg = _standing(), np.full((200, 160, 3), 0.8, np.float32)
    for seed in range(6):
        out = _ground_shadow(np.random.default_rng(seed), pha, bg)
        assert out.shape == bg.shape and out.dtype == np.float32
        assert (out <= bg + 1e-6).all()
        # just under the feet the ground is in contact shadow, wherever the cast part falls
        assert min(out[r, 74:86].mean() for r in range(149, 154)) < 0.8 * 0.75
        # and a corner far from the figure keeps its colour
        assert np.allclose(out[:10, :10], 0.8)


def test_ground_shadow_needs_the_feet_in_the_frame():
    bg = np.full((200, 160, 3), 0.5, np.float32)
    rng = np.random.default_rng(0)
    assert np.array_equal(_ground_shadow(rng, _standing(foot=200), bg), bg)  # cut off by the edge
    assert np.array_equal(_ground_shadow(rng, np.zeros((200, 160), np.float32), bg), bg)


def test_ground_changes_only_the_scene_in_the_frame():
    off, on = SampleGenerator(seed=6, empty=0.0), SampleGenerator(seed=6, empty=0.0, ground=1.0)
    darker = 0
    for i in range(8):
        a, b = off.sample(i, (160, 128)), on.sample(i, (160, 128))
        for k in ("bgr", "pha", "fgr"):  # the plate lacks the shadow; the subject is unchanged
            assert np.array_equal(a[k], b[k])
        darker += int((a["src"] - b["src"]).mean() > 1e-3)
    assert darker >= 1


def test_shoes_cover_the_ends_of_the_legs():
    from howard.synth.person import _Canvas, _shoes
    H, W = 200, 200
    feet, width = [(60.0, 150.0), (140.0, 150.0)], 16.0
    for seed in range(8):
        cv = _Canvas(H, W)
        _shoes(np.random.default_rng(seed), cv, lambda: np.zeros((H, W), np.uint8), feet,
               width, ph=160.0)
        assert 0 <= cv.col.min() and cv.col.max() <= 1 and cv.a.max() == 1
        for fx, fy in feet:  # each foot is covered, down to a little under the leg's end
            assert cv.a[int(fy), int(fx)] == 1 and cv.a[int(fy + 5), int(fx)] == 1
        ys, xs = np.nonzero(cv.a > 0)
        assert ys.min() > 150 - 2 * width and ys.max() < 150 + width


def _cutout_folder(folder):
    """One RGBA cut-out: a red disc with a soft edge on a transparent square."""
    import cv2
    folder.mkdir()
    yy, xx = np.mgrid[:80, :80]
    alpha = np.clip(30 - np.hypot(yy - 40, xx - 40), 0, 1)
    rgba = np.dstack([np.zeros((80, 80)), np.zeros((80, 80)), np.ones((80, 80)), alpha])
    cv2.imwrite(str(folder / "disc.png"), np.uint8(np.round(rgba * 255)))
    return folder


def test_fg_share_sets_how_often_the_folder_subject_is_drawn(tmp_path):
    folder = _cutout_folder(tmp_path / "cutouts")
    size, n = (64, 96), 24

    def red_share(gen):
        b = gen.batch(range(n), size)
        fg = b["pha"][:, 0] > 0.5
        red = b["fgr"][:, 0] - np.maximum(b["fgr"][:, 1], b["fgr"][:, 2]) > 0.4
        return np.mean([(r & f).sum() > 0.8 * f.sum() > 0 for r, f in zip(red, fg)])

    always = SampleGenerator(seed=4, fg_dirs=[folder], fg_share=1.0, empty=0.0)
    never = SampleGenerator(seed=4, fg_dirs=[folder], fg_share=0.0, empty=0.0)
    assert red_share(always) == 1.0
    assert red_share(never) == 0.0
    again = SampleGenerator(seed=4, fg_dirs=[folder], fg_share=1.0, empty=0.0)
    a, b = always.sample(3, size), again.sample(3, size)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_bg_share_sets_whether_the_folder_backgrounds_are_used(tmp_path):
    import cv2
    folders = []
    for name, colour in (("green", (0, 255, 0)), ("blue", (255, 0, 0))):
        folder = tmp_path / name
        folder.mkdir()
        cv2.imwrite(str(folder / "plain.png"), np.full((100, 150, 3), colour, np.uint8))
        folders.append(folder)
    unused = [SampleGenerator(seed=6, bg_dirs=[f], bg_share=0.0).sample(2, (48, 64))
              for f in folders]
    assert all(np.array_equal(unused[0][k], unused[1][k]) for k in unused[0])
    used = [SampleGenerator(seed=6, bg_dirs=[f], bg_share=1.0).sample(2, (48, 64))
            for f in folders]
    green, blue = (u["bgr"].reshape(-1, 3).mean(0) for u in used)
    assert green[1] > green[2] + 0.3 and blue[2] > blue[1] + 0.3
