"""A small branching (Inception-style) CNN, for ``--model path/to/file.py:factory``.

Two parallel branches (3x3 conv, and 1x1 conv after a 3x3 max-pool) joined with ``torch.cat``,
LeakyReLU (module and function), in-place ``relu_``, batch norm, an adaptive average pool to
2x2 and ``torch.flatten``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BranchingNet(nn.Module):
    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 8, 5, stride=2, padding=2)
        self.bn = nn.BatchNorm2d(8)
        self.leaky = nn.LeakyReLU(0.1)
        self.branch3 = nn.Conv2d(8, 8, 3, padding=1)
        self.branch_pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.branch1 = nn.Conv2d(8, 8, 1)
        self.mix = nn.Conv2d(16, 16, 3, padding=1)
        self.head_pool = nn.AdaptiveAvgPool2d(2)
        self.drop = nn.Dropout(0.1)
        self.fc = nn.Linear(16 * 2 * 2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.leaky(self.bn(self.stem(x)))
        a = F.leaky_relu(self.branch3(x), 0.1)
        b = torch.relu(self.branch1(self.branch_pool(x)))
        x = torch.cat([a, b], dim=1)
        x = self.mix(x).relu_()
        x = torch.flatten(self.head_pool(x), 1)
        return self.fc(self.drop(x))


def branching_net(in_channels: int = 1, num_classes: int = 10) -> nn.Module:
    return BranchingNet(in_channels, num_classes)
