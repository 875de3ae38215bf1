"""The model registry: resnet8, and user factories by module name from the current folder or
by file path from any folder (no PYTHONPATH)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from convscope.config import ModelConfig, from_flat
from convscope.errors import ConfigError
from convscope.models import build_model

MYNET = """
from torch import nn

def factory(in_channels=1, num_classes=10):
    return nn.Sequential(nn.Conv2d(in_channels, 2, 3), nn.Flatten(), nn.LazyLinear(num_classes))
"""


@pytest.mark.parametrize(("shape", "n"), [((1, 28, 28), 10), ((3, 32, 32), 7)])
def test_resnet8_shapes(shape: tuple[int, int, int], n: int) -> None:
    model = build_model(ModelConfig(model="resnet8"), shape, n).eval()
    assert model(torch.zeros(2, *shape)).shape == (2, n)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 9  # 7 in the main path + 2 projections; with fc: 8 weight layers deep


def test_module_factory_from_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mynet_cs_test.py").write_text(MYNET)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    model = build_model(ModelConfig(model="mynet_cs_test:factory"), (1, 8, 8), 3)
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 3)
    assert str(tmp_path) not in sys.path  # not left on the path
    with pytest.raises(ConfigError, match="cannot import module 'nothere_cs'"):
        build_model(ModelConfig(model="nothere_cs:factory"), (1, 8, 8), 3)


def test_file_factory_from_any_folder_is_stored_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "net.py").write_text(MYNET)
    monkeypatch.chdir(tmp_path)
    cfg = from_flat({"model": "sub/net.py:factory"})
    assert cfg.model.model == f"{tmp_path / 'sub' / 'net.py'}:factory"
    monkeypatch.chdir("/")
    model = build_model(cfg.model, (1, 8, 8), 4)
    assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 4)
    with pytest.raises(ConfigError, match="no file 'missing.py'"):
        build_model(ModelConfig(model="missing.py:factory"), (1, 8, 8), 3)
