"""Whole-frame resizing for the refiner's inputs and outputs, by OpenCV where it can.

At 1080p the refiner's glue resizes whole tensors three times a frame: the coarse alpha and
foreground (4 channels) to full size, the hidden features (36 channels) to half size, and the
frame and plate to half size. torch's CPU kernels took 40-60 ms each; ``cv2.resize`` on the
same memory (a channels-last tensor is an HxWxC array) takes 6 ms, 26 ms and a few ms (2
cores). The results agree with ``F.interpolate(..., mode="bilinear", align_corners=False)`` to
about 4e-5 on values in [0, 1], below what a 16-bit file keeps; for an even-sized frame,
halving is the mean of each 2x2 block, as ``avg_pool2d`` (and bilinear halving) gives it.

Anything OpenCV does not take (another device, a dtype other than float32, more than 512
channels, a tensor a gradient flows through while training) goes through torch as before.
"""

from typing import Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def _hwc(x: torch.Tensor, i: int):
    """Sample ``i`` of a (B,C,H,W) CPU float32 tensor as an HxWxC array (no copy when ``x`` is
    channels-last)."""
    return np.ascontiguousarray(x[i].permute(1, 2, 0).numpy())


def _opencv_ok(x: torch.Tensor) -> bool:
    """OpenCV takes it: a CPU float32 tensor that no gradient has to flow through."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and x.shape[1] <= 512
            and not (x.requires_grad and torch.is_grad_enabled()))


def _stack(arrays) -> torch.Tensor:
    """HxWxC arrays -> a (B,C,H,W) channels-last tensor sharing their memory when B is 1."""
    hwc = arrays[0][None] if len(arrays) == 1 else np.stack(arrays)
    if hwc.ndim == 3:  # OpenCV drops a channel axis of size 1
        hwc = hwc[..., None]
    return torch.from_numpy(hwc).permute(0, 3, 1, 2)


def bilinear(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """``x`` (B,C,h,w) resized to ``size`` (H, W), bilinear, half-pixel centres; channels-last."""
    if not _opencv_ok(x):
        return F.interpolate(x.contiguous(memory_format=torch.channels_last), size,
                             mode="bilinear", align_corners=False)
    h, w = size
    out = [cv2.resize(_hwc(x, i), (w, h), interpolation=cv2.INTER_LINEAR)
           for i in range(x.shape[0])]
    return _stack(out)


def halve(x: torch.Tensor) -> torch.Tensor:
    """``x`` (B,C,H,W) at half size: the mean of each 2x2 block (H and W even), else bilinear;
    channels-last."""
    H, W = x.shape[-2:]
    if H % 2 or W % 2:
        return bilinear(x, (H // 2, W // 2))
    if not _opencv_ok(x):
        return F.avg_pool2d(x.contiguous(memory_format=torch.channels_last), 2)
    out = [cv2.resize(_hwc(x, i), (W // 2, H // 2), interpolation=cv2.INTER_AREA)
           for i in range(x.shape[0])]
    return _stack(out)
