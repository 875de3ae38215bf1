"""`convscope run` with the group study `across` in `[[analysis]]`: the group is compared once
its runs have finished and the report shows it under the group's section."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from convscope import io
from convscope.experiments.executors import InlineExecutor
from convscope.experiments.run import run_experiment
from convscope.experiments.spec import load_experiment
from convscope.report import write_report

sys.path.insert(0, str(Path(__file__).parent))
from helpers import write_experiment  # noqa: E402

BODY = """
[groups.optimizers]
seeds = [0, 1]
title = "Two learning rates"
section = "1.2"
label = "lr={lr}"
[groups.optimizers.grid]
lr = [0.05, 0.001]

[[analysis]]
group = "optimizers"
what = ["across"]
title = "Inside the network, per optimizer"
"""


@pytest.mark.slow
def test_group_compared_after_training_and_reported_under_1_2(tmp_path: Path) -> None:
    n = torch.get_num_threads()
    f = write_experiment(tmp_path / "e.toml", BODY, activation_stats_every=5)
    out = tmp_path / "out"
    try:
        run_experiment(load_experiment(f, None, None), out, InlineExecutor(threads=1))
    finally:
        torch.set_num_threads(n)
    result = out / "groups" / "optimizers" / "analysis" / "across.json"
    doc = io.read_json(result)
    assert doc["study"] == "across" and doc["group"] == "optimizers"
    saved = doc["numbers"]
    assert saved["configurations"] == ["lr=0.05", "lr=0.001"]
    assert saved["seeds"] == {"lr=0.05": [0, 1], "lr=0.001": [0, 1]}
    assert set(saved["quantities"]) >= {"dead_fraction", "gabor", "settle_step", "weight_change"}
    fc = saved["quantities"]["weight_change"]["fc"]
    assert fc["lr=0.05"]["mean"] > fc["lr=0.001"]["mean"]  # 50x the step size moves further
    assert (result.parent / "across.md").is_file()
    _, md = write_report(out)
    text = md.read_text()
    i, j = text.index("Two learning rates"), text.index("Inside the network, per optimizer")
    assert i < j
    assert "| configuration | conv1 |" in text[j:]
    assert "groups/optimizers/figures/across_dead_fraction.png" in text[j:]
    assert (out / "groups" / "optimizers" / "figures" / "across_dead_fraction.png").is_file()
