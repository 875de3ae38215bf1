"""A residual and a branching model, each in a file given by path (examples/models), train
with the default settings and pass every analysis (filters, activations, the six Zeiler &
Fergus parts), from a folder other than the repository's, without PYTHONPATH."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from convscope.analysis import ANALYSES, INSIDE, ZF
from convscope.analysis.inside import analyze_filters_activations
from convscope.analysis.zf.run import analyze_zf
from convscope.cli import main
from convscope.runs import RunDir

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
    done = analyze_filters_activations(out, set(INSIDE))
    done.update(
        analyze_zf(
            out,
            set(ZF),
            k=3,
            deconv_images=2,
            evolution_maps=4,
            occlusion_per_class=1,
            occlusion_show=2,
            occlusion_stride=6,
            invariance_per_class=1,
            invariance_show=2,
            correspondence_images=5,
        )
    )
    assert {a for a in ANALYSES if any(k.startswith(a) for k in done)} == set(ANALYSES)
    for what in ZF:
        info = json.loads((rd.analysis_dir / f"zf_{what}.json").read_text())
        assert len(info["observation"]) > 40 and info["figures"]
        assert all(Path(f).is_file() for f in info["figures"])
    topk = json.loads((rd.analysis_dir / "zf_topk.json").read_text())
    assert len(topk["per_layer"]) >= 4  # every rectified block, skips and branches included
    acts = json.loads((rd.analysis_dir / "activations.json").read_text())
    assert len(acts["layers"]) >= 4 and acts["observation"]
    filters = json.loads((rd.analysis_dir / "filters.json").read_text())
    assert filters["observation"]
