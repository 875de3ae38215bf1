"""A tiny trained run (digits, ``explore_nets:tiny_cnn``) and its explorer site, built once."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from convscope.config import from_flat
from convscope.explore.build import build_site
from convscope.train.loop import train

SNAPSHOTS = [3, 8, 16]


def train_tiny(out: Path, model: str = "explore_nets:tiny_cnn", iterations: int = 24) -> Path:
    cfg = from_flat(
        {
            "data": "digits",
            "model": model,
            "iterations": iterations,
            "batch_size": 50,
            "eval_every": 12,
            "checkpoint_every": 12,
            "keep_checkpoints": [s for s in SNAPSHOTS if s <= iterations],
            "threads": 1,
            "device": "cpu",
            "activation_stats_every": 0,
        }
    )
    train(cfg, out)
    return out


@pytest.fixture(scope="session")
def tiny_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """``(run dir, site dir, build_site's result)``."""
    run = train_tiny(tmp_path_factory.mktemp("explore") / "run")
    res = build_site(run, run / "site")
    return run, Path(res["out"]), res


def unit_json(page: Path) -> dict[str, Any]:
    """The JSON block of a unit page."""
    m = re.search(
        r'<script type="application/json" id="unit-data">(.*?)</script>', page.read_text(), re.S
    )
    assert m, f"{page}: no unit-data block"
    return json.loads(m.group(1).replace("<\\/", "</"))
