"""Tiny models for experiment tests, loadable by import path (``model = "expmodels:tiny"``).

Put this folder on ``PYTHONPATH`` (tests do) so pool workers, `convscope run` subprocesses and
Ray workers import it.

* ``tiny``: a small conv net (fast on CPU).
* ``broken``: raises in its 5th training forward pass (a run that fails with an error).
* ``killer``: ``tiny``, but in its ``KILL_AT``-th training forward pass it SIGKILLs its own
  process, once: it first creates the file named by ``$EXPMODELS_KILL_MARKER`` and never kills
  when that file exists (so the retry, and a reference run, train exactly like ``tiny``).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import torch
from torch import nn

KILL_AT = 17
MARKER_ENV = "EXPMODELS_KILL_MARKER"


class Tiny(nn.Module):
    """conv 5x5/8 stride 2 -> ReLU -> flatten -> linear. Input ``(B, C, H, W)``."""

    def __init__(
        self, in_channels: int, image_size: int | tuple[int, int], num_classes: int
    ) -> None:
        super().__init__()
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        self.conv1 = nn.Conv2d(in_channels, 8, 5, stride=2)
        self.relu1 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8 * ((h - 5) // 2 + 1) * ((w - 5) // 2 + 1), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.relu1(self.conv1(x))))


class Broken(Tiny):
    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
            if self.calls == 5:
                raise RuntimeError("boom: this model always fails at its 5th step")
        return super().forward(x)


class Killer(Tiny):
    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
            marker = os.environ.get(MARKER_ENV)
            if self.calls == KILL_AT and marker and not Path(marker).exists():
                Path(marker).write_text(f"killed pid {os.getpid()}\n")
                os.kill(os.getpid(), signal.SIGKILL)
        return super().forward(x)


def tiny(in_channels: int, image_size: int | tuple[int, int], num_classes: int) -> nn.Module:
    return Tiny(in_channels, image_size, num_classes)


def broken(in_channels: int, image_size: int | tuple[int, int], num_classes: int) -> nn.Module:
    return Broken(in_channels, image_size, num_classes)


def killer(in_channels: int, image_size: int | tuple[int, int], num_classes: int) -> nn.Module:
    return Killer(in_channels, image_size, num_classes)
