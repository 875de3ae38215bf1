"""A small residual CNN written the way people write them, for ``--model path/to/file.py:factory``.

``convscope train --model examples/models/residual_net.py:residual_net ...`` works from any
folder. Idioms on purpose: one shared ``nn.ReLU`` module used after every conv, ``F.relu``,
an identity skip (``x + f(x)``), an in-place ``+=`` skip with a 1x1 projection, and
``x.view(x.size(0), -1)`` (which cannot run channels-last: training falls back to contiguous).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResidualNet(nn.Module):
    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> None:
        super().__init__()
        self.act = nn.ReLU()
        self.stem = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.a1 = nn.Conv2d(8, 8, 3, padding=1)
        self.a2 = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.b1 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.b2 = nn.Conv2d(16, 16, 3, padding=1)
        self.proj = nn.Conv2d(8, 16, 1, stride=2)
        side = (image_size + 1) // 2  # after the max-pool
        side = (side - 1) // 2 + 1  # after the stride-2 block
        self.fc = nn.Linear(16 * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.stem(x))
        x = F.relu(x + self.a2(self.act(self.a1(x))))  # identity skip
        x = self.pool(x)
        y = self.b2(self.act(self.b1(x)))
        y += self.proj(x)  # projection skip, in place
        x = self.act(y)
        return self.fc(x.view(x.size(0), -1))


def residual_net(in_channels: int = 1, image_size: int = 28, num_classes: int = 10) -> nn.Module:
    return ResidualNet(in_channels, image_size, num_classes)
