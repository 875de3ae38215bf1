"""The Zeiler & Fergus studies on a real (tiny) run directory: arrays, JSON, figures, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from convscope.analysis.zf.occlusion import mean_fill
from convscope.config import from_flat
from convscope.errors import ConvscopeError
from convscope.runs import RunDir
from convscope.studies.runner import analyze
from convscope.train.loop import train

WHAT = ("deconv", "topk", "evolution", "occlusion", "invariance", "correspondence")


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
    opts = {
        "topk": {"layers": ["conv1"], "k": 3},
        "deconv": {"layers": ["conv1"], "images": 2},
        "evolution": {"layers": ["conv1"], "maps": 4},
        "occlusion": {"per_class": 1, "show": 2, "stride": 4},
        "invariance": {"per_class": 1, "show": 2},
        "correspondence": {"images": 5},
    }
    out = analyze(tiny_run, WHAT, opts)
    assert set(out) == set(WHAT)
    rd = RunDir(tiny_run)

    def load(what: str) -> dict:
        saved = json.loads((rd.path / "analysis" / f"{what}.json").read_text())
        assert saved["schema"] == "convscope.study/1" and saved["study"] == what
        for k, v in opts[what].items():
            assert saved["options"][k] == v  # every choice is recorded
        return {
            **saved["numbers"],
            "observation": saved["observations"][0],
            "observations": saved["observations"][1:],
            "choices": saved["choices"],
            "figures": saved["figures"],
        }

    for what in WHAT:
        info = load(what)
        assert isinstance(info["observation"], str) and len(info["observation"]) > 40
        assert info["choices"] and info["figures"]
        for f in info["figures"]:
            assert (rd.path / f["path"]).is_file() and Path(f["path"]).name.startswith(f"zf_{what}")
        with np.load(rd.path / "analysis" / f"zf_{what}.npz") as z:
            assert len(z.files) > 0
    dec = np.load(rd.path / "analysis" / "zf_deconv.npz")  # beside each: random weights
    assert dec["relu1_projections_random_weights"].shape == dec["relu1_projections"].shape
    assert not np.allclose(dec["relu1_projections_random_weights"], dec["relu1_projections"])
    top = np.load(rd.path / "analysis" / "zf_topk.npz")
    assert top["relu1_values"].shape == (32, 3) and top["relu1_patches"].shape == (32, 3, 1, 5, 5)
    evo = load("evolution")
    assert evo["steps"] == rd.checkpoint_steps() == [0, 2, 4, 6]
    occ = load("occlusion")
    ds, norm = rd.load_data()
    assert occ["choices"]["fill"] == pytest.approx(mean_fill(ds.channel_stats()[0], norm))
    assert occ["images"] == 10  # one per class
    inv = load("invariance")
    z = np.load(rd.path / "analysis" / "zf_invariance.npz")
    keep = z["scale_params"] != 1.0
    rel = inv["per_transformation"]["scale"]["mean_rel_low"]
    assert rel == pytest.approx(float(z["scale_rel_low"][:, keep].mean()))
    cor = load("correspondence")
    assert cor["table"]["rows"][-1] == "random" and len(cor["observations"]) == 2
    assert "mixed_classes_fixed_regions_mean" in cor
    assert cor["class"] == "0"  # digits: no dog, the first class, and the JSON says why
    assert "no class is named 'dog'" in cor["class_choice"]
    assert cor["observation"].startswith("Class used: class '0' (class 0)")


def test_display_classes() -> None:
    from convscope.studies._zf import display_classes

    names, how = display_classes("CIFAR10", [str(i) for i in range(10)])
    assert names[5] == "5" and "class_names" in how  # no guessing from the data set's name


@pytest.mark.slow
def test_cli_analyze_and_errors(tiny_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from convscope.cli import main

    assert main(["analyze", str(tiny_run), "--what", "deconv"]) == 0
    out = capsys.readouterr().out
    info = json.loads((tiny_run / "analysis" / "deconv.json").read_text())
    # the observation sentence and the figure path, not "deconv: written"
    assert out.splitlines()[0] == f"deconv: {' '.join(info['observations'])}"
    assert f"  figure: {tiny_run / info['figures'][0]['path']}" in out
    assert "written" not in out
    assert main(["analyze", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in listed][:2] == ["filters", "activations"] and len(listed) >= 8
    with pytest.raises(ConvscopeError, match="unknown analysis"):
        analyze(tiny_run, ["gabor"])
    with pytest.raises(ConvscopeError, match="correspondence class 'cat'"):
        analyze(tiny_run, ["correspondence"], {"correspondence": {"class_name": "cat"}})
    with pytest.raises(ConvscopeError, match="not a run directory"):
        analyze(tiny_run.parent, ["topk"])


@pytest.mark.slow
def test_evolution_on_a_seeded_training_sample(tiny_run: Path, tmp_path: Path) -> None:
    """``train_images``: the strongest image per map among a seeded sample of the training
    split, reported by its index in the whole split; against the same search run directly on
    those images (the oracle)."""
    import shutil

    import torch

    from convscope.analysis.zf.evolution import feature_evolution_of_layers
    from convscope.studies.evolution import training_sample

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    rd = RunDir(run)
    ds, norm = rd.load_data()
    n = len(ds.train.images)
    analyze(run, ["evolution"], {"evolution": {"layers": ["conv1"], "train_images": 60, "seed": 3}})
    saved = json.loads((run / "analysis" / "evolution.json").read_text())
    assert saved["choices"]["split"].startswith(f"60 of the {n} training images")
    z = np.load(run / "analysis" / "zf_evolution.npz")
    sample = training_sample(n, 60, 3)
    assert sample is not None and len(set(sample.tolist())) == 60
    steps = rd.checkpoint_steps()
    (want,) = feature_evolution_of_layers(
        steps, lambda s: rd.load_model(s), ds.train.images[sample], ["conv1"], transform=norm
    )
    np.testing.assert_array_equal(z["relu1_values"], want.values.numpy())
    np.testing.assert_array_equal(z["relu1_image_index"], sample[want.image_index].numpy())
    assert training_sample(n, 0, 3) is None and training_sample(n, n, 3) is None
    assert torch.equal(training_sample(n, 60, 3), sample)  # the seed decides it
    assert not torch.equal(training_sample(n, 60, 4), sample)
    with pytest.raises(ConvscopeError, match="train_images must be 0"):
        training_sample(n, -1, 0)


def test_a_negative_train_images_is_a_config_error_naming_the_option() -> None:
    from convscope.errors import ConfigError
    from convscope.studies.base import make_options, resolve
    from convscope.studies.runner import run_scope_names

    run_scope_names()  # the built-in studies registered
    with pytest.raises(ConfigError, match=r"exp.toml: analysis 'evolution': option train_images"):
        make_options(resolve("evolution"), {"train_images": -3}, "exp.toml")
    assert make_options(resolve("evolution"), {"train_images": 5}, "exp.toml").train_images == 5
