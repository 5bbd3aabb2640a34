"""Held-out evaluation families and dim light: deterministic per seed, fractional alpha where
the subject has it, the dim clip the same clip at low exposure. Tiny frames (144x256)."""

import json

import cv2
import numpy as np
import pytest

from howard.io import media
from howard.synth import clips, families, light

SIZE = (144, 256)


def draw(name, seed):
    return families.family(name)(np.random.default_rng(seed), SIZE)


def far_soft(pha: np.ndarray) -> int:
    """Pixels of fractional alpha more than 3 px from any solid pixel: strands, twigs, spokes
    or translucent parts, not the anti-aliased rim of a solid shape."""
    solid = (pha > 0.95).astype(np.uint8)
    dist = cv2.distanceTransform(1 - solid, cv2.DIST_L2, 3)
    return int(((pha > 0.02) & (pha < 0.95) & (dist > 3)).sum())


def plateau(pha: np.ndarray) -> int:
    """Pixels whose whole 3x3 neighbourhood has alpha in (0.25, 0.85): translucent areas."""
    m = ((pha > 0.25) & (pha < 0.85)).astype(np.uint8)
    return int(cv2.erode(m, np.ones((3, 3), np.uint8)).sum())


@pytest.mark.parametrize("name", list(families.FAMILIES))
class TestFamily:
    def test_deterministic_per_seed(self, name):
        fgr, pha = draw(name, 3)
        again_fgr, again_pha = draw(name, 3)
        assert np.array_equal(fgr, again_fgr) and np.array_equal(pha, again_pha)
        assert not np.array_equal(pha, draw(name, 4)[1])

    def test_shapes_and_ranges(self, name):
        fgr, pha = draw(name, 0)
        assert fgr.shape == SIZE + (3,) and pha.shape == SIZE
        assert fgr.dtype == np.float32 and pha.dtype == np.float32
        assert 0 <= pha.min() and pha.max() <= 1 and 0 <= fgr.min() and fgr.max() <= 1
        assert 0.005 < pha.mean() < 0.5  # a subject, not an empty or a full frame
        assert np.all(fgr[pha == 0] == 0)

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_fractional_alpha_beyond_the_rim(self, name, seed):
        assert far_soft(draw(name, seed)[1]) > 40


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plant_has_translucent_leaves(seed):
    assert plateau(draw("plant", seed)[1]) > 10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cloth_is_semi_transparent(seed):
    pha = draw("cloth", seed)[1]
    cloth = pha[(pha > 0.02) & (pha < 0.99)]
    assert 0.2 <= np.median(cloth) <= 0.8
    assert plateau(pha) > 1000


def test_unknown_family_names_the_choices():
    with pytest.raises(ValueError, match="plant"):
        families.family("tree")


def test_dim_clip_is_the_same_clip_darker(tmp_path):
    normal = clips.make_clip(tmp_path / "n", 9, size=SIZE, n_frames=3, subject="fur")
    dim = clips.make_clip(tmp_path / "d", 9, size=SIZE, n_frames=3, subject="fur", light="dim")
    assert normal["frames"] == dim["frames"] and normal["exposure"] == 1.0
    assert 0.05 <= dim["exposure"] <= 0.15 and dim["light"] == "dim" and dim["subject"] == "fur"
    again = clips.make_clip(tmp_path / "d2", 9, size=SIZE, n_frames=3, subject="fur", light="dim")
    assert json.loads((tmp_path / "d2" / "meta.json").read_text()) == again == dim
    for name in ("00000.png", "00002.png"):
        pha_n = media.read_image(tmp_path / "n" / "gt" / "pha" / name)
        assert np.array_equal(pha_n, media.read_image(tmp_path / "d" / "gt" / "pha" / name))
        bgr_n = media.read_image(tmp_path / "n" / "gt" / "bgr" / name).astype(np.float64)
        bgr_d = media.read_image(tmp_path / "d" / "gt" / "bgr" / name).astype(np.float64)
        assert abs(bgr_d.mean() / bgr_n.mean() - dim["exposure"]) < 0.02
    frames = [f for _, f in media.open_source(str(tmp_path / "d" / "subject.mp4")).frames()]
    truth = media.read_image(tmp_path / "d" / "gt" / "bgr" / "00000.png").astype(np.float64)
    assert frames[0].mean() < 0.25 * np.mean(
        [f for _, f in media.open_source(str(tmp_path / "n" / "subject.mp4")).frames()][0])
    assert np.abs(frames[0] - truth).mean() > 1.0  # noisy, well above the normal clip's


def test_sensor_noise_grows_with_the_signal():
    lit = light.Light(exposure=0.1, read=0.005, shot=0.004)
    rng = np.random.default_rng(0)
    flat = np.full((64, 64, 3), 0.02, np.float32), np.full((64, 64, 3), 0.15, np.float32)
    sd = [float((light.sensor(lit, rng, x) - x).std()) for x in flat]
    assert sd[1] > 1.5 * sd[0]
    with pytest.raises(ValueError, match="dim"):
        light.draw_light("night", 1)
