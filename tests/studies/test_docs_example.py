"""The complete example in docs/analyses.md runs as written: import path, analyze, JSON, figure."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch

from convscope.cli import main
from convscope.config import from_flat
from convscope.runs import RunDir
from convscope.train.loop import train

DOC = Path(__file__).resolve().parents[2] / "docs" / "analyses.md"


def example_code() -> str:
    (code,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    return code


def test_example_is_at_most_60_lines() -> None:
    assert len(example_code().splitlines()) <= 60


@pytest.mark.slow
def test_example_runs_through_analyze(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mymargins.py").write_text(example_code())
    monkeypatch.syspath_prepend(str(tmp_path))
    run = tmp_path / "run"
    cfg = from_flat(
        {"data": "digits", "resize": 12, "train_per_class": 20, "test_per_class": 6,
         "iterations": 4, "eval_every": 2, "checkpoint_every": 2, "threads": 1}
    )  # fmt: skip
    train(cfg, run)
    assert main(["analyze", str(run), "--what", "mymargins:LogitMargin"]) == 0
    saved = json.loads((run / "analysis" / "logit_margin.json").read_text())
    assert saved["schema"] == "convscope.study/1" and saved["options"]["confident"] == 1.0
    assert (run / saved["figures"][0]["path"]).stat().st_size > 1000
    # the numbers are the margins of the final model, computed independently here
    rd = RunDir(run)
    ds, norm = rd.load_data()
    with torch.no_grad():
        logits = rd.load_model(None)(norm(ds.test.images))
    top = logits.sort(dim=1, descending=True).values
    assert saved["numbers"]["median"] == pytest.approx(float((top[:, 0] - top[:, 1]).median()))
    v = saved["verdicts"]["confident"]["verdict"]
    assert v == ("supported" if saved["numbers"]["median"] > 1.0 else "not supported")
    sys.modules.pop("mymargins", None)
