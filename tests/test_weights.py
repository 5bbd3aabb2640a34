"""Checkpoint discovery, strict loading with clear errors, saving."""

import numpy as np
import pytest
import torch

from howard.errors import WeightsError
from howard.net.infer import Matter, pad_to_multiple
from howard.net.model import build_model
from howard.net.weights import (find_weights, infer_variant, load_model, read_checkpoint,
                            save_checkpoint, sha256)


@pytest.fixture(scope="module")
def mobilenet():
    torch.manual_seed(0)
    return build_model("mobilenetv2")


def test_save_and_reload_is_bit_exact(tmp_path, mobilenet):
    path = save_checkpoint(mobilenet, tmp_path / "m.pth", metadata={"step": 3})
    loaded = load_model(path)
    assert loaded.variant == "mobilenetv2" and not loaded.training
    assert loaded.checkpoint_metadata == {"step": 3}
    for (k, a), (k2, b) in zip(mobilenet.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    assert not list(tmp_path.glob("*.tmp"))


def test_half_checkpoint_loads_as_float_and_is_smaller(tmp_path, mobilenet):
    full = save_checkpoint(mobilenet, tmp_path / "f.pth")
    half = save_checkpoint(mobilenet, tmp_path / "h.pth", half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    sd, variant, _ = read_checkpoint(half)
    assert variant == "mobilenetv2"
    assert sd["decoder.conv1.weight"].dtype == torch.float32
    ref = mobilenet.state_dict()["decoder.conv1.weight"]
    assert torch.allclose(sd["decoder.conv1.weight"], ref, atol=1e-3)


def test_bare_state_dict_with_module_prefix_and_inferred_variant(tmp_path, mobilenet):
    bare = {f"module.{k}": v for k, v in mobilenet.state_dict().items()}
    torch.save(bare, tmp_path / "pytorch_mobilenetv2.pth")
    loaded = load_model(tmp_path / "pytorch_mobilenetv2.pth")
    assert loaded.variant == "mobilenetv2"
    w = loaded.state_dict()["refiner.conv1.weight"]
    assert torch.equal(w, mobilenet.state_dict()["refiner.conv1.weight"])


def test_infer_variant_from_keys():
    assert infer_variant(build_model("resnet50").state_dict()) == "resnet50"
    assert infer_variant(build_model("resnet101", refine=False).state_dict()) == "resnet101"
    with pytest.raises(WeightsError, match="no known backbone"):
        infer_variant({"foo.weight": torch.zeros(1)})


def test_wrong_variant_names_variant_and_keys(tmp_path, mobilenet):
    path = save_checkpoint(mobilenet, tmp_path / "m.pth")
    with pytest.raises(WeightsError) as info:
        load_model(path, variant="resnet50")
    msg = str(info.value)
    assert "resnet50" in msg and "mobilenetv2" in msg
    assert "missing" in msg and "backbone.conv1.weight" in msg
    assert "unexpected" in msg and "backbone.features.0.0.weight" in msg


def test_missing_keys_are_named(tmp_path, mobilenet):
    sd = dict(mobilenet.state_dict())
    del sd["decoder.conv4.bias"]
    torch.save(sd, tmp_path / "partial.pth")
    with pytest.raises(WeightsError, match="decoder.conv4.bias"):
        load_model(tmp_path / "partial.pth")


def test_base_only_checkpoint_needs_refine_false(tmp_path):
    base = build_model("mobilenetv2", refine=False)
    path = save_checkpoint(base, tmp_path / "base.pth")
    assert load_model(path, refine=False).variant == "mobilenetv2"
    with pytest.raises(WeightsError, match="refiner.conv1.weight"):
        load_model(path)


def test_truncated_and_garbage_files_give_clear_error(tmp_path, mobilenet):
    path = save_checkpoint(mobilenet, tmp_path / "m.pth")
    data = path.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated/corrupt"):
        load_model(tmp_path / "cut.pth")
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        load_model(tmp_path / "text.pth")
    torch.save({"a": 1}, tmp_path / "dict.pth")
    with pytest.raises(WeightsError, match="no state_dict"):
        load_model(tmp_path / "dict.pth")


def test_find_weights_by_env_and_missing(tmp_path, monkeypatch, mobilenet):
    path = save_checkpoint(mobilenet, tmp_path / "custom.pth")
    monkeypatch.setenv("HOWARD_WEIGHTS", str(tmp_path))
    assert find_weights("custom.pth") == path
    monkeypatch.setenv("HOWARD_WEIGHTS", str(path))
    assert find_weights(None) == path
    with pytest.raises(WeightsError, match="--weights"):
        find_weights(tmp_path / "nope.pth")
    with pytest.raises(WeightsError, match="not a file"):
        find_weights(tmp_path)
    assert len(sha256(path)) == 64


def test_torchscript_export_loads(tmp_path, mobilenet):
    base = build_model("mobilenetv2", refine=False).eval()
    scripted = torch.jit.trace(base, (torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)))
    scripted.save(str(tmp_path / "ts.pth"))
    loaded = load_model(tmp_path / "ts.pth", refine=False)
    assert torch.equal(loaded.state_dict()["decoder.conv1.weight"],
                       scripted.state_dict()["decoder.conv1.weight"])


def test_pad_to_multiple_and_matter_crop_back(mobilenet):
    x, size = pad_to_multiple(torch.rand(1, 3, 65, 98))
    assert x.shape[-2:] == (68, 100) and size == (65, 98)
    matter = Matter(mobilenet.eval(), torch.device("cpu"))
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (2, 66, 98, 3), dtype=np.uint8)
    out = matter(src, src[:, ::-1].copy())
    assert out["pha"].shape == (2, 66, 98) and out["fgr"].shape == (2, 66, 98, 3)
    assert out["err"].shape == (2, 66, 98) and out["ref"].shape == (2, 66, 98)
    assert all(v.dtype == np.float32 and v.min() >= 0 and v.max() <= 1 for v in out.values())
