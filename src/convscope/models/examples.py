"""Example user CNNs, loadable by import path (``model = "convscope.models.examples:small_bn_cnn"``).

They show what a factory looks like and what the Zeiler & Fergus analyses accept: a chain of
Conv2d, BatchNorm2d, ReLU (module or ``F.relu``), pooling, Dropout, flatten and Linear.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SmallBNCNN(nn.Module):
    """Three conv blocks with batch norm, for ``(B, C, H, W)`` inputs (e.g. 3x32x32).

    conv3x3/16-BN-ReLU-maxpool2 -> conv3x3/32-BN-ReLU-maxpool2 -> conv3x3/64-BN-relu-avgpool2
    -> flatten -> fc 64 -> ReLU -> dropout -> fc num_classes. The third block uses ``F.relu`` and
    ``torch.flatten`` in ``forward`` on purpose: functional layers are part of the chain too.
    """

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int | tuple[int, int] = 32,
        num_classes: int = 10,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu1 = nn.ReLU(inplace=True)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.relu2 = nn.ReLU(inplace=True)
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(64)
        self.pool3 = nn.AvgPool2d(2)
        flat = 64 * (h // 8) * (w // 8)
        self.fc1 = nn.Linear(flat, 64)
        self.relu4 = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        x = self.pool3(F.relu(self.bn3(self.conv3(x))))
        x = torch.flatten(x, 1)
        return self.fc2(self.dropout(self.relu4(self.fc1(x))))


def small_bn_cnn(
    in_channels: int = 3,
    image_size: int | tuple[int, int] = 32,
    num_classes: int = 10,
    dropout: float = 0.0,
) -> nn.Module:
    """Factory for :class:`SmallBNCNN` (the signature ``build_model`` calls)."""
    return SmallBNCNN(in_channels, image_size, num_classes, dropout)
