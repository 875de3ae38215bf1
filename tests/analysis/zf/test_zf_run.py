"""analyze_zf on a real (tiny) run directory: arrays, JSON with observations, figures, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from convscope.analysis.zf.occlusion import mean_fill
from convscope.analysis.zf.run import WHAT, analyze_zf
from convscope.config import from_flat
from convscope.errors import ConvscopeError
from convscope.runs import RunDir
from convscope.train.loop import train


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zf") / "run"
    cfg = from_flat(
        {
            "data": "digits",
            "iterations": 6,
            "batch_size": 50,
            "eval_every": 3,
            "checkpoint_every": 3,
            "keep_checkpoints": [2, 4],
            "threads": 1,
            "device": "cpu",
        }
    )
    train(cfg, out)
    return out


@pytest.mark.slow
def test_analyze_zf_writes_everything(tiny_run: Path) -> None:
    out = analyze_zf(
        tiny_run,
        set(WHAT),
        layers=["conv1"],
        k=3,
        deconv_images=2,
        evolution_maps=4,
        occlusion_per_class=1,
        occlusion_show=2,
        occlusion_stride=4,
        invariance_per_class=1,
        invariance_show=2,
        correspondence_images=5,
    )
    assert set(out) == set(WHAT)
    rd = RunDir(tiny_run)
    for what in WHAT:
        info = json.loads((rd.path / "analysis" / f"zf_{what}.json").read_text())
        assert isinstance(info["observation"], str) and len(info["observation"]) > 40
        assert info["choices"] and info["figures"]
        for f in info["figures"]:
            assert Path(f).is_file() and Path(f).name.startswith(f"zf_{what}")
        with np.load(rd.path / "analysis" / f"zf_{what}.npz") as z:
            assert len(z.files) > 0
    top = np.load(rd.path / "analysis" / "zf_topk.npz")
    assert top["relu1_values"].shape == (32, 3) and top["relu1_patches"].shape == (32, 3, 1, 5, 5)
    evo = json.loads((rd.path / "analysis" / "zf_evolution.json").read_text())
    assert evo["steps"] == rd.checkpoint_steps() == [0, 2, 4, 6]
    occ = json.loads((rd.path / "analysis" / "zf_occlusion.json").read_text())
    ds, norm = rd.load_data()
    assert occ["choices"]["fill"] == pytest.approx(mean_fill(ds.channel_stats()[0], norm))
    assert occ["images"] == 10  # one per class
    inv = json.loads((rd.path / "analysis" / "zf_invariance.json").read_text())
    z = np.load(rd.path / "analysis" / "zf_invariance.npz")
    keep = z["scale_params"] != 1.0
    rel = inv["per_transformation"]["scale"]["mean_rel_low"]
    assert rel == pytest.approx(float(z["scale_rel_low"][:, keep].mean()))
    cor = json.loads((rd.path / "analysis" / "zf_correspondence.json").read_text())
    assert cor["table"]["rows"][-1] == "random" and len(cor["observations"]) == 2
    assert "mixed_classes_fixed_regions_mean" in cor
    assert cor["class"] == "0"  # digits: no dog, the first class


def test_display_classes() -> None:
    from convscope.analysis.zf.run import display_classes

    names, how = display_classes("CIFAR10", [str(i) for i in range(10)])
    assert names[5] == "5" and "class_names" in how  # no guessing from the data set's name


@pytest.mark.slow
def test_cli_analyze_and_errors(tiny_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from convscope.cli import main

    assert main(["analyze", str(tiny_run), "--what", "deconv"]) == 0
    out = capsys.readouterr().out
    info = json.loads((tiny_run / "analysis" / "zf_deconv.json").read_text())
    # the observation sentence and the figure path, not "deconv: written"
    assert out.splitlines()[0] == f"deconv: {info['observation']}"
    assert f"  figure: {info['figures'][0]}" in out and "written" not in out
    with pytest.raises(ConvscopeError, match="unknown part"):
        analyze_zf(tiny_run, {"gabor"})
    with pytest.raises(ConvscopeError, match="correspondence class 'cat'"):
        analyze_zf(tiny_run, {"correspondence"}, correspondence_class="cat")
    with pytest.raises(ConvscopeError, match="not a run directory"):
        analyze_zf(tiny_run.parent, {"topk"})
