"""The OpenVINO backend: agreement with torch, its disk cache and the fallback."""

import copy
import logging

import numpy as np
import pytest
import torch

from howard.net import infer
from howard.net import openvino_backend as ovb
from howard.net.model import build_model

pytest.importorskip("openvino", reason="pip install openvino")

# float32 graphs on both sides: differences are rounding (seen ~1e-6); 1e-4 leaves room
TOL = 1e-4


def _frames(seed=0, size=(96, 128)):
    rng = np.random.default_rng(seed)
    src = rng.integers(0, 256, (1, *size, 3), dtype=np.uint8)
    bgr = src.copy()
    bgr[:, 20:70, 30:90] = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    return src, bgr


def _model(**options):
    torch.manual_seed(0)
    model = build_model("mobilenetv2", backbone_scale=1 / 4, **options).eval()
    with torch.no_grad():  # a livelier random init so the outputs are not all clamped
        model.decoder.conv4.bias.normal_(0.3, 0.3)
    return model


@pytest.mark.parametrize("refiner", [False, True], ids=["base", "base+refiner"])
@pytest.mark.parametrize("mode", ["sampling", "thresholding", "full"])
def test_openvino_matches_torch(mode, refiner, tmp_path):
    model = _model(refine_mode=mode, sample_pixels=2000, threshold=0.0)
    src, bgr = _frames()
    want = infer.Matter(model, torch.device("cpu"))(src, bgr)
    ov = infer.Matter(model, torch.device("cpu"), backend="openvino", precision="f32")
    assert ov.backend == "openvino"
    if refiner:  # the refiner's patch convolutions through OpenVINO too
        net = copy.deepcopy(infer.Matter(model, torch.device("cpu")).model)
        ov.model = ovb.OpenVinoNet(net, "f32", refiner=True, cache=tmp_path).install()
    got = ov(src, bgr)
    assert want["ref"].sum() > 0
    for key in infer.OUTPUTS:
        np.testing.assert_allclose(got[key], want[key], atol=TOL, err_msg=key)


def test_sampling_every_cell_equals_full():
    src, bgr = _frames(1)
    h, w = src.shape[1:3]
    full = infer.Matter(_model(refine_mode="full"), torch.device("cpu"), backend="openvino",
                        precision="f32")
    every = infer.Matter(_model(refine_mode="sampling", sample_pixels=h * w,
                                prevent_oversampling=False), torch.device("cpu"),
                         backend="openvino", precision="f32")
    a, b = full(src, bgr), every(src, bgr)
    assert b["ref"].min() == 1
    for key in ("pha", "fgr"):
        np.testing.assert_allclose(b[key], a[key], atol=TOL, err_msg=key)


# mixed precision: bf16's 8-bit mantissa in the decoder and the refiner; on the shipped
# weights and real frames the alpha moved by 2e-4 on average (README, Speed)
TOL_MIXED = 0.03


@pytest.mark.skipif(not ovb.bf16_supported(), reason="this CPU has no bf16 units")
@pytest.mark.parametrize("mode", ["sampling", "thresholding", "full"])
def test_mixed_precision_close_to_torch(mode, tmp_path, monkeypatch):
    monkeypatch.setenv("HOWARD_CACHE_DIR", str(tmp_path))
    model = _model(refine_mode=mode, sample_pixels=2000, threshold=0.0)
    src, bgr = _frames()
    want = infer.Matter(model, torch.device("cpu"))(src, bgr)
    mixed = infer.Matter(model, torch.device("cpu"), backend="openvino", precision="mixed")
    assert mixed.precision == "mixed"
    got = mixed(src, bgr)
    # almost the same cells refined (a random network's error scores are close, and bf16
    # may reorder near-ties); compared where both chose alike
    same = got["ref"] == want["ref"]
    assert want["ref"].sum() > 0 and same.mean() > 0.98
    for key in ("pha", "fgr"):
        diff = np.abs(got[key] - want[key])
        if key == "fgr":
            diff = diff.max(-1)
        assert diff[same].max() < TOL_MIXED, (key, diff[same].max())
        assert 0 < diff[same].mean() < TOL_MIXED / 3, (key, diff[same].mean())  # bf16 ran


def test_auto_precision_is_mixed_only_with_bf16_units(monkeypatch):
    monkeypatch.setattr(ovb, "bf16_supported", lambda: True)
    assert ovb.resolve_precision("auto") == "mixed"
    assert ovb.resolve_precision("f32") == "f32"
    monkeypatch.setattr(ovb, "bf16_supported", lambda: False)
    assert ovb.resolve_precision("auto") == "f32"
    for asked in ("mixed", "bf16"):
        with pytest.raises(Exception, match="no bf16 support"):
            ovb.resolve_precision(asked)


def test_cache_reused_and_damaged_cache_rebuilt(tmp_path):
    model = _model(sample_pixels=2000)
    src, bgr = _frames()
    net = lambda: ovb.OpenVinoNet(infer.fuse_batchnorm(model), cache=tmp_path,  # noqa
                                  refiner=True).install()
    ovb.STATS.update(converted=0, cached=0)
    first = net()(*(infer.Matter(model).to_tensor(x) for x in (src, bgr)))[0]
    assert ovb.STATS["converted"] == 3 and ovb.STATS["cached"] == 0
    second = net()(*(infer.Matter(model).to_tensor(x) for x in (src, bgr)))[0]
    assert ovb.STATS["converted"] == 3 and ovb.STATS["cached"] == 3  # nothing converted again
    torch.testing.assert_close(first, second)
    for xml in tmp_path.glob("*.xml"):
        xml.write_text("<net>garbage")
    third = net()(*(infer.Matter(model).to_tensor(x) for x in (src, bgr)))[0]
    assert ovb.STATS["converted"] == 6
    torch.testing.assert_close(first, third)


def test_auto_falls_back_to_torch_without_openvino(monkeypatch, caplog):
    monkeypatch.setattr(ovb, "_import_openvino", lambda: None)
    with caplog.at_level(logging.INFO, logger=ovb.__name__):
        assert ovb.resolve_backend("auto", torch.device("cpu")) == "torch"
    assert len([r for r in caplog.records if "OpenVINO" in r.getMessage()]) == 1
    with pytest.raises(Exception, match="openvino package"):
        ovb.resolve_backend("openvino", torch.device("cpu"))


def test_telemetry_is_kept_off(monkeypatch, tmp_path):
    """Converting a model never starts OpenVINO's telemetry, even when its package was
    imported before howard's backend was (as this test module's importorskip may do)."""
    tm = pytest.importorskip("openvino_telemetry")

    def refuse(*args, **kwargs):
        raise AssertionError("telemetry was started")
    monkeypatch.setattr(tm, "Telemetry", refuse)
    ovb._import_openvino()
    from openvino.tools.ovc import telemetry_utils
    assert telemetry_utils.tm is not tm
    model = _model(sample_pixels=2000)
    src, bgr = _frames()
    net = ovb.OpenVinoNet(infer.fuse_batchnorm(model), cache=tmp_path, refiner=True).install()
    net(*(infer.Matter(model).to_tensor(x) for x in (src, bgr)))
    assert ovb.STATS["converted"] >= 3
