"""The BackgroundMattingV2 network: encoder + ASPP + decoder (base), and base + refiner.

State-dict layout (prefixes ``backbone.``, ``aspp.``, ``decoder.``, ``refiner.``) matches the
published checkpoints, so they load with ``strict=True``.

Tensors everywhere: ``src`` (subject frame) and ``bgr`` (aligned plate) are (B,3,H,W) float RGB in
[0,1] without mean/std normalisation; H and W are multiples of 4.
"""

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import build_backbone
from ..errors import InputError
from .refiner import Refiner

VARIANTS = ("mobilenetv2", "resnet50", "resnet101")


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, three dilated 3x3 and a global-pool branch."""

    def __init__(self, cin: int, rates: Sequence[int] = (3, 6, 9), cout: int = 256):
        super().__init__()
        branches = [nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
                                  nn.ReLU(inplace=True))]
        for rate in rates:
            branches.append(nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=rate, dilation=rate, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU(inplace=True)))
        branches.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False),
                                      nn.BatchNorm2d(cout), nn.ReLU(inplace=True)))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(
            nn.Conv2d(cout * len(branches), cout, 1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True), nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        outs = [branch(x) for branch in self.convs[:-1]]
        pooled = self.convs[-1](x)
        outs.append(F.interpolate(pooled, size=size, mode="bilinear", align_corners=False))
        return self.project(torch.cat(outs, dim=1))


class Decoder(nn.Module):
    """Upsample, concatenate the next skip, 3x3 conv; four times, ending at full resolution.

    Args:
        channels: widths ``[256, 128, 64, 48, 37]`` (input, three hidden stages, output).
        skips: widths of the skips x3, x2, x1, x0.
    """

    def __init__(self, channels: Sequence[int], skips: Sequence[int]):
        super().__init__()
        self.conv1 = nn.Conv2d(channels[0] + skips[0], channels[1], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels[1])
        self.conv2 = nn.Conv2d(channels[1] + skips[1], channels[2], 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels[2])
        self.conv3 = nn.Conv2d(channels[2] + skips[2], channels[3], 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels[3])
        self.conv4 = nn.Conv2d(channels[3] + skips[3], channels[4], 3, padding=1, bias=True)
        self.relu = nn.ReLU(inplace=True)

    def _up_cat(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=False)
        return torch.cat([x, skip], dim=1)

    def forward(self, x4, x3, x2, x1, x0) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(self._up_cat(x4, x3))))
        x = self.relu(self.bn2(self.conv2(self._up_cat(x, x2))))
        x = self.relu(self.bn3(self.conv3(self._up_cat(x, x1))))
        return self.conv4(self._up_cat(x, x0))


def check_size(src: torch.Tensor, bgr: torch.Tensor) -> None:
    """Refuse inputs the network cannot take, with a message that says what to do."""
    if src.dim() != 4 or src.shape[1] != 3 or src.shape != bgr.shape:
        raise InputError(f"the network expects src and bgr of the same shape (B,3,H,W); "
                         f"got {tuple(src.shape)} and {tuple(bgr.shape)}")
    h, w = src.shape[-2:]
    if h % 4 or w % 4:
        raise InputError(f"the network needs height and width that are multiples of 4, got "
                         f"{h}x{w}; pad the frames (howard.net.infer.pad_to_multiple does it)")


class MattingBase(nn.Module):
    """Encoder-decoder predicting alpha, foreground, error map and hidden features."""

    def __init__(self, backbone: str = "mobilenetv2"):
        super().__init__()
        if backbone not in VARIANTS:
            raise ValueError(f"unknown backbone {backbone!r}: expected one of {VARIANTS}")
        self.variant = backbone
        self.backbone = build_backbone(backbone)
        deep, *skips = self.backbone.out_channels
        self.aspp = ASPP(deep, (3, 6, 9))
        self.decoder = Decoder([256, 128, 64, 48, 1 + 3 + 1 + 32], list(skips) + [6])

    def raw(self, src: torch.Tensor, bgr: torch.Tensor) -> torch.Tensor:
        """The decoder's 37 channels, before clamping (B,37,H,W)."""
        x4, *skips = self.backbone(torch.cat([src, bgr], dim=1))
        return self.decoder(self.aspp(x4), *skips)

    def forward(self, src: torch.Tensor, bgr: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Returns ``pha`` (B,1,H,W) in [0,1], ``fgr`` (B,3,H,W) in [0,1], ``err`` (B,1,H,W) in
        [0,1] and ``hid`` (B,32,H,W) >= 0."""
        check_size(src, bgr)
        x = self.raw(src, bgr)
        pha = clamp01(x[:, 0:1])
        fgr = clamp01(x[:, 1:4] + src)
        err = clamp01(x[:, 4:5])
        hid = x[:, 5:].relu()
        return pha, fgr, err, hid


class MattingRefine(MattingBase):
    """Base network at reduced resolution plus the error-guided patch refiner.

    Args:
        backbone: ``mobilenetv2``, ``resnet50`` or ``resnet101``.
        backbone_scale: resolution of the base pass relative to the input (<= 1/2).
        refine_mode: ``sampling`` (top-k error cells), ``thresholding`` (cells with err above
            ``threshold``) or ``full`` (every pixel, dense).
        sample_pixels: pixels refined in ``sampling`` mode (cells of 4x4 = sample_pixels // 16).
        threshold: error threshold for ``thresholding``.
        kernel_size: 1 or 3.
        prevent_oversampling: in ``sampling``, drop selected cells whose score is 0.
        uncertain: weight of the coarse alpha's uncertainty in choosing cells besides the
            error map (0: the error map alone, as published; see :mod:`howard.net.refiner`).
    """

    def __init__(self, backbone: str = "mobilenetv2", backbone_scale: float = 1 / 4,
                 refine_mode: str = "sampling", sample_pixels: int = 80_000,
                 threshold: float = 0.1, kernel_size: int = 3,
                 prevent_oversampling: bool = True, uncertain: float = 1.0):
        super().__init__(backbone)
        if not 0 < backbone_scale <= 1 / 2:
            raise ValueError(f"backbone_scale must be in (0, 1/2], got {backbone_scale}")
        self.backbone_scale = backbone_scale
        self.refiner = Refiner(refine_mode, sample_pixels, threshold, kernel_size,
                               prevent_oversampling, uncertain)

    def forward(self, src: torch.Tensor, bgr: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Returns ``pha`` (B,1,H,W), ``fgr`` (B,3,H,W), ``pha_sm``, ``fgr_sm``, ``err_sm``
        (at backbone resolution) and ``ref_sm`` (B,1,H/4,W/4; 1 where a patch was refined)."""
        check_size(src, bgr)
        src_sm = F.interpolate(src, scale_factor=self.backbone_scale, mode="bilinear",
                               align_corners=False, recompute_scale_factor=True)
        bgr_sm = F.interpolate(bgr, scale_factor=self.backbone_scale, mode="bilinear",
                               align_corners=False, recompute_scale_factor=True)
        x = self.raw(src_sm, bgr_sm)
        pha_sm = clamp01(x[:, 0:1])
        fgr_res_sm = x[:, 1:4]
        err_sm = clamp01(x[:, 4:5])
        hid_sm = x[:, 5:].relu()
        pha, fgr_res, ref_sm = self.refiner(src, bgr, pha_sm, fgr_res_sm, err_sm, hid_sm)
        pha = clamp01(pha)
        fgr = clamp01(fgr_res + src)
        fgr_sm = clamp01(fgr_res_sm + src_sm)
        return pha, fgr, pha_sm, fgr_sm, err_sm, ref_sm


def clamp01(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1]. While training, gradients pass through the clamp (straight-through):
    with a hard clamp an output pushed below 0 everywhere gets no gradient and stays an empty
    matte for good. Values are the same either way."""
    if x.requires_grad and torch.is_grad_enabled() and not torch.jit.is_tracing():
        return x + (x.clamp(0.0, 1.0) - x).detach()
    return x.clamp(0.0, 1.0)


def build_model(variant: str = "mobilenetv2", refine: bool = True, **refine_options) -> nn.Module:
    """Build a randomly initialised base or refine network for ``variant``."""
    if refine:
        return MattingRefine(variant, **refine_options)
    if refine_options:
        raise ValueError(f"refine options {sorted(refine_options)} need refine=True")
    return MattingBase(variant)
