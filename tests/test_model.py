"""The network: layout, parameter counts, shapes, and the refiner's equivalences."""

import pytest
import torch

from howard.errors import InputError
from howard.net.infer import fuse_batchnorm
from howard.net.model import MattingBase, build_model
from howard.net.refiner import Refiner

# (total, base, refiner, entries per prefix) from the published checkpoints' layout.
COUNTS = {
    "mobilenetv2": (5_006_839, 4_991_395, 15_444, (306, 36, 20, 20)),
    "resnet50": (40_247_703, 40_232_259, 15_444, (318, 36, 20, 20)),
    "resnet101": (59_239_831, 59_224_387, 15_444, (624, 36, 20, 20)),
}
PREFIXES = ("backbone.", "aspp.", "decoder.", "refiner.")


def randomize_bn(model, seed=0):
    """Give every BatchNorm non-trivial statistics so eval-mode paths are really exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
    return model


@pytest.mark.parametrize("variant", sorted(COUNTS))
def test_parameter_counts_match_published_layout(variant):
    model = build_model(variant)
    total, base, refiner, entries = COUNTS[variant]
    params = dict(model.named_parameters())
    assert sum(p.numel() for p in params.values()) == total
    assert sum(p.numel() for k, p in params.items() if not k.startswith("refiner.")) == base
    assert sum(p.numel() for k, p in params.items() if k.startswith("refiner.")) == refiner
    sd = model.state_dict()
    assert len(sd) == sum(entries)
    assert tuple(sum(k.startswith(p) for k in sd) for p in PREFIXES) == entries


@pytest.mark.parametrize("variant,shapes", [
    ("mobilenetv2", {
        "backbone.features.0.0.weight": (32, 6, 3, 3),
        "backbone.features.1.conv.0.0.weight": (32, 1, 3, 3),
        "backbone.features.1.conv.1.weight": (16, 32, 1, 1),
        "backbone.features.1.conv.2.running_var": (16,),
        "backbone.features.2.conv.0.0.weight": (96, 16, 1, 1),
        "backbone.features.2.conv.1.0.weight": (96, 1, 3, 3),
        "backbone.features.17.conv.2.weight": (320, 960, 1, 1),
        "backbone.features.17.conv.3.num_batches_tracked": (),
        "aspp.convs.0.0.weight": (256, 320, 1, 1),
        "aspp.convs.3.0.weight": (256, 320, 3, 3),
        "aspp.convs.4.1.weight": (256, 320, 1, 1),
        "aspp.convs.4.2.running_mean": (256,),
        "aspp.project.0.weight": (256, 1280, 1, 1),
        "decoder.conv1.weight": (128, 288, 3, 3),
        "decoder.conv2.weight": (64, 152, 3, 3),
        "decoder.conv3.weight": (48, 80, 3, 3),
        "decoder.conv4.weight": (37, 54, 3, 3),
        "decoder.conv4.bias": (37,),
        "refiner.conv1.weight": (24, 42, 3, 3),
        "refiner.conv2.weight": (16, 24, 3, 3),
        "refiner.conv3.weight": (12, 22, 3, 3),
        "refiner.conv4.weight": (4, 12, 3, 3),
        "refiner.conv4.bias": (4,),
        "refiner.bn3.running_var": (12,),
    }),
    ("resnet50", {
        "backbone.conv1.weight": (64, 6, 7, 7),
        "backbone.layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "backbone.layer4.0.downsample.0.weight": (2048, 1024, 1, 1),
        "backbone.layer4.2.conv3.weight": (2048, 512, 1, 1),
        "aspp.convs.0.0.weight": (256, 2048, 1, 1),
        "decoder.conv1.weight": (128, 768, 3, 3),
        "decoder.conv2.weight": (64, 384, 3, 3),
        "decoder.conv3.weight": (48, 128, 3, 3),
    }),
])
def test_state_dict_keys_and_shapes(variant, shapes):
    sd = build_model(variant).state_dict()
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key
    assert not any(k.startswith("backbone.features.18") or k.startswith("backbone.fc")
                   for k in sd)


def test_mobilenet_output_stride_16_dilated_tail():
    feats = build_model("mobilenetv2", refine=False).backbone.features
    assert feats[14].conv[1][0].stride == (1, 1)
    for i in (15, 16, 17):
        assert feats[i].conv[1][0].dilation == (2, 2)
        assert feats[i].conv[1][0].padding == (2, 2)


@pytest.mark.parametrize("variant", ["mobilenetv2", "resnet50"])
def test_encoder_skips_have_documented_strides(variant):
    enc = build_model(variant, refine=False).backbone.eval()
    x4, x3, x2, x1, x0 = enc(torch.rand(1, 6, 64, 96))
    assert [t.shape[-2:] for t in (x4, x3, x2, x1, x0)] == [
        (4, 6), (8, 12), (16, 24), (32, 48), (64, 96)]
    assert [t.shape[1] for t in (x4, x3, x2, x1)] == list(enc.out_channels)


def test_base_outputs_shapes_and_ranges():
    model = randomize_bn(build_model("mobilenetv2", refine=False)).eval()
    src, bgr = torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96)
    with torch.inference_mode():
        pha, fgr, err, hid = model(src, bgr)
    assert pha.shape == (2, 1, 64, 96) and fgr.shape == (2, 3, 64, 96)
    assert err.shape == (2, 1, 64, 96) and hid.shape == (2, 32, 64, 96)
    for t in (pha, fgr, err):
        assert 0 <= t.min() and t.max() <= 1
    assert hid.min() >= 0


@pytest.mark.parametrize("mode", ["sampling", "thresholding", "full"])
def test_refine_outputs_shapes_and_ranges(mode):
    model = randomize_bn(build_model("mobilenetv2", refine_mode=mode, sample_pixels=1600,
                                     threshold=0.05)).eval()
    src, bgr = torch.rand(1, 3, 128, 160), torch.rand(1, 3, 128, 160)
    with torch.inference_mode():
        pha, fgr, pha_sm, fgr_sm, err_sm, ref_sm = model(src, bgr)
    assert pha.shape == (1, 1, 128, 160) and fgr.shape == (1, 3, 128, 160)
    assert pha_sm.shape == (1, 1, 32, 40) and fgr_sm.shape == (1, 3, 32, 40)
    assert err_sm.shape == (1, 1, 32, 40) and ref_sm.shape == (1, 1, 32, 40)
    for t in (pha, fgr, pha_sm, fgr_sm, err_sm):
        assert 0 <= t.min() and t.max() <= 1
    assert set(ref_sm.unique().tolist()) <= {0.0, 1.0}
    if mode == "sampling":
        assert ref_sm.sum() <= 1600 // 16
    if mode == "full":
        assert ref_sm.min() == 1


def test_model_refuses_sizes_not_multiple_of_4():
    model = build_model("mobilenetv2").eval()
    with pytest.raises(InputError, match="multiples of 4"):
        model(torch.rand(1, 3, 66, 96), torch.rand(1, 3, 66, 96))
    with pytest.raises(InputError, match="same shape"):
        model(torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 100))


def refiner_inputs(seed=0, b=2, h=64, w=96, scale=4):
    g = torch.Generator().manual_seed(seed)
    hs, ws = h // scale, w // scale
    r = lambda *s: torch.rand(*s, generator=g)  # noqa: E731
    return (r(b, 3, h, w), r(b, 3, h, w), r(b, 1, hs, ws), r(b, 3, hs, ws) - 0.5,
            r(b, 1, hs, ws), r(b, 32, hs, ws))


@pytest.mark.parametrize("kernel_size", [1, 3])
def test_sampling_every_cell_equals_full(kernel_size):
    """With every cell selected, patch-wise refinement must equal the dense mode (tol 1e-5)."""
    ref_net = randomize_bn(Refiner("full", kernel_size=kernel_size)).eval()
    inputs = refiner_inputs()
    with torch.inference_mode():
        full = ref_net(*inputs)
        ref_net.mode, ref_net.sample_pixels, ref_net.prevent_oversampling = "sampling", 10**9, False
        for reference in (True, False):
            ref_net.reference = reference
            sampled = ref_net(*inputs)
            assert sampled[2].min() == 1
            for a, b in zip(full[:2], sampled[:2]):
                assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
    assert full[0].std() > 1e-3  # not a constant output


@pytest.mark.parametrize("mode,kernel_size", [("sampling", 3), ("thresholding", 3),
                                              ("sampling", 1)])
def test_gather_path_equals_reference_path(mode, kernel_size):
    """The fast window-gather refinement equals the crop-everything reference (tol 1e-5),
    including cells on the image border where zero padding matters."""
    net = randomize_bn(Refiner(mode, sample_pixels=16 * 40, threshold=0.5,
                               kernel_size=kernel_size)).eval()
    inputs = list(refiner_inputs(seed=1, scale=8))
    inputs[4][:, :, 0, :] = 1.0  # force border cells to be chosen
    with torch.inference_mode():
        net.reference = True
        a = net(*inputs)
        net.reference = False
        b = net(*inputs)
    assert torch.equal(a[2], b[2]) and a[2].sum() > 0
    for x, y in zip(a[:2], b[:2]):
        assert torch.allclose(x, y, atol=1e-5), (x - y).abs().max()


def test_uncertain_alpha_is_refined():
    """A cell whose coarse alpha is 0.5 but whose error map is low is chosen by default, and
    not by the error map alone (the published rule, uncertain=0)."""
    pha = torch.tensor([[[[0.0, 1.0], [0.5, 1.0]]]])
    err = torch.tensor([[[[0.3, 0.2], [0.05, 0.0]]]])
    net = Refiner("sampling", sample_pixels=16 * 2)
    assert net.uncertain == 1.0
    assert net.score(pha, err).flatten().tolist() == pytest.approx([0.3, 0.2, 1.0, 0.0])
    assert net.select(net.score(pha, err)).flatten().tolist() == [1, 0, 1, 0]
    net.uncertain = 0.0
    assert net.select(net.score(pha, err)).flatten().tolist() == [1, 1, 0, 0]
    with pytest.raises(ValueError, match="uncertain"):
        Refiner(uncertain=1.5)


@pytest.mark.parametrize("uncertain", [0.0, 1.0])
def test_forward_refines_uncertain_block(uncertain):
    """Through the whole refiner: a block of coarse alpha 0.5 with zero error is refined only
    when the alpha's uncertainty counts."""
    net = randomize_bn(Refiner("sampling", sample_pixels=16 * 10**4,
                               uncertain=uncertain)).eval()
    src, bgr, pha, fgr, err, hid = refiner_inputs(seed=2, scale=4)
    pha = torch.ones_like(pha)
    pha[:, :, 2:6, 2:6] = 0.5
    err = torch.zeros_like(err)
    with torch.inference_mode():
        ref = net(src, bgr, pha, fgr, err, hid)[2]
    assert (ref.sum() > 0) == bool(uncertain)
    if uncertain:
        assert ref[0, 0, 2:6, 2:6].min() == 1


def test_selection_rules():
    net = Refiner("thresholding", threshold=0.5)
    err = torch.tensor([[[[0.1, 0.6], [0.5, 0.9]]]])
    assert net.select(err).flatten().tolist() == [0, 1, 0, 1]
    net = Refiner("sampling", sample_pixels=16 * 3)
    assert net.select(err).flatten().tolist() == [0, 1, 1, 1]
    zeros = torch.zeros(1, 1, 2, 2)
    assert net.select(zeros).sum() == 0  # prevent_oversampling drops err == 0
    net.prevent_oversampling = False
    assert net.select(zeros).sum() == 3


def test_batchnorm_folding_keeps_outputs():
    model = randomize_bn(build_model("mobilenetv2")).eval()
    fused = fuse_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    src, bgr = torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128)
    with torch.inference_mode():
        for a, b in zip(model(src, bgr), fused(src, bgr)):
            assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()


def test_base_is_trainable_one_step():
    model = build_model("mobilenetv2", refine=False).train()
    assert isinstance(model, MattingBase)
    src, bgr = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    pha, *_ = model(src, bgr)
    pha.mean().backward()
    assert model.backbone.features[0][0].weight.grad is not None


def test_training_gradients_pass_the_clamp():
    """An alpha pushed below 0 everywhere still learns (no dead, empty matte)."""
    from howard.net.model import clamp01

    x = torch.full((1, 1, 4, 4), -3.0, requires_grad=True)
    y = clamp01(x)
    assert torch.equal(y, torch.zeros_like(y))
    (y - 1).abs().mean().backward()
    assert (x.grad < 0).all()
    with torch.no_grad():
        assert torch.equal(clamp01(x), torch.zeros_like(x))
