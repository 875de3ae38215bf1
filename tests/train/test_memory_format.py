"""Channels-last is chosen when the model can run it, contiguous otherwise (never a crash)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from convscope.config import from_flat
from convscope.models import LeNet5
from convscope.train.loop import train
from convscope.train.memory_format import choose_memory_format, model_memory_format

ROOT = Path(__file__).resolve().parents[2]


class ViewNet(nn.Module):
    """A shared nn.ReLU and x.view(x.size(0), -1): view fails on a channels-last tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.act = nn.Conv2d(1, 2, 3), nn.ReLU()
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(2 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn(self.conv(x)))
        return self.act(self.fc(x.view(x.size(0), -1)))


def test_choose_falls_back_and_leaves_the_model_as_it_was() -> None:
    m = ViewNet().train()
    before = m.bn.running_mean.clone()
    fmt, info = choose_memory_format(m, (1, 8, 8), True)
    assert fmt == torch.contiguous_format and info["used"] == "contiguous"
    assert "fails channels-last" in info["reason"] and "view" in info["reason"]
    assert m.training and torch.equal(m.bn.running_mean, before)
    assert model_memory_format(m) == torch.contiguous_format
    fmt, info = choose_memory_format(LeNet5(), (1, 28, 28), True)
    assert fmt == torch.channels_last and info["used"] == "channels_last"
    assert choose_memory_format(LeNet5(), (1, 28, 28), False)[1]["used"] == "contiguous"
    assert model_memory_format(LeNet5().to(memory_format=torch.channels_last)) == fmt


def test_a_view_model_trains_with_the_defaults_and_records_the_format(tmp_path: Path) -> None:
    model = f"{ROOT / 'examples/models/residual_net.py'}:residual_net"
    cfg = from_flat({"data": "digits", "model": model, "iterations": 4, "batch_size": 20})
    cfg.train.threads = 1
    assert cfg.train.channels_last  # the default
    summary = train(cfg, tmp_path / "run")
    assert summary["status"] == "completed"
    used = json.loads((tmp_path / "run" / "config.json").read_text())["memory_format"]
    assert used["used"] == "contiguous" and "view" in used["reason"]
    assert summary["memory_format"] == used
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["memory_format"] == used
