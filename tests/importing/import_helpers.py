"""A user's side of an import, written without convscope: a small RGB data set on disk, a CNN
in a file of its own (``import_helpers.py:small_cnn``), a plain PyTorch training loop that
reads the PNGs with Pillow, and plain forward hooks (the oracle the tests compare with)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

HERE = Path(__file__).resolve()
MEAN = (0.45, 0.5, 0.4)  # the user's own normalisation (not the data's statistics)
STD = (0.3, 0.25, 0.35)


class SmallCNN(nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 3, width: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(2 * width * 8 * 8, 32)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(torch.flatten(x, 1))))


def small_cnn(in_channels: int = 3, num_classes: int = 3, width: int = 8) -> nn.Module:
    return SmallCNN(in_channels, num_classes, width)


def write_rgb_set(
    root: Path, n_train: int = 30, n_test: int = 15, classes: int = 3, size: int = 32, seed: int = 0
) -> Path:
    """``root/{Train,Test}/<c>/NNN.png``: class c is a tinted image with stripes at an angle of
    its own, plus noise (learnable in a few hundred steps, not trivially by one pixel)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for split, n in (("Train", n_train), ("Test", n_test)):
        for c in range(classes):
            d = root / split / str(c)
            d.mkdir(parents=True, exist_ok=True)
            angle = np.pi * c / classes
            tint = np.roll(np.array([0.9, 0.5, 0.3], np.float32), c)
            for i in range(n):
                phase = rng.uniform(0, 2 * np.pi)
                wave = 0.5 + 0.5 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 0.8 + phase)
                img = wave[..., None] * tint + rng.normal(0, 0.15, (size, size, 3))
                a = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
                Image.fromarray(a, mode="RGB").save(d / f"{i:03d}.png")
    return root


def read_split(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, 3, H, W)`` uint8 and labels, read with Pillow in sorted order."""
    xs, ys = [], []
    for cdir in sorted((root / split).iterdir(), key=lambda p: int(p.name)):
        for f in sorted(cdir.glob("*.png")):
            xs.append(np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1))
            ys.append(int(cdir.name))
    return torch.from_numpy(np.stack(xs)), torch.tensor(ys)


def user_normalize(x: torch.Tensor) -> torch.Tensor:
    """What the user's own loop does to a uint8 batch."""
    m = torch.tensor(MEAN).view(1, 3, 1, 1)
    s = torch.tensor(STD).view(1, 3, 1, 1)
    return (x.float() / 255.0 - m) / s


def train_plain(model: nn.Module, root: Path, steps: int = 150, seed: int = 0) -> nn.Module:
    """A plain PyTorch loop: Adam, batches of 32, the user's normalisation."""
    torch.manual_seed(seed)
    x, y = read_split(root, "Train")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (32,), generator=g)
        loss = nn.functional.cross_entropy(model(user_normalize(x[idx])), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def hooked_maxima(
    model: nn.Module, x: torch.Tensor, modules: dict[str, str]
) -> dict[str, np.ndarray]:
    """Per unit, the largest activation over the images ``x`` (normalised here as the user
    does), read with plain forward hooks on ``modules`` (``{layer: module to hook}``): a feature
    map's maximum over positions and images, a neuron's maximum over images."""
    got: dict[str, list[torch.Tensor]] = {k: [] for k in modules}
    named = dict(model.named_modules())
    handles = []
    for layer, mod in modules.items():

        def hook(_m: nn.Module, _i: object, out: torch.Tensor, layer: str = layer) -> None:
            got[layer].append(out.detach().flatten(2).amax(2) if out.dim() == 4 else out.detach())

        handles.append(named[mod].register_forward_hook(hook))
    try:
        with torch.no_grad():
            model.eval()(user_normalize(x))
    finally:
        for h in handles:
            h.remove()
    return {k: torch.cat(v).amax(0).numpy() for k, v in got.items()}


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model.eval()(user_normalize(x)).argmax(1) == y).float().mean())
