"""A MobileNet-style CNN: depthwise-separable blocks, stride-2 convolutions instead of pooling,
ReLU6 and Hardswish, and no pooling until a global average.

    convscope train --model examples/models/mobile_net.py:net --data DATA
"""

from __future__ import annotations

import torch
from torch import nn


class DepthwiseSeparable(nn.Module):
    """A 3x3 depthwise convolution (one filter per channel, ``groups = channels``), then a 1x1
    pointwise one, each with batch norm and an activation."""

    def __init__(self, c_in: int, c_out: int, stride: int, act: type[nn.Module]) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False)
        self.bn1 = nn.BatchNorm2d(c_in)
        self.act1 = act()
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.act2 = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.depthwise(x)))
        return self.act2(self.bn2(self.pointwise(x)))


class MobileNet(nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU6(inplace=True),
        )
        self.blocks = nn.Sequential(
            DepthwiseSeparable(width, 2 * width, 1, nn.ReLU6),
            DepthwiseSeparable(2 * width, 4 * width, 2, nn.Hardswish),
            DepthwiseSeparable(4 * width, 4 * width, 1, nn.Hardswish),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.blocks(self.stem(x)))
        return self.classifier(torch.flatten(x, 1))


def net(in_channels: int = 3, num_classes: int = 10, width: int = 16) -> nn.Module:
    return MobileNet(in_channels, num_classes, width)
