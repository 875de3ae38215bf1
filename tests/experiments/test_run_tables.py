"""A profile's table for one run of a group (``[profiles.P.groups.G.runs.LABEL]``)."""

from __future__ import annotations

from typing import Any

import pytest
from test_spec import ASSIGNMENT2, ROOT, base_doc, ex, runs

from convscope.errors import ConfigError
from convscope.experiments.spec import load_experiment
from convscope.train.precision import run_hash


def test_a_run_table_is_the_top_layer_for_that_run_only() -> None:
    doc = base_doc()
    doc["profiles"]["full"]["groups"]["h"]["runs"] = {
        "b": {"iterations": 40, "stop_at_train_accuracy": 0.9, "batch_size": 4}
    }
    e = ex(doc, "full")
    a, b = runs(e, "h")[:3], runs(e, "h")[3:]  # three seeds each
    assert {r.label for r in a} == {"a"} and {r.label for r in b} == {"b"}
    for r in a:  # untouched: the profile's group table as before
        assert (r.config.train.epochs, r.config.train.iterations) == (2, None)
        assert r.config.train.batch_size == 16
        assert r.config.train.stop_at_train_accuracy is None
    for r in b:  # over the profile's group table; its budget drops the epochs below it
        assert (r.config.train.epochs, r.config.train.iterations) == (None, 40)
        assert r.config.train.batch_size == 4
        assert r.config.train.stop_at_train_accuracy == 0.9
        assert r.config.optim.lr == 0.001  # the run's own key, below the profile, stays
    quick = ex(doc, "quick")  # only the profile that has the table
    assert all(r.config.train.stop_at_train_accuracy is None for r in runs(quick, "h"))


def test_the_command_lines_overrides_stay_on_top() -> None:
    doc = base_doc()
    doc["profiles"]["full"]["groups"]["h"]["runs"] = {"b": {"batch_size": 4}}
    from convscope.experiments.spec import expand

    e = expand(doc, "t.toml", "full", None, {"batch_size": 2})
    assert all(r.config.train.batch_size == 2 for r in runs(e, "h"))


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"nope": {"iterations": 3}}, r"groups\.h\.runs: no run labelled 'nope'.*a, b"),
        ({"b": {"optimizer": "sgd"}}, r"runs\.b: key 'optimizer' is varied by the group"),
        ({"b": {"bogus": 1}}, r"runs\.b: unknown key 'bogus'"),
        ({"b": {}}, r"runs\.b: the table is empty"),
        ({"b": 3}, r"runs\.b: expected a table"),
        ({"b": {"epochs": 1, "iterations": 2}}, r"runs\.b: give either 'epochs' or 'iterations'"),
    ],
)
def test_bad_run_tables_are_named(table: dict[str, Any], match: str) -> None:
    doc = base_doc()
    doc["profiles"]["full"]["groups"]["h"]["runs"] = table
    with pytest.raises(ConfigError, match=match):
        ex(doc, "quick")  # every profile is checked, not only the chosen one


def test_assignment2_twin_has_its_own_budget_and_the_zf_run_is_shared() -> None:
    for profile in ("quick", "full"):
        e = load_experiment(ASSIGNMENT2, profile, data_root=str(ROOT))
        zf = {r.hash for r in runs(e, "zf")}
        plain = [r for r in runs(e, "zf_labels") if r.label == "adam_lr=1e-3"]
        twin = [r for r in runs(e, "zf_labels") if r.label == "permuted_labels"]
        assert {r.hash for r in plain} == zf  # the zf run, trained once
        for t in twin:
            assert t.config.data.permute_labels == 0
            assert t.config.train.stop_at_train_accuracy is not None
            assert t.config.model == plain[0].config.model
            assert run_hash(t.config) not in zf
