"""Experiment files: expansion, precedence, profiles, identity, and errors naming the key."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from convscope.config import from_flat
from convscope.errors import ConfigError
from convscope.experiments.spec import expand, load_experiment
from convscope.train.precision import run_hash

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT2 = ROOT / "experiments" / "assignment2.toml"

OPTIMIZER_LABELS = [
    "adam_lr=1e-3",
    "adam_lr=1e-4",
    "adam_lr=1e-5",
    "rms_lr=1e-4_momentum=0",
    "rms_lr=1e-4_momentum=0.5",
    "rms_lr=1e-4_momentum=0.75",
    "rms_lr=1e-4_momentum=1",
]


def base_doc() -> dict[str, Any]:
    return {
        "name": "t",
        "seeds": [0],
        "defaults": {"iterations": 10, "batch_size": 8, "lr": 0.01},
        "groups": {
            "g": {
                "title": "G",
                "section": "9.9",
                "data": "{data_root}/MNIST",
                "label": "{model}_h{hidden_size}",
                "grid": {"model": ["rnn", "gru"], "hidden_size": [4, 8]},
            },
            "h": {
                "runs": [
                    {"label": "a", "optimizer": "sgd"},
                    {"label": "b", "optimizer": "adam", "lr": 0.001},
                ],
            },
        },
        "profiles": {
            "quick": {"seeds": 1, "defaults": {"iterations": 5}},
            "full": {
                "seeds": [0, 1, 2],
                "defaults": {"epochs": 2, "eval_every": 3},
                "groups": {"h": {"batch_size": 16}},
            },
        },
    }


def ex(doc: dict[str, Any], profile: str | None = "quick", root: str | None = None) -> Any:
    return expand(doc, "t.toml", profile, root)


def runs(e: Any, group: str) -> list[Any]:
    return next(g for g in e.groups if g.name == group).runs


# --- the shipped experiment ------------------------------------------------------------------
@pytest.fixture(scope="module", params=["quick", "full"])
def a2(request: pytest.FixtureRequest) -> Any:
    return load_experiment(ASSIGNMENT2, request.param, data_root=str(ROOT))


def test_assignment2_groups_and_labels(a2: Any) -> None:
    assert [g.name for g in a2.groups] == [
        "cnn",
        "optimizers",
        "inside",
        "zf",
        "zf_labels",
        "rnn",
        "cnn_vs_rnn",
    ]
    assert [g.section for g in a2.groups] == ["1.1", "1.2", "", "2", "", "3.1", "3.2"]
    seeds = 3 if a2.profile == "full" else 1
    opt = runs(a2, "optimizers")
    assert list(dict.fromkeys(r.label for r in opt)) == OPTIMIZER_LABELS
    assert len(opt) == 7 * seeds
    by_label = {r.label: r.config for r in opt if r.seed == 0}
    assert {k: (c.optim.optimizer, c.optim.lr, c.optim.momentum) for k, c in by_label.items()} == {
        "adam_lr=1e-3": ("adam", 1e-3, 0.0),
        "adam_lr=1e-4": ("adam", 1e-4, 0.0),
        "adam_lr=1e-5": ("adam", 1e-5, 0.0),
        "rms_lr=1e-4_momentum=0": ("rmsprop", 1e-4, 0.0),
        "rms_lr=1e-4_momentum=0.5": ("rmsprop", 1e-4, 0.5),
        "rms_lr=1e-4_momentum=0.75": ("rmsprop", 1e-4, 0.75),
        "rms_lr=1e-4_momentum=1": ("rmsprop", 1e-4, 1.0),
    }
    for r in [*runs(a2, "cnn"), *opt]:
        assert r.config.model.model == "lenet5"
        assert r.config.data.data == str(ROOT / "CIFAR10")
        assert r.config.train.batch_size == 50
    rnn = runs(a2, "rnn")
    assert len(rnn) == 12 * seeds
    assert {(r.config.model.model, r.config.model.hidden_size) for r in rnn} == {
        (m, h) for m in ("rnn", "lstm", "gru") for h in (32, 64, 128, 256)
    }
    assert all(r.config.data.data == str(ROOT / "MNIST") for r in rnn)
    for g in a2.groups:
        assert sorted({r.seed for r in g.runs}) == list(range(seeds))


def test_assignment2_full_budget(a2: Any) -> None:
    cnn = runs(a2, "cnn")[0].config
    if a2.profile == "full":
        assert cnn.train.epochs == 8 and cnn.train.iterations is None
    else:
        assert cnn.train.iterations is not None and cnn.train.iterations <= 500
    assert cnn.train.keep_checkpoints and cnn.train.activation_stats_every > 0


def test_assignment2_shares_runs_by_identity(a2: Any) -> None:
    cnn = {r.hash for r in runs(a2, "cnn")}
    adam = {r.hash for r in runs(a2, "optimizers") if r.label == "adam_lr=1e-3"}
    assert cnn == adam  # section 1.1's run is 1.2's adam_lr=1e-3, trained once
    rnn = {r.hash for r in runs(a2, "rnn")}
    vs = runs(a2, "cnn_vs_rnn")
    recurrent = [r for r in vs if r.config.model.model != "lenet5"]
    assert recurrent and {r.hash for r in recurrent} <= rnn
    lenet = [r for r in vs if r.config.model.model == "lenet5"]
    assert lenet and all(r.config.data.data.endswith("MNIST") for r in lenet)
    # the same iteration axis
    assert {r.config.train.iterations for r in vs} == {
        r.config.train.iterations for r in runs(a2, "rnn")
    }
    assert {r.config.train.eval_every for r in vs} == {
        r.config.train.eval_every for r in runs(a2, "rnn")
    }
    # the analyses groups list the cnn run again: the same config, one run
    assert {r.hash for g in ("inside", "zf") for r in runs(a2, g)} == cnn
    # zf_labels: the cnn run again and its twin on permuted labels (one more run per seed)
    labels = runs(a2, "zf_labels")
    assert {r.hash for r in labels if r.label == "adam_lr=1e-3"} == cnn
    twins = [r for r in labels if r.label == "permuted_labels"]
    assert twins and not {r.hash for r in twins} & cnn
    assert all(r.config.data.permute_labels == 0 for r in twins)
    n_listed = sum(len(g.runs) for g in a2.groups)
    assert len(a2.unique_runs()) == n_listed - 4 * len(adam) - len(recurrent)


def test_assignment2_analysis_targets_the_cnn_run(a2: Any) -> None:
    cnn = runs(a2, "cnn")[0].hash
    assert {a.hash for a in a2.analysis} == {cnn} and {a.seed for a in a2.analysis} == {0}
    what = [w for a in a2.analysis for w in a.what]
    assert set(what) >= {"filters", "activations", "deconv", "topk", "occlusion", "sanity"}
    assert [(e.group, e.section) for e in a2.entries] == [
        ("inside", "1.3"),
        ("inside", "1.4"),
        ("zf", ""),
        ("zf", "2.7"),  # the sanity checks of the deconvnet and the other maps
        ("zf_labels", "2.8"),  # the zf run against its permuted-label twin
        ("optimizers", ""),
    ]
    # the claims are the experiment's, each with a section, a group and a known rule
    assert len(a2.claims) == 11 and {c.section for c in a2.claims} == {
        "1.2",
        "1.3",
        "1.4",
        "3.1",
        "3.2",
    }
    from convscope.report.claims import check_rule, import_rules, locate_rules

    # curve rules come from the experiment's own plugin, named by import path beside it
    assert a2.claim_rules["ref"] == "assignment2_claims.py:RULES"
    loc = locate_rules(a2.claim_rules["ref"], Path(a2.file).resolve().parent, "test")
    rules = import_rules(loc, "test")
    for c in a2.claims:
        check_rule(c.rule, "test", rules)
    with pytest.raises(ConfigError, match="claim_rules"):
        check_rule("gru_beats_lstm", "test", {})  # a curve rule without the plugin


def test_assignment2_compares_the_optimizers_across_seeds(a2: Any) -> None:
    (e,) = [e for e in a2.entries if e.names == ["across"]]
    assert e.group == "optimizers" and e.scope == {"across": "group"}
    assert e.title == "Inside the network, per optimizer"


def test_no_data_root_falls_back_to_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONVSCOPE_DATA_ROOT", raising=False)
    e = load_experiment(ASSIGNMENT2, "quick")
    assert e.data_root is None
    assert {r.config.data.data for g in e.groups for r in g.runs} == {"digits"}
    assert "digits" in e.data_note and "NOT" in e.data_note
    # CIFAR-10's class names belong to the replaced source, not to the digits
    assert all(not r.config.data.class_names for g in e.groups for r in g.runs)
    assert "{data_root}/CIFAR10" in e.data_note and "{data_root}/MNIST" in e.data_note


def test_data_root_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONVSCOPE_DATA_ROOT", str(tmp_path))
    e = load_experiment(ASSIGNMENT2, "quick")
    assert e.data_root == str(tmp_path)
    assert runs(e, "rnn")[0].config.data.data == str(tmp_path / "MNIST")
    assert str(tmp_path) in e.data_note


def test_data_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--data-root"):
        load_experiment(ASSIGNMENT2, "quick", data_root=tmp_path / "nope")


# --- expansion rules -------------------------------------------------------------------------
def test_grid_list_labels_and_seeds() -> None:
    e = ex(base_doc(), "full", "/data")
    g = runs(e, "g")
    assert [(r.label, r.seed) for r in g][:4] == [
        ("rnn_h4", 0),
        ("rnn_h4", 1),
        ("rnn_h4", 2),
        ("rnn_h8", 0),
    ]
    assert len(g) == 4 * 3
    assert g[0].config.name == "rnn_h4-s0" and g[1].config.train.seed == 1
    assert g[0].config.data.data == "/data/MNIST"
    assert [r.label for r in runs(e, "h")] == ["a"] * 3 + ["b"] * 3
    assert (e.groups[0].title, e.groups[0].section) == ("G", "9.9")


def test_precedence_of_layers() -> None:
    doc = base_doc()
    doc["defaults"].update(eval_every=7, momentum=0.1, dropout=0.1)
    doc["groups"]["h"]["momentum"] = 0.2
    doc["groups"]["h"]["runs"][0]["dropout"] = 0.3
    doc["profiles"]["full"]["groups"]["h"]["eval_every"] = 11
    e = ex(doc, "full")
    a = runs(e, "h")[0].config
    assert a.optim.momentum == 0.2  # group over defaults
    assert a.model.dropout == 0.3  # variation over group
    assert a.train.epochs == 2 and a.train.iterations is None  # profile budget drops defaults'
    assert a.train.eval_every == 11  # profile group over profile defaults
    assert a.train.batch_size == 16
    g = runs(e, "g")[0].config
    assert g.train.eval_every == 3 and g.train.batch_size == 8 and g.optim.lr == 0.01


def test_budget_keys_replace_each_other() -> None:
    doc = base_doc()
    doc["defaults"] = {"epochs": 3}
    e = ex(doc, "quick")
    t = runs(e, "g")[0].config.train
    assert (t.iterations, t.epochs) == (5, None)


def test_default_profile_and_no_profiles() -> None:
    doc = base_doc()
    with pytest.raises(ConfigError, match="default_profile"):
        ex(doc, None)
    doc["default_profile"] = "full"
    assert ex(doc, None).profile == "full"
    doc2 = base_doc()
    del doc2["profiles"]
    e = ex(doc2, None)
    assert e.profile == "" and runs(e, "g")[0].config.train.iterations == 10


def test_unknown_profile_is_named() -> None:
    with pytest.raises(ConfigError, match="no profile 'huge'"):
        ex(base_doc(), "huge")


def test_identity_ignores_label_and_threads_and_dedups_across_groups() -> None:
    doc = base_doc()
    doc["groups"]["copy"] = {
        "data": "{data_root}/MNIST",
        "runs": [{"label": "same as rnn_h8", "model": "rnn", "hidden_size": 8}],
    }
    e = ex(doc, "quick", "/data")
    copy_run = runs(e, "copy")[0]
    g = {r.label: r for r in runs(e, "g")}
    assert copy_run.hash == g["rnn_h8"].hash
    assert len(e.unique_runs()) == 4 + 2  # g's grid + h's list; copy adds none
    cfg = copy_run.config
    other = dataclasses.replace(
        cfg, name="x", train=dataclasses.replace(cfg.train, threads=3, device="cpu")
    )
    assert run_hash(other) == copy_run.hash
    assert copy_run.hash == run_hash(
        from_flat(
            {
                "data": "/data/MNIST",
                "model": "rnn",
                "hidden_size": 8,
                "iterations": 5,
                "batch_size": 8,
                "lr": 0.01,
                "seed": 0,
            }
        )
    )


def test_auto_labels_name_the_varied_keys() -> None:
    doc = base_doc()
    del doc["groups"]["g"]["label"]
    e = ex(doc, "quick")
    assert [r.label for r in runs(e, "g")] == [
        "model=rnn_hidden_size=4",
        "model=rnn_hidden_size=8",
        "model=gru_hidden_size=4",
        "model=gru_hidden_size=8",
    ]


def test_sectioned_keys_are_accepted() -> None:
    doc = base_doc()
    doc["groups"]["h"]["optim"] = {"weight_decay": 0.5}
    e = ex(doc, "quick")
    assert runs(e, "h")[0].config.optim.weight_decay == 0.5


# --- errors name the key ---------------------------------------------------------------------
def _mutate(path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(base_doc())
    d: Any = doc
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        (["grups"], {}, "unknown key 'grups'"),
        (["defaults", "lrr"], 1, "unknown key 'lrr'"),
        (["groups", "g", "colour"], "red", "unknown key 'colour'"),
        (["groups", "g", "grid", "hiden_size"], [1], "unknown key 'hiden_size'"),
        (["groups", "h", "runs", 0, "optimiser"], "sgd", "unknown key 'optimiser'"),
        (["profiles", "quick", "budget"], 3, "unknown key 'budget'"),
        (["profiles", "quick", "defaults", "iters"], 3, "unknown key 'iters'"),
        (["profiles", "full", "groups", "nogroup"], {}, "unknown group 'nogroup'"),
        (["analysis"], [{"group": "g", "wat": ["filters"]}], "unknown key 'wat'"),
        (["analysis"], [{"group": "g", "what": ["filterz"]}], "unknown analysis 'filterz'"),
        (["analysis"], [{"group": "zz"}], "key 'group'"),
        (["analysis"], [{"group": "h", "label": "zz"}], "no run 'zz'"),
        (["analysis"], [{"group": "g", "what": ["nope.mod:X"]}], "cannot import 'nope.mod'"),
        (
            ["analysis"],
            [{"group": "g", "what": ["occlusion"], "options": {"occlusion": {"sise": 3}}}],
            "has no option 'sise'; expected layer, size",
        ),
        (
            ["analysis"],
            [{"group": "g", "what": ["occlusion"], "options": {"occlusion": {"size": "big"}}}],
            "option occlusion.size: expected int",
        ),
        (
            ["analysis"],
            [{"group": "g", "what": ["filters"], "options": {"topk": {"k": 3}}}],
            "'topk' is not in 'what'",
        ),
        (
            ["claims"],
            [{"quote": "q", "section": "1", "group": "g", "rule": "nope"}],
            "unknown rule",
        ),
        (
            ["claims"],
            [{"quote": "q", "section": "1", "group": "zz", "rule": "gru_beats_lstm"}],
            "key 'group'",
        ),
        (["claims"], [{"quote": "q", "group": "g", "rule": "gru_beats_lstm"}], "key 'section'"),
        (["groups", "g", "report"], "some", "key 'report'"),
        (["groups", "g", "milestones"], {"test_acc": 0.9}, "key 'milestones'"),
        (["groups", "g", "lr"], "fast", "key 'lr'"),
        (["groups", "g", "grid", "lr"], 0.1, "key 'lr': expected a non-empty list"),
        (["seeds"], [0, 0], "repeated seed"),
        (["seeds"], -1, "key 'seeds'"),
    ],
)
def test_unknown_keys_and_bad_values_are_named(path: list[Any], value: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ex(_mutate(path, value), "quick")


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        # a profile may not collapse a group's variations
        (["profiles", "quick", "defaults", "hidden_size"], 16, "key 'hidden_size' is varied"),
        (["profiles", "full", "groups", "h", "optimizer"], "sgd", "key 'optimizer' is varied"),
        # a key in both the grid and the list
        (["groups", "h", "grid"], {"optimizer": ["sgd"]}, "both 'grid' and 'runs'"),
        # seeds only through 'seeds'
        (["defaults", "seed"], 3, "key 'seed'"),
        (["groups", "g", "grid", "seed"], [1, 2], "key 'seed'"),
        # epochs and iterations in one layer
        (["defaults", "epochs"], 2, "either 'epochs' or 'iterations'"),
        # nesterov needs sgd
        (["groups", "h", "nesterov"], True, "nesterov"),
        # kept checkpoints beyond the budget
        (["groups", "g", "keep_checkpoints"], [3, 50], "keep_checkpoints"),
        # two different runs with one label
        (["groups", "g", "label"], "same", "share the label 'same'"),
        # the same run twice in a group
        (["groups", "h", "runs"], [{"label": "x"}, {"label": "x"}], "listed twice"),
        (["groups", "g", "model"], "resnet", "key 'model'"),
        (["groups", "g", "label"], "{colour}", "template field '{colour}'"),
    ],
)
def test_impossible_combinations_are_named(path: list[Any], value: Any, match: str) -> None:
    doc = _mutate(path, value)
    if path[:3] == ["groups", "g", "model"]:
        doc["groups"]["g"]["grid"] = {"hidden_size": [4]}
    with pytest.raises(ConfigError, match=match):
        ex(doc, "quick")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_experiment(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_experiment(bad)
    empty = tmp_path / "empty.toml"
    empty.write_text('name = "e"\n')
    with pytest.raises(ConfigError, match="groups"):
        load_experiment(empty)


def test_shared_run_keeps_the_snapshots_of_every_group(a2: Any) -> None:
    cnn = next(r for r in runs(a2, "cnn") if r.seed == 0)
    adam = next(r for r in runs(a2, "optimizers") if r.label == "adam_lr=1e-3" and r.seed == 0)
    assert cnn.hash == adam.hash  # one run, whatever snapshots each group asks for
    cnn_hashes = {r.hash for r in runs(a2, "cnn")}
    others = [r for r in runs(a2, "optimizers") if r.hash not in cnn_hashes]
    assert others and all(not r.config.train.keep_checkpoints for r in others)
    shared = next(r for r in a2.unique_runs() if r.hash == cnn.hash)
    assert shared.config.train.keep_checkpoints == cnn.config.train.keep_checkpoints != []


def test_unique_runs_merge_kept_snapshots() -> None:
    doc = {
        "name": "t",
        "defaults": {"data": "digits", "iterations": 30},
        "groups": {"a": {"keep_checkpoints": [10]}, "b": {"keep_checkpoints": [20, 10]}},
    }
    e = expand(doc, "t", None, None)
    (only,) = e.unique_runs()
    assert only.config.train.keep_checkpoints == [10, 20]
