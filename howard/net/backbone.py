"""Encoders for the matting network: MobileNetV2 and ResNet-50/101, in plain PyTorch.

The module layouts (and so the state_dict keys) follow the usual ImageNet classification
networks, so that published BackgroundMattingV2 checkpoints and ImageNet initialisations load
unchanged. Both encoders take the 6-channel ``cat([src, bgr])`` input and run at output stride 16
(the last stage is dilated instead of strided).

Every encoder returns ``(x4, x3, x2, x1, x0)``: the 1/16 features, then the skips at 1/8, 1/4,
1/2 and the input itself.
"""

from typing import List, Tuple

import torch
from torch import nn

Features = Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class ConvBNAct(nn.Sequential):
    """Conv (no bias) + BatchNorm + ReLU6: keys ``0`` (conv) and ``1`` (bn)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 dilation: int = 1):
        padding = (kernel - 1) // 2 * dilation
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, padding, dilation=dilation, groups=groups,
                      bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: optional 1x1 expansion, depthwise 3x3, 1x1 linear projection."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int, dilation: int = 1):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers: List[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNAct(cin, hidden, kernel=1))
        layers += [
            ConvBNAct(hidden, hidden, stride=stride, groups=hidden, dilation=dilation),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


# (expand ratio t, channels c, repeats n, stride s) of MobileNetV2.
_MOBILENETV2_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class MobileNetV2Encoder(nn.Module):
    """MobileNetV2 ``features.0`` ... ``features.17`` with a 6-channel stem, output stride 16.

    Block 14 keeps stride 1 and blocks 15-17 use dilation 2 in their depthwise convolution.
    """

    out_channels = (320, 32, 24, 16)

    def __init__(self, in_channels: int = 6):
        super().__init__()
        blocks: List[nn.Module] = [ConvBNAct(in_channels, 32, stride=2)]
        cin = 32
        for t, c, n, s in _MOBILENETV2_SETTINGS:
            for i in range(n):
                index = len(blocks)
                stride = s if i == 0 else 1
                dilation = 1
                if index == 14:
                    stride = 1
                if index >= 15:
                    dilation = 2
                blocks.append(InvertedResidual(cin, c, stride, t, dilation))
                cin = c
        self.features = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> Features:
        x0 = x
        x = self.features[0](x)
        x1 = x = self.features[1](x)
        x2 = x = self.features[3](self.features[2](x))
        for block in self.features[4:7]:
            x = block(x)
        x3 = x
        for block in self.features[7:]:
            x = block(x)
        return x, x3, x2, x1, x0


class Bottleneck(nn.Module):
    """ResNet bottleneck (stride on the 3x3 convolution), expansion 4."""

    def __init__(self, cin: int, width: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module = None):
        super().__init__()
        cout = width * 4
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, padding=dilation, dilation=dilation,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNetEncoder(nn.Module):
    """ResNet-50/101 with a 6-channel stem; ``layer4`` dilated (output stride 16)."""

    out_channels = (2048, 512, 256, 64)

    def __init__(self, layers=(3, 4, 6, 3), in_channels: int = 6):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self._cin, self._dilation = 64, 1
        self.layer1 = self._make_layer(64, layers[0], 1)
        self.layer2 = self._make_layer(128, layers[1], 2)
        self.layer3 = self._make_layer(256, layers[2], 2)
        self.layer4 = self._make_layer(512, layers[3], 2, dilate=True)
        del self._cin, self._dilation

    def _make_layer(self, width: int, blocks: int, stride: int, dilate: bool = False):
        # As in the classification network with replace_stride_with_dilation: the first block of
        # a dilated stage keeps the previous dilation, the following ones use the new one.
        previous = self._dilation
        if dilate:
            self._dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self._cin != width * 4:
            downsample = nn.Sequential(nn.Conv2d(self._cin, width * 4, 1, stride, bias=False),
                                       nn.BatchNorm2d(width * 4))
        layers = [Bottleneck(self._cin, width, stride, previous, downsample)]
        self._cin = width * 4
        layers += [Bottleneck(self._cin, width, dilation=self._dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> Features:
        x0 = x
        x1 = x = self.relu(self.bn1(self.conv1(x)))
        x = self.maxpool(x)
        x2 = x = self.layer1(x)
        x3 = x = self.layer2(x)
        x = self.layer4(self.layer3(x))
        return x, x3, x2, x1, x0


def build_backbone(name: str) -> nn.Module:
    """Return the encoder for ``name`` in ``mobilenetv2``, ``resnet50``, ``resnet101``."""
    if name == "mobilenetv2":
        return MobileNetV2Encoder()
    if name == "resnet50":
        return ResNetEncoder((3, 4, 6, 3))
    if name == "resnet101":
        return ResNetEncoder((3, 4, 23, 3))
    raise ValueError(f"unknown backbone {name!r}: expected mobilenetv2, resnet50 or resnet101")
