"""Dim shots: the gain and filter before the network, the foreground colour after it, and the
setting through the matte command (recorded, refused on a resume that changes it)."""

import json

import numpy as np
import pytest
import torch

from howard.errors import InputError
from howard.net import exposure, infer
from howard.net.model import build_model

from test_pipeline import _matte, clip  # noqa: F401


def _pair(level, seed=0, size=(64, 96)):
    """A textured plate at ``level`` of full brightness and a frame with a square on it."""
    rng = np.random.default_rng(seed)
    bgr = rng.uniform(0.2, 1.0, (1, 3, *size)).astype(np.float32) * level
    src = bgr.copy()
    src[:, :, 16:48, 24:72] = rng.uniform(0.0, 1.0, (3, 32, 48)) * level
    return torch.from_numpy(src), torch.from_numpy(bgr)


def test_a_well_exposed_pair_is_left_as_it_is():
    src, bgr = _pair(1.0)
    s, b, g = exposure.brighten(src, bgr)
    assert g is None and s is src and b is bgr


def test_a_dim_pair_is_brought_up_to_the_target_and_smoothed():
    src, bgr = _pair(0.1)
    s, b, g = exposure.brighten(src, bgr)
    assert g is not None and 4.0 < float(g[0]) < 6.0  # 0.5 / (about 0.1)
    raw = (bgr * g.view(-1, 1, 1, 1)).clamp(0, 1)
    assert abs(float(torch.quantile(raw[:, :, ::8, ::8].reshape(-1), 0.99)) - 0.5) < 0.01
    assert abs(float(b.mean()) - float(raw.mean())) < 0.01
    # smoothed: neighbouring pixels of the noisy texture differ less than the brightened input
    assert b.diff(dim=-1).abs().mean() < 0.6 * raw.diff(dim=-1).abs().mean()


def test_a_black_plate_gets_at_most_the_largest_gain():
    src, bgr = _pair(0.0)
    _, _, g = exposure.brighten(src, bgr)
    assert float(g[0]) == exposure.MAX_GAIN


def test_each_sample_of_a_batch_gets_its_own_gain():
    bright, dim = _pair(1.0), _pair(0.1, seed=1)
    src, bgr = torch.cat([bright[0], dim[0]]), torch.cat([bright[1], dim[1]])
    s, b, g = exposure.brighten(src, bgr)
    assert float(g[0]) == 1.0 and float(g[1]) > 4.0
    assert torch.equal(s[0], src[0]) and torch.equal(b[0], bgr[0])


def test_the_foreground_colour_comes_back_at_the_frames_exposure():
    src, bgr = _pair(0.1)
    src[:, :, 20, 30] = 0.3  # a highlight that the gain clips
    seen, _, g = exposure.brighten(src, bgr)
    residual = torch.full_like(src, 0.05)
    fgr = (seen + residual).clamp(0, 1)
    out = exposure.restore_fgr(fgr, seen, src, g)
    inside = fgr < 1  # where the network's colour was not clipped
    want = (src + residual / g.view(-1, 1, 1, 1)).clamp(0, 1)
    assert torch.allclose(out[inside], want[inside], atol=1e-6)
    assert torch.allclose(exposure.restore_fgr(seen, seen, src, g), src, atol=1e-6)
    assert abs(float(out[0, 0, 20, 30]) - 0.3) < 0.05  # the highlight keeps its level


def test_matter_changes_only_dim_pairs():
    torch.manual_seed(0)
    model = build_model("mobilenetv2", backbone_scale=1 / 4, sample_pixels=2000).eval()
    with torch.no_grad():
        model.decoder.conv4.bias.normal_(0.3, 0.3)
    auto = infer.Matter(model, torch.device("cpu"), backend="torch")
    off = infer.Matter(model, torch.device("cpu"), backend="torch", low_light="off")
    for level, same in ((1.0, True), (0.08, False)):
        src, bgr = (np.uint8(np.round(x[0].permute(1, 2, 0).numpy() * 255)) for x in _pair(level))
        a, b = auto(src, bgr), off(src, bgr)
        assert np.array_equal(a["pha"], b["pha"]) == same
    with pytest.raises(Exception, match="low_light"):
        infer.Matter(model, torch.device("cpu"), low_light="maybe")


def test_the_matte_command_records_it_and_a_resume_may_not_change_it(clip, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    _matte(clip, out, outputs="pha", low_light="off")
    assert json.loads((out / "howard.json").read_text())["settings"]["low_light"] == "off"
    before = sorted(p.stat().st_mtime_ns for p in (out / "pha").iterdir())
    with pytest.raises(InputError, match="low_light"):
        _matte(clip, out, outputs="pha", resume=True)  # the default is auto
    assert sorted(p.stat().st_mtime_ns for p in (out / "pha").iterdir()) == before
