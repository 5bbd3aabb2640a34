"""Whole-frame resizing by OpenCV agrees with torch's bilinear resizing and 2x2 averaging."""

import pytest
import torch
import torch.nn.functional as F

from howard.net import resize

TOL = 1e-4  # measured ~4e-5 on values in [0, 1]


def _x(b=1, c=4, h=36, w=64, channels_last=True, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=g).to(dtype)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@pytest.mark.parametrize("b,c,size", [(1, 4, (108, 192)), (2, 36, (54, 96)), (1, 1, (70, 130)),
                                      (1, 3, (20, 30))], ids=["up3", "batch-36ch", "1ch-odd",
                                                              "down"])
@pytest.mark.parametrize("channels_last", [True, False], ids=["cl", "nchw"])
def test_bilinear_matches_torch(b, c, size, channels_last):
    x = _x(b, c, channels_last=channels_last)
    want = F.interpolate(x, size, mode="bilinear", align_corners=False)
    got = resize.bilinear(x, size)
    assert got.shape == want.shape
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, want, atol=TOL, rtol=0)


@pytest.mark.parametrize("h,w", [(36, 64), (35, 64)], ids=["even", "odd"])
def test_halve_is_the_2x2_mean_or_bilinear(h, w):
    x = _x(2, 3, h, w)
    got = resize.halve(x)
    if h % 2 == 0:
        want = F.avg_pool2d(x, 2)
    else:
        want = F.interpolate(x, (h // 2, w // 2), mode="bilinear", align_corners=False)
    torch.testing.assert_close(got, want, atol=TOL, rtol=0)


def test_other_dtypes_go_through_torch():
    x = _x(dtype=torch.bfloat16)
    got = resize.bilinear(x, (72, 128))
    assert got.dtype == torch.bfloat16
    want = F.interpolate(x, (72, 128), mode="bilinear", align_corners=False)
    assert torch.equal(got, want)


def test_gradients_flow_through_torch():
    x = _x().requires_grad_()
    resize.bilinear(x, (72, 128)).sum().backward()
    resize.halve(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_refiner_runs_in_half_precision_as_on_a_gpu():
    """Half-precision tensors (the CUDA default) go through torch's resizing and stay half
    through the refiner; the alpha agrees with float32 to half's precision."""
    import numpy as np
    from howard.net.infer import Matter
    from howard.net.model import build_model
    torch.manual_seed(0)
    model = build_model("mobilenetv2", backbone_scale=0.25, sample_pixels=2000).eval()
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (1, 96, 128, 3), dtype=np.uint8)
    bgr = src.copy()
    bgr[:, 20:70, 30:90] = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    full = Matter(model, torch.device("cpu"), backend="torch")(src, bgr)
    half = Matter(model, torch.device("cpu"), fp16=True, backend="torch")(src, bgr)
    assert half["ref"].sum() > 0
    assert np.abs(half["pha"] - full["pha"]).mean() < 0.01
