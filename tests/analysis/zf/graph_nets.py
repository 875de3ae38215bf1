"""Random networks with skips and branches, for the graph tests (float64, eval mode)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from zf_nets import randomize_bn


class ResBlockNet(nn.Module):
    """Residual adds (identity and 1x1 projection, ``+`` and ``+=``), BN, F.relu with
    inplace=True, torch.relu, a shared nn.ReLU, max-pool, adaptive average pool, view."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, 4, 3, padding=1)
        self.bn0 = nn.BatchNorm2d(4)
        self.act = nn.ReLU()
        self.c1 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.d1 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.proj = nn.Conv2d(4, 6, 1, stride=2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn0(self.stem(x)), inplace=True)
        y = self.c2(self.act(self.bn1(self.c1(x))))
        x = torch.relu(x + y)
        x = self.pool(x)
        z = self.d1(x)
        z += self.proj(x)
        x = self.act(z)
        x = self.gap(x)
        return self.fc(x.view(x.size(0), -1))


class BranchNet(nn.Module):
    """torch.cat of two branches, LeakyReLU module and F.leaky_relu, x.relu_(), avg-pool,
    adaptive max pool to 2x2, torch.flatten, dropout, a hidden Linear + ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.leaky = nn.LeakyReLU(0.2)
        self.b3 = nn.Conv2d(4, 3, 3, padding=1)
        self.b5 = nn.Conv2d(4, 2, 5, padding=2)
        self.avg = nn.AvgPool2d(2)
        self.mix = nn.Conv2d(5, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.amp = nn.AdaptiveMaxPool2d(2)
        self.drop = nn.Dropout(0.5)
        self.fc1 = nn.Linear(24, 7)
        self.fc2 = nn.Linear(7, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.leaky(self.stem(x))
        a = F.leaky_relu(self.b3(x), 0.05)
        b = self.b5(x).relu_()
        x = self.avg(torch.cat([a, b], 1))
        x = torch.relu_(self.bn(self.mix(x)))
        x = torch.flatten(self.amp(x), 1)
        return self.fc2(torch.relu(self.fc1(self.drop(x))))


class ModuleReLUNet(nn.Module):
    """Only nn.ReLU modules (not in place) for Captum: a residual add, a concat, max-pool,
    adaptive average pool to 2x2, flatten."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.r1 = nn.ReLU()
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.r2 = nn.ReLU()
        self.c3 = nn.Conv2d(4, 2, 1)
        self.r3 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.c4 = nn.Conv2d(6, 6, 3, padding=1)
        self.r4 = nn.ReLU()
        self.gap = nn.AdaptiveAvgPool2d(2)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(24, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.r1(self.c1(x))
        x = self.r2(x + self.c2(x))
        x = torch.cat([x, self.r3(self.c3(x))], dim=1)
        x = self.r4(self.c4(self.pool(x)))
        return self.fc(self.flat(self.gap(x)))


def graph_net(name: str, seed: int = 0) -> tuple[nn.Module, tuple[int, int, int]]:
    """(model in eval mode, float64, random weights and BN statistics; its input shape)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    nets = {
        "resblock": (ResBlockNet, (2, 12, 12)),
        "branch": (BranchNet, (1, 12, 12)),
        "modulerelu": (ModuleReLUNet, (1, 10, 10)),
    }
    cls, shape = nets[name]
    return randomize_bn(cls(), gen).double().eval(), shape


GRAPH_NETS = ("resblock", "branch", "modulerelu")
