"""The one schema of experiment.json: what `run` writes, the report reads back unchanged."""

from __future__ import annotations

import json

import pytest

from convscope.errors import ConvscopeError
from convscope.experiments.schema import (
    ClaimSpec,
    EntryRecord,
    ExperimentRecord,
    GroupRecord,
    RunRecord,
)


def _record() -> ExperimentRecord:
    runs = [
        RunRecord("a", 0, "abc", "runs/a-s0-abc", {"model": {"model": "lenet5"}}),
        RunRecord("mine", None, "def", "runs/mine-imported-1", None, imported="/x/mine"),
    ]
    g = GroupRecord("g", "G", "1", "d", "full", True, {"test_accuracy": 0.9}, runs)
    e = EntryRecord(
        "g", ["filters"], ["filters"], {"filters": "run"}, "1.3", "", {}, [r.dir for r in runs]
    )
    return ExperimentRecord(
        file="e.toml",
        name="e",
        description="",
        profile="quick",
        data_root=None,
        data_note="n",
        groups=[g],
        analysis=[{"run": "runs/a-s0-abc", "what": ["filters"]}],
        entries=[e],
        claims=[ClaimSpec("q", "1.3", "g", "filters.gabor_like")],
        chapters={"1": "One"},
        status={"runs": {"runs/a-s0-abc": {"status": "completed"}}},
    )


def test_a_record_survives_json_and_keeps_its_layout():
    rec = _record()
    doc = json.loads(json.dumps(rec.to_json()))
    assert list(doc) == [
        "file", "name", "description", "profile", "data_root", "data_note", "groups",
        "analysis", "entries", "claims", "chapters", "status",
    ]  # fmt: skip
    assert "imported" not in doc["groups"][0]["runs"][0]  # written only for imported runs
    back = ExperimentRecord.from_json(doc, "experiment.json")
    assert back == rec and back.to_json() == doc


@pytest.mark.parametrize(
    "break_it, match",
    [
        (lambda d: d.pop("groups"), "missing key 'groups'"),
        (lambda d: d["groups"][0].pop("name"), r"groups\[0\]: missing key 'name'"),
        (lambda d: d["groups"][0]["runs"][0].pop("dir"), r"runs\[0\]: missing key 'dir'"),
        (lambda d: d["entries"][0].update(group="nope"), "naming one of the groups"),
        (lambda d: d["claims"][0].pop("rule"), r"claims\[0\]: missing key 'rule'"),
        (lambda d: d.update(analysis="runs/a"), "'analysis' must be a list"),
    ],
)
def test_a_broken_file_is_one_line_naming_the_key(break_it, match):
    doc = _record().to_json()
    break_it(doc)
    with pytest.raises(ConvscopeError, match=match) as e:
        ExperimentRecord.from_json(doc, "OUT/experiment.json")
    assert "\n" not in str(e.value) and str(e.value).startswith("OUT/experiment.json")
