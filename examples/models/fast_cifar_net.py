"""A fast-CIFAR-style CNN (in the manner of airbench's speed-run nets), as a user writes it.

Bias-free convolutions, a ``BatchNorm2d`` subclass, GELU, a custom ``Flatten``, ``MaxPool2d(3)``
and a final scaling module. Give it to convscope by path::

    convscope train --model examples/models/fast_cifar_net.py:net --data DATA
    convscope train --model examples/models/fast_cifar_net.py:net --model-args width=32
"""

from __future__ import annotations

import torch
from torch import nn


class BatchNorm(nn.BatchNorm2d):
    """Batch norm with a different default momentum and a frozen-at-one weight option."""

    def __init__(self, num_features: int, momentum: float = 0.6, eps: float = 1e-12) -> None:
        super().__init__(num_features, eps=eps, momentum=1 - momentum)
        self.weight.requires_grad = False  # only the bias is learned, as in the speed-run nets


class Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), -1)


class Mul(nn.Module):
    """Scales the logits (a temperature), as the speed-run nets do."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding="same", bias=False),
        BatchNorm(c_out),
        nn.GELU(),
    )


def net(
    in_channels: int = 3, num_classes: int = 10, width: int = 16, scale: float = 1 / 8
) -> nn.Module:
    """``width`` channels in the first block, then 2x and 4x; 28 or 32 px inputs."""
    w1, w2, w3 = width, 2 * width, 4 * width
    return nn.Sequential(
        conv_block(in_channels, w1),
        nn.MaxPool2d(3),  # 28 -> 9, 32 -> 10
        conv_block(w1, w2),
        nn.MaxPool2d(3),  # 9 -> 3, 10 -> 3
        conv_block(w2, w3),
        nn.AdaptiveMaxPool2d(1),
        Flatten(),
        nn.Linear(w3, num_classes, bias=False),
        Mul(scale),
    )
