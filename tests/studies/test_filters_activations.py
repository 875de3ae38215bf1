"""The filters and activations studies on real (tiny) runs of the training loop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from convscope.callbacks import config_callbacks
from convscope.config import from_flat
from convscope.errors import ConvscopeError
from convscope.io import read_npz
from convscope.runs import RunDir
from convscope.studies.runner import analyze
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
    cfg = config()
    s = train(cfg, out, callbacks=config_callbacks(cfg))  # the caller passes what cfg asks for
    assert s["status"] == "completed"
    return out


@pytest.mark.slow
def test_filters_and_activations_from_a_run(lenet_run: Path) -> None:
    done = analyze(lenet_run, ["filters", "activations"])
    assert set(done) == {"filters", "activations"}
    a = lenet_run / "analysis"
    saved = json.loads((a / "filters.json").read_text())
    assert saved["schema"] == "convscope.study/1" and saved["options"]["alpha"] == 0.05
    assert saved["verdicts"]["gabor_like"]["verdict"] in ("supported", "not supported")
    f = {**saved["numbers"], "observation": saved["observations"][0]}
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

    saved = json.loads((a / "activations.json").read_text())
    act = {**saved["numbers"], "observation": saved["observations"][0]}
    assert saved["choices"]["source"].startswith("activations.jsonl")
    assert act["steps"] == [0, 10, 20, 30] and act["cadence"] == 10 and act["n_images"] == 32
    acts = read_npz(a / "activations.npz")
    rows = RunDir(lenet_run).records("activations")
    # module paths name the layers (one scheme with the ZF studies); TensorBoard tags kept
    assert acts["relu2.mean"][-1] == pytest.approx(
        rows[-1]["layers"]["Layer_2_Activations"]["mean"]
    )
    assert act["layers"]["relu2"]["tag"] == "Layer_2_Activations"
    assert f"{100 * act['final']['relu1']['zero_fraction']:.1f}% zeros" in act["observation"]

    table = act["convergence"]
    assert [r["layer"] for r in table] == ["relu1", "relu2", "relu3", "fc2"]
    for r in table:
        assert f"{r['layer']} at {r['settled_at']}" in saved["observations"][1]
    # the verdict is the convergence sentence's rule, on the same table
    v = saved["verdicts"]["early_layers_converge_first"]
    conv = [r["settled_at"] for r in table if r["kind"] == "conv"]
    fc = [r["settled_at"] for r in table if r["kind"] in ("linear", "logits")]
    if v["verdict"] == "supported":
        assert max(conv) + act["cadence"] <= min(fc)
        assert "converge faster" in saved["observations"][1]

    dead = act["dead_units"]
    assert dead["n_images"] == 80 and dead["layers"]["relu1"]["n_units"] == 32
    assert dead["layers"]["relu3"]["n_units"] == 1024
    l3 = dead["on_fixed_batch_over_training"]["relu3"]
    assert l3["steps"] == [0, 10, 20, 30]
    um = acts["relu3.unit_max"]
    assert l3["n_dead"] == (um <= 0).sum(axis=1).tolist()
    assert f"{dead['layers']['relu3']['n_dead']} of 1024" in saved["observations"][2]
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
    analyze(copy, ["activations"])
    act = json.loads((copy / "analysis" / "activations.json").read_text())["choices"]
    assert act["source"] == "recomputed from the checkpoints at steps 0, 10, 20, 30"
    recorded = RunDir(lenet_run).records("activations")
    recomputed = read_npz(copy / "analysis" / "activations.npz")
    for i, row in enumerate(recorded):
        for tag, s in row["layers"].items():
            name = row["points"][tag]["module"] or row["points"][tag]["layer"]
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
    snap, src = RunDir(copy).initial_model()
    assert src == "checkpoint step 0"
    (copy / "checkpoints" / "step_0000000.pt").unlink()
    state = torch.get_rng_state()
    rebuilt, src = RunDir(copy).initial_model()
    assert torch.equal(state, torch.get_rng_state())
    assert src.startswith("rebuilt from the config")
    for (k, a), (_, b) in zip(snap.state_dict().items(), rebuilt.state_dict().items()):
        assert torch.equal(a, b), k


def test_recurrent_run(tmp_path: Path) -> None:
    out = tmp_path / "gru"
    cfg = config("gru", iterations=10, keep_checkpoints=[], activation_stats_every=5)
    train(cfg, out, callbacks=config_callbacks(cfg))
    done = analyze(out, ["filters", "activations"])
    f = json.loads(Path(done["filters"]).read_text())
    assert f["numbers"]["applicable"] is False and "no nn.Conv2d" in f["observations"][0]
    assert f["verdicts"]["gabor_like"]["verdict"] == "not testable"
    acts = read_npz(out / "analysis" / "activations.npz")
    (name,) = [k[: -len(".step_mean")] for k in acts if k.endswith(".step_mean")]
    assert acts[f"{name}.step_mean"].shape == (3, 12)  # steps 0, 5, 10; 12 rows
    assert (out / "figures" / f"activations_{name}_per_step.png").is_file()


def test_bad_requests(lenet_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ConvscopeError, match="unknown analysis 'gabor'"):
        analyze(lenet_run, ["gabor"])
    with pytest.raises(ConvscopeError, match="has no option 'size'"):
        analyze(lenet_run, ["filters"], {"filters": {"size": 3}})
    with pytest.raises(ConvscopeError, match="not a run directory"):
        analyze(tmp_path, ["filters"])


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.tuples(st.integers(1, 4), st.integers(1, 20), st.integers(1, 6), st.integers(1, 6)),
    channels_last=st.booleans(),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]),
    nan=st.booleans(),
)
def test_unit_max_equals_a_loop_over_units(
    seed: int,
    shape: tuple[int, int, int, int],
    channels_last: bool,
    dtype: torch.dtype,
    nan: bool,
) -> None:
    """Per unit, the maximum over images and positions (NaN where a NaN is among them), in
    either memory format: against a loop over units."""
    from convscope.studies.activations.stats import unit_max

    g = torch.Generator().manual_seed(seed)
    a = torch.round(torch.relu(torch.randn(shape, generator=g)) * 4) / 4  # ReLU ties
    if nan:
        a.view(-1)[int(torch.randint(a.numel(), (1,), generator=g))] = float("nan")
    a = a.to(dtype)
    if channels_last:
        a = a.contiguous(memory_format=torch.channels_last)
    got = unit_max(a)
    for u in range(shape[1]):
        vals = a[:, u].flatten().float()
        want = float("nan") if bool(torch.isnan(vals).any()) else float(vals.max())
        assert float(got[u]) == want or (want != want and float(got[u]) != float(got[u]))


@pytest.mark.slow
def test_dead_units_ride_the_pass_the_zf_analyses_share(
    lenet_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CNN's dead units come from the one pass over the test images that the Zeiler & Fergus
    analyses take anyway, and equal what a pass of their own gives (the oracle)."""
    import convscope.studies.activations.compute as act

    run = tmp_path / "lenet"
    shutil.copytree(lenet_run, run)
    rd = RunDir(run)
    ds, norm = rd.load_data()
    want = act.dead_units(rd.load_model(None), ds.test.images, norm)

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("the activations study took a pass of its own")

    monkeypatch.setattr(act, "dead_units", refuse)
    done = analyze(run, ["activations", "topk"])  # top-k reads the same pass's maxima
    assert set(done) == {"activations", "topk"}
    got = json.loads((run / "analysis" / "activations.json").read_text())
    layers = list(got["numbers"]["dead_units"]["layers"].values())  # named by module, in order
    assert [d["unit_max"] for d in layers] == [d["unit_max"] for d in want.values()]
    assert [d["dead"] for d in layers] == [d["dead"] for d in want.values()]
