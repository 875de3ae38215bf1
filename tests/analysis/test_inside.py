"""analyze_filters_activations on real (tiny) runs of the training loop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from convscope.analysis.inside import analyze_filters_activations, initial_model
from convscope.config import from_flat
from convscope.errors import ConvscopeError
from convscope.io import read_npz
from convscope.runs import RunDir
from convscope.train.loop import train


def config(model: str = "lenet5", iterations: int = 30, **over: object):
    flat = {
        "data": "digits",
        "resize": 12,
        "train_per_class": 30,
        "test_per_class": 8,
        "model": model,
        "iterations": iterations,
        "batch_size": 20,
        "eval_every": 10,
        "checkpoint_every": 10,
        "keep_checkpoints": [10, 20],
        "train_eval_size": 50,
        "activation_stats_every": 10,
        "activation_stats_size": 32,
        "threads": 1,
        "seed": 5,
        "hidden_size": 8,
    }
    flat.update(over)
    return from_flat(flat)


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("inside") / "lenet"
    s = train(config(), out)  # the loop adds the activation callback the config asks for
    assert s["status"] == "completed"
    return out


@pytest.mark.slow
def test_filters_and_activations_from_a_run(lenet_run: Path) -> None:
    done = analyze_filters_activations(lenet_run, {"filters", "activations"})
    assert set(done) == {"filters", "activations", "convergence", "dead_units"}
    a = lenet_run / "analysis"
    f = json.loads((a / "filters.json").read_text())
    assert f["layer"] == "conv1" and f["shape"] == [32, 1, 5, 5] and f["trained_step"] == 30
    assert f["init_source"] == "checkpoint step 0"
    assert f["trained"]["n"] == 32 and len(f["trained"]["r2"]) == 32
    assert f"{f['trained']['n_above_0.5']} of 32" in f["observation"]
    arr = read_npz(a / "filters.npz")
    model = RunDir(lenet_run).load_model(None)
    np.testing.assert_allclose(arr["weights_trained"], model.conv1.weight.detach().double().numpy())
    assert arr["weights_by_step"].shape == (4, 32, 1, 5, 5)
    np.testing.assert_array_equal(arr["snapshot_steps"], [0, 10, 20, 30])
    np.testing.assert_allclose(arr["weights_by_step"][0], arr["weights_init"])
    np.testing.assert_allclose(arr["gabor_r2_trained"], f["trained"]["r2"])

    act = json.loads((a / "activations.json").read_text())
    assert act["source"].startswith("activations.jsonl")
    assert act["steps"] == [0, 10, 20, 30] and act["cadence"] == 10 and act["n_images"] == 32
    acts = read_npz(a / "activations.npz")
    rows = RunDir(lenet_run).records("activations")
    assert acts["Layer_2_Activations.mean"][-1] == pytest.approx(
        rows[-1]["layers"]["Layer_2_Activations"]["mean"]
    )
    assert (
        f"{100 * act['final']['Layer_1_Activations']['zero_fraction']:.0f}% zeros"
        in act["observation"]
    )

    conv = json.loads((a / "convergence.json").read_text())
    assert [r["layer"] for r in conv["table"]] == [
        "Layer_1_Activations",
        "Layer_2_Activations",
        "Layer_3_Activations",
        "Logits",
    ]
    for r in conv["table"]:
        assert f"{r['layer']} at {r['settled_at']}" in conv["observation"]

    dead = json.loads((a / "dead_units.json").read_text())
    assert dead["n_images"] == 80 and dead["layers"]["Layer_1_Activations"]["n_units"] == 32
    assert dead["layers"]["Layer_3_Activations"]["n_units"] == 1024
    l3 = dead["on_fixed_batch_over_training"]["Layer_3_Activations"]
    assert l3["steps"] == [0, 10, 20, 30]
    um = acts["Layer_3_Activations.unit_max"]
    assert l3["n_dead"] == (um <= 0).sum(axis=1).tolist()
    assert f"{dead['layers']['Layer_3_Activations']['n_dead']} of 1024" in dead["observation"]
    for name in (
        "filters",
        "filters_shared",
        "filters_init",
        "filters_gabor",
        "filters_strip",
        "activations",
        "activations_ridgeline",
    ):
        assert (lenet_run / "figures" / f"{name}.png").stat().st_size > 1000, name


def test_recomputed_from_checkpoints_equals_recorded(lenet_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(lenet_run, copy)
    (copy / "activations.jsonl").unlink()
    shutil.rmtree(copy / "analysis", ignore_errors=True)
    analyze_filters_activations(copy, {"activations"})
    act = json.loads((copy / "analysis" / "activations.json").read_text())
    assert act["source"] == "recomputed from the checkpoints at steps 0, 10, 20, 30"
    recorded = RunDir(lenet_run).records("activations")
    recomputed = read_npz(copy / "analysis" / "activations.npz")
    for i, row in enumerate(recorded):
        for name, s in row["layers"].items():
            for k in ("mean", "std", "zero_fraction"):
                assert recomputed[f"{name}.{k}"][i] == pytest.approx(s[k], rel=1e-4, abs=1e-6), (
                    name,
                    k,
                )
    assert not (copy / "analysis" / "filters.json").exists()


def test_initial_model_rebuilt_from_seed_equals_step_0_snapshot(
    lenet_run: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "run"
    shutil.copytree(lenet_run, copy)
    snap, src = initial_model(RunDir(copy))
    assert src == "checkpoint step 0"
    (copy / "checkpoints" / "step_0000000.pt").unlink()
    state = torch.get_rng_state()
    rebuilt, src = initial_model(RunDir(copy))
    assert torch.equal(state, torch.get_rng_state())
    assert src.startswith("rebuilt from the config")
    for (k, a), (_, b) in zip(snap.state_dict().items(), rebuilt.state_dict().items()):
        assert torch.equal(a, b), k


def test_recurrent_run(tmp_path: Path) -> None:
    out = tmp_path / "gru"
    cfg = config("gru", iterations=10, keep_checkpoints=[], activation_stats_every=5)
    train(cfg, out)
    done = analyze_filters_activations(out, {"filters", "activations"})
    f = json.loads(Path(done["filters"]).read_text())
    assert f["applicable"] is False and "no nn.Conv2d" in f["observation"]
    acts = read_npz(out / "analysis" / "activations.npz")
    assert acts["Layer_1_Activations.step_mean"].shape == (3, 12)  # steps 0, 5, 10; 12 rows
    assert (out / "figures" / "activations_Layer_1_Activations_per_step.png").is_file()


def test_bad_requests(lenet_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ConvscopeError, match="unknown part deconv"):
        analyze_filters_activations(lenet_run, {"deconv"})
    with pytest.raises(ConvscopeError, match="not a run directory"):
        analyze_filters_activations(tmp_path, {"filters"})
