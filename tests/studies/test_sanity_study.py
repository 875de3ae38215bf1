"""The `sanity` study on a real (tiny) run: registered, its JSON carries per method and test
the statistic, threshold and why, its figures and arrays exist; Captum's limits are said in
one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from convscope.analysis.sanity.methods import captum_limits
from convscope.config import from_flat
from convscope.models.examples import SmallBNCNN
from convscope.models.lenet import LeNet5
from convscope.studies import load_builtin
from convscope.studies.runner import analyze
from convscope.train.loop import train

OPTS = {
    "sanity": {
        "images": 3,
        "seeds": [0, 1],
        "ig_steps": 8,
        "steps": 8,
        "random_orders": 2,
        "occlusion_stride": 8,
    }
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sanity") / "run"
    cfg = from_flat(
        {
            "data": "digits",
            "iterations": 30,
            "batch_size": 50,
            "eval_every": 30,
            "checkpoint_every": 30,
            "threads": 1,
            "device": "cpu",
        }
    )
    train(cfg, out)
    return out


def test_sanity_is_registered() -> None:
    assert "sanity" in load_builtin()


def test_sanity_study_writes_numbers_verdicts_figures(tiny_run: Path) -> None:
    analyze(tiny_run, ["sanity"], OPTS)
    saved = json.loads((tiny_run / "analysis" / "sanity.json").read_text())
    assert saved["schema"] == "convscope.study/1" and saved["study"] == "sanity"
    assert saved["options"]["seeds"] == [0, 1]
    methods = saved["numbers"]["methods"]
    assert list(methods) == [
        "saliency",
        "guided_backprop",
        "integrated_gradients",
        "gradcam",
        "guided_gradcam",
        "deconvnet",
        "occlusion",
    ]
    for m, row in methods.items():
        w = row["weights"]
        assert {"statistic", "value", "threshold", "why", "passes", "words"} <= set(w)
        assert len(row["after_full_cascade"]["spearman_abs"]["per_seed"]) == 2
        assert row["deletion"]["verdict"]["why"] and "random_area_mean" in row["insertion"]
        assert saved["verdicts"][f"{m}.weights"]["verdict"] in ("supported", "not supported")
        assert row["verdict"].endswith("(the label test was not run)")
    assert saved["numbers"]["layers_top_down"] == ["fc2", "fc1", "conv2", "conv1"]
    for f in saved["figures"]:
        assert (tiny_run / f["path"]).is_file()
    names = {Path(f["path"]).name for f in saved["figures"]}
    assert {"sanity_maps.png", "sanity_randomisation.png", "sanity_faithfulness.png"} <= names
    with np.load(tiny_run / "analysis" / "sanity.npz") as z:
        assert z["saliency_cascading_spearman_abs"].shape == (2, 4, 3)
        assert z["saliency_trained"].shape == (3, 28, 28)
        assert z["random_deletion"].shape == (3, 9)
    assert "label test needs a twin" in saved["observations"][0]


def test_captum_limits_name_a_functional_relu_in_one_line() -> None:
    assert captum_limits(LeNet5()) == {}
    limits = captum_limits(SmallBNCNN(in_channels=1, image_size=28))
    assert set(limits) == {"guided_backprop", "guided_gradcam"}
    for line in limits.values():
        assert "\n" not in line and "nn.ReLU modules only" in line and "a function" in line
