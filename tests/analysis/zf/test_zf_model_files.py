"""A residual and a branching model, each in a file given by path (examples/models), train
with the default settings and pass every analysis (filters, activations, the six Zeiler &
Fergus parts), from a folder other than the repository's, without PYTHONPATH."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from convscope.cli import main
from convscope.runs import RunDir
from convscope.studies.runner import analyze, run_scope_names

ROOT = Path(__file__).resolve().parents[3]
FILES = {
    "residual_net": ROOT / "examples/models/residual_net.py",
    "branching_net": ROOT / "examples/models/branching_net.py",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FILES))
def test_model_file_trains_and_passes_every_analysis(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # relative path from another folder, no PYTHONPATH
    monkeypatch.delenv("PYTHONPATH", raising=False)
    rel = os.path.relpath(FILES[name], tmp_path)
    out = tmp_path / "run"
    args = ["train", "-q", "--data", "digits", "--model", f"{rel}:{name}"]
    assert main([*args, "--iterations", "8", "--threads", "1", "--out", str(out)]) == 0
    rd = RunDir(out)
    assert Path(rd.config().model.model.rpartition(":")[0]).is_absolute()
    monkeypatch.chdir(ROOT)  # the run rebuilds its model from any folder
    capsys.readouterr()
    assert main(["analyze", str(out), "--layers"]) == 0
    listing = capsys.readouterr().out
    merge = "add_1" if name == "residual_net" else "cat"
    row = next(line for line in listing.splitlines() if line.startswith(merge + " "))
    assert ("20x20" if name == "residual_net" else "9x9") in row  # union over the paths
    names = run_scope_names()
    opts = {
        "topk": {"k": 3},
        "deconv": {"images": 2},
        "evolution": {"maps": 4},
        "occlusion": {"per_class": 1, "show": 2, "stride": 6},
        "invariance": {"per_class": 1, "show": 2},
        "correspondence": {"images": 5},
    }
    done = analyze(out, names, {k: v for k, v in opts.items() if k in names})
    assert set(done) == set(names) and len(names) >= 8
    saved = {n: json.loads(Path(p).read_text()) for n, p in done.items()}
    for n, info in saved.items():
        assert info["observations"] and len(info["observations"][0]) > 40, n
        assert all((rd.path / f["path"]).is_file() for f in info["figures"]), n
    assert len(saved["topk"]["numbers"]["per_layer"]) >= 4  # every block, skips and branches
    if name == "residual_net":  # a 3x3 stem: no Gabor fit
        assert saved["filters"]["numbers"]["gabor"] == "not applicable"
        assert saved["filters"]["verdicts"]["gabor_like"]["verdict"] == "not testable"
