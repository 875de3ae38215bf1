"""Tiny models for the explorer tests, loadable by import path (``explore_nets:tiny_cnn``).

Tests put this folder on ``sys.path`` / ``PYTHONPATH`` so run directories can rebuild them.

* ``tiny_cnn``: conv 5x5/4 -> ReLU -> pool -> conv 3x3/6 -> ReLU -> pool -> fc 16 -> ReLU ->
  fc classes (fast on CPU; small enough to have every page made in a test).
* ``tiny_resnet``: a conv stem and one residual block (``x + conv(relu(conv(x)))``), then
  pooling and a linear head: a model with a skip connection.
"""

from __future__ import annotations

import torch
from torch import nn


class TinyCNN(nn.Module):
    def __init__(self, in_channels: int, image_size: int | tuple[int, int], num_classes: int):
        super().__init__()
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        self.conv1 = nn.Conv2d(in_channels, 4, 5, padding=2)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(6 * (h // 4) * (w // 4), 16)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(self.flatten(x))))


def tiny_cnn(in_channels: int, image_size: int | tuple[int, int], num_classes: int) -> nn.Module:
    return TinyCNN(in_channels, image_size, num_classes)


class TinyResNet(nn.Module):
    def __init__(self, in_channels: int, image_size: int | tuple[int, int], num_classes: int):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.relu = nn.ReLU()
        self.block_conv1 = nn.Conv2d(8, 8, 3, padding=1)
        self.block_relu = nn.ReLU()
        self.block_conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.out_relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.stem(x))
        x = self.out_relu(x + self.block_conv2(self.block_relu(self.block_conv1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def tiny_resnet(in_channels: int, image_size: int | tuple[int, int], num_classes: int) -> nn.Module:
    return TinyResNet(in_channels, image_size, num_classes)
