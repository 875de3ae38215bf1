"""A small RGB data set and a model trained on it in a plain loop, built once per session."""

from __future__ import annotations

from pathlib import Path

import import_helpers as h
import pytest
import torch


@pytest.fixture(scope="session")
def rgb_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return h.write_rgb_set(tmp_path_factory.mktemp("rgb") / "shapes")


@pytest.fixture(scope="session")
def user_model(rgb_data: Path) -> torch.nn.Module:
    return h.train_plain(h.small_cnn(), rgb_data, steps=150)
