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
from convscope.errors import ConvscopeError
from convscope.models.examples import SmallBNCNN
from convscope.models.lenet import LeNet5
from convscope.studies import load_builtin
from convscope.studies.runner import analyze, analyze_group
from convscope.studies.sanity.combined import ANSWERS
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


def _train(out: Path, **extra: object) -> Path:
    cfg = from_flat(
        {
            "data": "digits",
            "iterations": 30,
            "batch_size": 50,
            "eval_every": 15,
            "checkpoint_every": 30,
            "threads": 1,
            "device": "cpu",
            **extra,
        }
    )
    train(cfg, out)
    return out


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory.mktemp("sanity") / "run")


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
    assert "sanity_labels" in saved["observations"][0]
    # the report: the default blocks plus one summary row per method
    from convscope.report.document import Table
    from convscope.report.sections.analysis import RenderView
    from convscope.studies.sanity import Sanity

    blocks = Sanity().render(saved, RenderView(tiny_run.parent, tiny_run, "run"))
    (table,) = [b for b in blocks if isinstance(b, Table) and b.header[0] == "method"]
    assert [r[0] for r in table.rows] == list(methods)


def test_captum_limits_name_a_functional_relu_in_one_line() -> None:
    assert captum_limits(LeNet5()) == {}
    limits = captum_limits(SmallBNCNN(in_channels=1, image_size=28))
    assert set(limits) == {"guided_backprop", "guided_gradcam"}
    for line in limits.values():
        assert "\n" not in line and "nn.ReLU modules only" in line and "a function" in line


def test_sanity_labels_compares_a_run_with_its_permuted_label_twin(
    tiny_run: Path, tmp_path: Path
) -> None:
    twin = _train(tmp_path / "twin", permute_labels=0, lr=5e-4)  # its optimiser may differ
    opts = {"sanity_labels": {**OPTS["sanity"], "target": 0.5}}
    for k in ("seeds", "steps", "random_orders"):
        opts["sanity_labels"].pop(k)
    runs = [(tiny_run, "run"), (twin, "twin")]
    analyze_group(tmp_path / "out", "g", runs, ["sanity_labels"], opts)
    saved = json.loads((tmp_path / "out/groups/g/analysis/sanity_labels.json").read_text())
    (fit,) = saved["numbers"]["twins"]
    assert fit["run"] == "twin" and fit["step"] == 30 and fit["permute_labels"] == 0
    assert fit["reached"] == (fit["train_accuracy"] >= 0.5)
    run_lr = json.loads((tiny_run / "config.json").read_text())["optim"]["lr"]
    assert fit["differs_from_run"] == {"lr": [run_lr, 5e-4]}
    # the combined verdict reads the weights test from the run's saved sanity result
    sanity = tiny_run / "analysis" / "sanity.json"
    weights = json.loads(sanity.read_text())["numbers"]["methods"] if sanity.is_file() else {}
    combined = saved["numbers"]["combined"]
    assert list(combined) == list(saved["numbers"]["methods"])
    for m, c in combined.items():
        assert c["answer"] in ANSWERS
        assert c["labels"]["value"] == saved["numbers"]["methods"][m]["labels"]["value"]
        if m in weights:
            assert c["weights"]["value"] == pytest.approx(weights[m]["weights"]["value"])
        v = saved["verdicts"][f"{m}.weights_and_labels"]["verdict"]
        assert (v == "not testable") == (c["answer"] == "not testable")
    if not sanity.is_file():
        assert "no sanity result" in saved["numbers"]["weights_from"]
    from convscope.report.document import Table
    from convscope.report.sections.analysis import RenderView
    from convscope.studies.sanity.labels import SanityLabels

    view = RenderView(tmp_path / "out", tmp_path / "out/groups/g", "g")
    blocks = SanityLabels().render(saved, view)
    (table,) = [b for b in blocks if isinstance(b, Table) and b.header[-1] == "combined verdict"]
    assert [r[0] for r in table.rows] == list(combined)
    assert [r[-1] for r in table.rows] == [c["words"] for c in combined.values()]
    for m, row in saved["numbers"]["methods"].items():
        lab = row["labels"]
        assert {"statistic", "value", "threshold", "why", "passes"} <= set(lab)
        v = saved["verdicts"][f"{m}.labels"]["verdict"]
        if fit["reached"]:
            assert v in ("supported", "not supported")
        else:  # a twin that did not fit the permuted labels decides nothing
            assert v == "not testable" and lab["value"] is None
    assert "permuted labels" in saved["observations"][0]
    with np.load(tmp_path / "out/groups/g/analysis/sanity_labels.npz") as z:
        assert z["saliency_spearman_abs_twin0"].shape == (3,)
    # a group without a twin is refused in one line
    with pytest.raises(ConvscopeError, match="needs a run and at least one twin"):
        analyze_group(tmp_path / "out", "g", [(tiny_run, "run")], ["sanity_labels"], opts)


def test_sanity_labels_pairs_each_seeds_run_with_its_own_twin(tmp_path):
    """A profile with several seeds trains a run and a twin per seed: each twin is compared with
    the run of its own seed (the full profile's layout), and a twin without one is refused."""
    from types import SimpleNamespace

    from convscope.config import from_flat
    from convscope.studies.sanity.labels import _pairs

    def run(name, seed, permute=None):
        cfg = from_flat({"seed": seed, "permute_labels": permute})
        return SimpleNamespace(path=tmp_path / name, rd=SimpleNamespace(config=lambda: cfg))

    runs = [run("a0", 0), run("a1", 1), run("t0", 0, 0), run("t1", 1, 0)]
    ctx = SimpleNamespace(group="g", runs=runs)
    pairs = _pairs(ctx)
    assert [(p.path.name, [t.path.name for t in ts]) for p, ts in pairs] == [
        ("a0", ["t0"]),
        ("a1", ["t1"]),
    ]
    with pytest.raises(ConvscopeError, match="not a label twin"):
        _pairs(SimpleNamespace(group="g", runs=[run("a0", 0), run("t2", 2, 0)]))
    with pytest.raises(ConvscopeError, match="one run without permute_labels per seed"):
        _pairs(SimpleNamespace(group="g", runs=[run("a0", 0), run("b0", 0), run("t0", 0, 0)]))
