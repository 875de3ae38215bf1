"""A study defined here, in a test module, goes through ``convscope analyze``, an experiment's
``[[analysis]]`` and the report, with no other file edited (registration by import path)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from convscope.cli import main
from convscope.experiments.executors import InlineExecutor
from convscope.experiments.run import run_experiment
from convscope.experiments.spec import load_experiment
from convscope.report import write_report
from convscope.studies import REGISTRY, GroupContext, RunContext, Study, StudyResult, Verdict


@dataclass(frozen=True)
class NormOptions:
    ord: int = 2  # the norm of each weight tensor


class WeightNorms(Study):
    name = "weight_norms"
    title = "Weight norms"
    description = "Norm of every weight tensor at initialisation and after training."
    reads = ("checkpoints (step 0 and final)",)
    Options = NormOptions
    verdict_rules = {"grew": "the total norm after training exceeds the one at step 0"}

    def run(self, ctx: RunContext, opts: NormOptions) -> StudyResult:
        def norms(step: int | None) -> dict[str, float]:
            sd = ctx.model(step).state_dict()
            return {k: float(torch.linalg.vector_norm(v.double(), opts.ord)) for k, v in sd.items()}

        init, final = norms(0), norms(None)
        grew = sum(final.values()) > sum(init.values())
        evidence = f"total {sum(init.values()):.4f} at step 0, {sum(final.values()):.4f} at the end"
        return StudyResult(
            numbers={"init": init, "final": final},
            observations=[f"Weight norms: {evidence}."],
            verdicts={"grew": Verdict("supported" if grew else "not supported", evidence)},
        )


class AccuracySpread(Study):
    name = "accuracy_spread"
    title = "Final accuracy across the group's runs"
    scope = "group"

    def run_group(self, ctx: GroupContext, opts: object) -> StudyResult:
        acc = [r.rd.summary()["final_test_accuracy"] for r in ctx.runs]
        return StudyResult(
            numbers={
                "labels": [r.label for r in ctx.runs],
                "final": acc,
                "range": max(acc) - min(acc),
            },
            observations=[f"{len(acc)} runs; final accuracy range {max(acc) - min(acc):.4f}."],
        )


EXPERIMENT = """
name = "registration"
seeds = [0, 1]
[defaults]
data = "digits"
resize = 12
train_per_class = 20
test_per_class = 6
iterations = 6
eval_every = 3
checkpoint_every = 3
train_eval_size = 40
batch_size = 20
threads = 1
[groups.tiny]
title = "A tiny LeNet5"
[[analysis]]
group = "tiny"
what = ["test_registration:WeightNorms", "test_registration:AccuracySpread"]
options = { weight_norms = { ord = 1 } }
[[claims]]
quote = "training makes the weights larger"
section = "A"
group = "tiny"
rule = "weight_norms.grew"
"""


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("reg")
    (d / "exp.toml").write_text(EXPERIMENT)
    exp = load_experiment(d / "exp.toml", None, None)
    res = run_experiment(exp, d / "out", InlineExecutor(threads=1))  # type: ignore[arg-type]
    assert not res.failed
    write_report(d / "out")
    return d / "out"


def _oracle_total(run: Path, step: int | None) -> float:
    from convscope.runs import RunDir

    sd = RunDir(run).load_model(step).state_dict()
    return float(sum(np.abs(v.double().numpy()).sum() for v in sd.values()))


@pytest.mark.slow
def test_experiment_analysis_and_report(out: Path) -> None:
    assert {"weight_norms", "accuracy_spread"} <= set(REGISTRY)
    exp = json.loads((out / "experiment.json").read_text())
    (entry,) = exp["entries"]
    (run,) = entry["runs"]  # the first seed of the group
    saved = json.loads((out / run / "analysis" / "weight_norms.json").read_text())
    assert saved["options"] == {"ord": 1}
    assert saved["verdict_rules"] == WeightNorms.verdict_rules  # the report reads them here
    total = sum(saved["numbers"]["final"].values())
    assert total == pytest.approx(_oracle_total(out / run, None))  # L1 norm, by brute force
    group = json.loads((out / "groups" / "tiny" / "analysis" / "accuracy_spread.json").read_text())
    assert group["scope"] == "group" and len(group["numbers"]["final"]) == 2
    assert group["verdict_rules"] == {}
    md = (out / "report.md").read_text()
    tiny = md[md.index("## A tiny LeNet5") : md.index("## All runs")]
    assert "### Weight norms" in tiny and "### Final accuracy across the group's runs" in tiny
    assert saved["observations"][0] in tiny
    verdict = saved["verdicts"]["grew"]
    # the claim is the study's saved verdict, in the claims table and its section
    assert f"**{verdict['verdict']}**" in md[: md.index("## A tiny LeNet5")]
    assert verdict["evidence"] in tiny
    assert "the total norm after training exceeds the one at step 0" in md  # its rule's text


@pytest.mark.slow
def test_cli_analyze_by_import_path(out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = json.loads((out / "experiment.json").read_text())
    other = [r["dir"] for r in exp["groups"][0]["runs"] if r["seed"] == 1][0]
    assert main(["analyze", str(out / other), "--what", "test_registration:WeightNorms"]) == 0
    assert "weight_norms:" in capsys.readouterr().out
    saved = json.loads((out / other / "analysis" / "weight_norms.json").read_text())
    assert saved["options"] == {"ord": 2} and saved["study"] == "weight_norms"
    assert main(["analyze", "--list"]) == 0
    assert "weight_norms" in capsys.readouterr().out  # registered once imported
    assert main(["analyze", str(out / other), "--what", "nope.mod:X"]) == 2
    assert "cannot import 'nope.mod'" in capsys.readouterr().err
    # a group analysis compares runs: `convscope run` runs it, not `analyze RUN`
    assert main(["analyze", str(out / other), "--what", "test_registration:AccuracySpread"]) == 2
    assert "compares the runs of a group" in capsys.readouterr().err
