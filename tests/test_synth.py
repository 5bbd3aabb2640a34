"""Synthetic training samples: shapes, ranges, determinism, and the optional figure details."""

import numpy as np

from howard.person import person
from howard.synth import SampleGenerator, same_hue


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
