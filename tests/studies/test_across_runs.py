"""Across-group analysis on run directories built by hand, whose answers are known.

Each fake run has: config.json (a valid RunConfig), summary.json, activations.jsonl with hand-set
per-unit maxima and statistics, and model snapshots (step 0 and later) whose weights are the
initial ones scaled by known factors, so that dead fractions, settle steps and weight changes
are known exactly; the first-layer filters are exact Gabor functions after training and noise
at initialisation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from convscope import io
from convscope.studies.across.compute import RunRef
from convscope.studies.across.files import collect, run_numbers, write_group
from convscope.studies.across.summary import markdown, summarize

SCALE = {"conv1": 0.5, "fc1": 0.25, "fc2": 2.0}


def test_dead_units_and_weight_change_of_one_run(tmp_path: Path, across_run) -> None:
    d = across_run(tmp_path, "r", seed=3, dead_conv=6, dead_fc=4, scale=SCALE, settle_at=30)
    r = run_numbers(RunRef("adam", 3, d))
    assert r["layers"] == ["conv1", "fc1", "fc2"]
    # a hand-made run has no data to count the test split on: the fixed batch, and it says so
    assert r["sources"]["dead_at_end"].startswith("the last fixed-batch record")
    assert set(r["dead"]) == {"conv1", "fc1"}  # logits left out
    assert r["dead"]["conv1"]["n_dead"] == 6 and r["dead"]["conv1"]["fraction"] == 6 / 8
    assert r["dead"]["fc1"]["fraction"] == 4 / 10
    assert r["dead"]["conv1"]["fraction_over_training"] == [0, 3 / 8, 3 / 8, 6 / 8, 6 / 8]
    assert r["dead"]["conv1"]["half_step"] == 10
    assert r["settle"]["conv1"]["mean"] == 30 and r["settle"]["conv1"]["settled_at"] == 30
    assert r["settle"]["fc1"]["settled_at"] == 0  # constant statistics settle at once
    init, final = (
        {
            k: v.double().numpy()
            for k, v in torch.load(d / "checkpoints" / f, weights_only=True)["model"].items()
        }
        for f in ("step_0000000.pt", "step_0000040.pt")
    )
    # fc layers: W = (1 + c) W_0 exactly, so ||W - W_0|| / ||W_0|| = c
    assert r["weight_change"]["fc1"]["final"] == pytest.approx(0.25, rel=1e-6)
    assert r["weight_change"]["fc2"]["over_training"] == pytest.approx([1.0, 2.0], rel=1e-6)
    assert r["weight_change"]["fc2"]["steps"] == [20, 40]
    # conv1: Gabor filters replaced the weights; brute-force the expected change from the files
    num = sum(np.sum((final[k] - init[k]) ** 2) for k in ("conv1.weight", "conv1.bias"))
    den = sum(np.sum(init[k] ** 2) for k in ("conv1.weight", "conv1.bias"))
    assert r["weight_change"]["conv1"]["final"] == pytest.approx(np.sqrt(num / den), rel=1e-9)
    g = r["gabor"]
    assert g["layer"] == "conv1" and g["n_filters"] == 3
    assert g["median_r2_trained"] > 0.999  # exact Gabors
    assert g["median_r2_gain"] == pytest.approx(g["median_r2_trained"] - g["median_r2_init"])


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, across_run) -> list[RunRef]:
    """Three configurations x 4 seeds: ``same`` is drawn from the reference's distribution,
    ``other`` kills far more conv1 maps and moves fc1 much further."""
    root = tmp_path_factory.mktemp("sweep")
    rng = np.random.default_rng(7)
    refs = []
    for label, dead_mean, fc1_scale in (("ref", 2, 0.2), ("same", 2, 0.2), ("other", 6, 1.0)):
        for seed in range(4):
            dead = int(np.clip(dead_mean + rng.integers(-1, 2), 0, 8))
            sc = {"conv1": 0.5, "fc1": fc1_scale + 0.02 * rng.normal(), "fc2": 1.0}
            d = across_run(root, f"{label}-{seed}", seed, dead, 2, sc)
            refs.append(RunRef(label, seed, d))
    return refs


def test_significance_on_known_groups(sweep: list[RunRef], tmp_path: Path) -> None:
    s = write_group(sweep, tmp_path, reference="ref")
    q = s["quantities"]
    for r in sweep:  # every seed's dead fraction is recovered exactly
        rec = [json.loads(x) for x in (r.path / "activations.jsonl").read_text().splitlines()]
        expected = np.mean(np.asarray(rec[-1]["layers"]["Layer_1_Activations"]["unit_max"]) <= 0)
        got = [x for x in s["runs"] if x["run"] == str(r.path)][0]["dead"]["conv1"]["fraction"]
        assert got == expected
    assert q["dead_fraction"]["conv1"]["ref"]["n"] == 4
    comps = {c["label"]: c for c in s["comparisons"]["dead_fraction"]["conv1"]}
    assert not comps["same"]["significant"] and comps["same"]["p_holm"] > 0.05
    assert comps["other"]["significant"] and comps["other"]["p_holm"] < 0.05
    # Holm over the two comparisons: the smaller p doubled, the larger one at least as large
    ps = sorted([comps["same"]["p"], comps["other"]["p"]])
    assert comps["other"]["p_holm"] == pytest.approx(min(1.0, 2 * ps[0]))
    wc = {c["label"]: c for c in s["comparisons"]["weight_change"]["fc1"]}
    assert wc["other"]["significant"] and not wc["same"]["significant"]
    fc1_dead = {c["label"]: c for c in s["comparisons"]["dead_fraction"]["fc1"]}
    assert fc1_dead["other"]["p"] == 1.0  # 2 of 10 in every seed: no difference, exactly
    text = " ".join(o["text"] for o in s["observations"])
    other = q["dead_fraction"]["conv1"]["other"]
    assert (
        f"other leaves {100 * other['mean']:.1f} ± {100 * other['std']:.1f}% of conv1 maps" in text
    )
    assert "Welch t" in text and "Holm-corrected over 2" in text
    assert "same leaves" not in text
    # settle order: fc1 and fc2 constant (settled at 0), conv1 settles at 20
    assert "same order under every setting (fc1 = fc2 < conv1)" in text
    assert (tmp_path / "across.json").is_file() and (tmp_path / "across.md").is_file()
    for f in s["figures"].values():
        assert (tmp_path / f["path"]).is_file()
    assert {Path(f["path"]).name for f in s["figures"].values()} == {
        "across_dead_fraction.png",
        "across_gabor.png",
        "across_settle_step.png",
        "across_weight_change.png",
        "across_dead_over_training.png",
    }
    md = (tmp_path / "across.md").read_text()
    assert "| configuration | conv1 | fc1 |" in md and "ref (reference)" in md


def test_one_seed_says_no_test_and_bad_runs_are_notes(tmp_path: Path, across_run) -> None:
    a = across_run(tmp_path, "a", 0, 2, 0, SCALE)
    b = across_run(tmp_path, "b", 0, 6, 0, SCALE)
    io.write_json(b / "summary.json", {"status": "diverged"})
    runs, notes = collect([RunRef("a", 0, a), RunRef("b", 0, b), RunRef("c", 0, tmp_path / "nope")])
    assert len(runs) == 2 and notes and "nope" not in notes[0] and "c seed 0" in notes[0]
    s = summarize(runs)
    assert s["reference"] == "a"
    text = " ".join(o["text"] for o in s["observations"])
    assert "no significance test" in text and "Welch" not in text
    assert "from 25.0% under a to 75.0% under b (diverged)" in text
    assert s["tables"][0]["rows"][1][:2] == ["b (diverged)", "75.0%"]
    assert "no fc1 units die under any setting" in text
    assert "Dead units" in markdown(s)


@pytest.mark.slow
def test_real_runs_agree_with_a_forward_pass_and_the_parameters(tmp_path: Path) -> None:
    """Two short LeNet5 runs on the built-in digits: the dead fractions read from the records
    equal those of a forward pass of the final snapshot over the same fixed images, and the
    weight changes equal torch.linalg.norm over each module's parameters."""
    from convscope.callbacks import config_callbacks
    from convscope.config import from_flat
    from convscope.runs import RunDir
    from convscope.studies.activations.compute import dead_units, fixed_batch_indices
    from convscope.train.loop import train

    flat = {
        "data": "digits",
        "resize": 12,
        "train_per_class": 20,
        "test_per_class": 6,
        "model": "lenet5",
        "iterations": 20,
        "batch_size": 20,
        "eval_every": 10,
        "checkpoint_every": 10,
        "train_eval_size": 40,
        "activation_stats_every": 10,
        "activation_stats_size": 24,
        "threads": 1,
    }
    refs = []
    for label, lr in (("lr=1e-2", 1e-2), ("lr=1e-3", 1e-3)):
        d = tmp_path / label
        cfg = from_flat({**flat, "lr": lr, "seed": 1})
        assert train(cfg, d, callbacks=config_callbacks(cfg))["status"] == "completed"
        refs.append(RunRef(label, 1, d))
    s = write_group(refs, tmp_path / "group", gabor=False)
    assert s["configurations"] == ["lr=1e-2", "lr=1e-3"] and not s["notes"]
    for ref, got in zip(refs, s["runs"], strict=True):
        rd = RunDir(ref.path)
        final, first = rd.load_model(20), rd.initial_model()[0]
        dataset, normalize = rd.load_data()
        idx = fixed_batch_indices(len(dataset.test), 24)
        fixed = dead_units(final, dataset.test.images[torch.from_numpy(idx)], normalize)
        whole = {d["layer"]: d for d in dead_units(final, dataset.test.images, normalize).values()}
        for layer in fixed.values():  # at the end: the whole test split (the 1.4 count) ...
            got_layer = got["dead"][layer["layer"]]
            assert got_layer["fraction"] == whole[layer["layer"]]["dead_fraction"]
            assert got_layer["n_dead"] == whole[layer["layer"]]["n_dead"]
            # ... the fixed batch recorded during training kept beside it and over training
            assert got_layer["fraction_fixed_batch"] == layer["dead_fraction"]
            assert got_layer["fraction_over_training"][-1] == layer["dead_fraction"]
        assert "whole test split" in got["sources"]["dead_at_end"]
        for name, module in final.named_children():
            params = list(module.parameters())
            if not params:
                continue
            init = dict(first.named_children())[name].parameters()
            diff = [
                p.detach().double() - q.detach().double() for p, q in zip(params, init, strict=True)
            ]
            base = list(dict(first.named_children())[name].parameters())
            want = torch.linalg.norm(torch.cat([x.flatten() for x in diff])) / torch.linalg.norm(
                torch.cat([x.detach().double().flatten() for x in base])
            )
            assert got["weight_change"][name]["final"] == pytest.approx(float(want), rel=1e-9)
        assert got["gabor"] is None and got["settle"]["conv1"]["settled_at"] in (0, 10, 20)
