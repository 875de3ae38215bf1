"""The ``topk`` study's random-weights part (issue 21) on a real (tiny) run: JSON keys and
verdicts in the form of the ``sanity`` study's, arrays, figure, seeds; the trained numbers are
those of the top-k alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from convscope.analysis.sanity.verdicts import RHO_THRESHOLD, RHO_WHY
from convscope.analysis.zf.topk_random import randomisation_seed
from convscope.config import from_flat
from convscope.runs import RunDir
from convscope.studies.runner import analyze
from convscope.train.loop import train


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("topk_rw") / "run"
    cfg = from_flat(
        {
            "data": "digits",
            "iterations": 30,
            "batch_size": 50,
            "eval_every": 15,
            "checkpoint_every": 15,
            "threads": 1,
            "device": "cpu",
            "seed": 0,
        }
    )
    train(cfg, out)
    return out


def _saved(run: Path) -> tuple[dict, dict]:
    rd = RunDir(run)
    saved = json.loads((rd.path / "analysis" / "topk.json").read_text())
    with np.load(rd.path / "analysis" / "zf_topk.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return saved, arrays


def test_topk_records_the_random_weights_projections(run: Path) -> None:
    analyze(run, ["topk"], {"topk": {"k": 3}})
    saved, arrays = _saved(run)
    rw = saved["numbers"]["random_weights"]
    assert rw["seed"] == 0 and rw["torch_seed"] == randomisation_seed(0, 0) != 0
    assert rw["layers_randomised"][0] == "conv1"
    layers = [r["layer"] for r in saved["numbers"]["per_layer"]]
    assert [r["layer"] for r in rw["per_layer"]] == layers
    for r in rw["per_layer"]:
        v = r["verdict"]
        assert v["threshold"] == RHO_THRESHOLD and v["why"] == RHO_WHY
        assert v["value"] == pytest.approx(max(r["spearman_abs"]["mean"], r["spearman"]["mean"]))
        assert v["passes"] == (v["value"] < RHO_THRESHOLD)
        name = r["layer"]
        got = arrays[f"{name}_random_weights_spearman_abs"]
        live = arrays[f"{name}_values"] > 0
        assert r["entries_compared"] == int(live.sum()) > 0
        assert r["spearman_abs"]["mean"] == pytest.approx(np.nanmean(got[live]))
        assert np.isnan(got[~live]).all()
        rp = arrays[f"{name}_projection_patches_random_weights"]
        assert rp.shape == arrays[f"{name}_projection_patches"].shape
        assert not np.allclose(rp, arrays[f"{name}_projection_patches"])
        verdict = saved["verdicts"][f"{name}.weights"]
        assert verdict["verdict"] == ("supported" if v["passes"] else "not supported")
    figs = [f["path"] for f in saved["figures"]]
    assert "figures/zf_topk_random_weights.png" in figs
    assert (Path(run) / "figures" / "zf_topk_random_weights.png").stat().st_size > 1000


def test_seeds_reproduce_and_differ(run: Path) -> None:
    analyze(run, ["topk"], {"topk": {"k": 3}})
    _, a = _saved(run)
    analyze(run, ["topk"], {"topk": {"k": 3}})
    _, b = _saved(run)
    analyze(run, ["topk"], {"topk": {"k": 3, "random_seed": 1}})
    saved, c = _saved(run)
    assert saved["numbers"]["random_weights"]["seed"] == 1
    keys = [k for k in a if "random_weights" in k]
    assert keys
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert any(not np.array_equal(a[k], c[k], equal_nan=True) for k in keys)
    for k in a:  # the trained top-k does not depend on the random seed
        if "random_weights" not in k:
            np.testing.assert_array_equal(a[k], c[k])


def test_deconv_and_sanity_never_reinitialise_with_the_training_seed():
    """Re-initialising after torch.manual_seed(training seed) gives the first layer back its
    initial weights; every study that randomises weights derives its seed away from it."""
    import torch

    from convscope.analysis.sanity.randomise import fully_randomised
    from convscope.models.lenet import LeNet5

    for run_seed in (0, 1, 7):
        torch.manual_seed(run_seed)
        init = LeNet5(in_channels=1, image_size=(28, 28), num_classes=10)
        same = fully_randomised(init, run_seed)  # what the studies did before
        assert torch.equal(same.conv1.weight, init.conv1.weight)
        s = randomisation_seed(run_seed, 0)
        assert s != run_seed
        assert not torch.equal(fully_randomised(init, s).conv1.weight, init.conv1.weight)
