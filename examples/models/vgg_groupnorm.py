"""An ``nn.Sequential`` VGG-style CNN with SiLU, GroupNorm and ``nn.Flatten``: layers are named
by their position (``features.0``), as in torchvision's VGG.

    convscope train --model examples/models/vgg_groupnorm.py:net --data DATA
"""

from __future__ import annotations

from torch import nn


def net(
    in_channels: int = 3,
    image_size: int | tuple[int, int] = 32,
    num_classes: int = 10,
    width: int = 16,
    groups: int = 4,
    dropout: float = 0.3,
) -> nn.Module:
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size

    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [
            nn.Conv2d(c_in, c_out, 3, padding=1),
            nn.GroupNorm(groups, c_out),
            nn.SiLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1),
            nn.GroupNorm(groups, c_out),
            nn.SiLU(),
            nn.MaxPool2d(2),
        ]

    model = nn.Sequential()
    model.add_module(
        "features", nn.Sequential(*block(in_channels, width), *block(width, 2 * width))
    )
    model.add_module(
        "classifier",
        nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(2 * width * (h // 4) * (w // 4), 64),
            nn.SiLU(),
            nn.Linear(64, num_classes),
        ),
    )
    return model
