"""What `convscope run` writes and returns: the content of ``OUT/experiment.json``
(:func:`experiment_doc`) and the :class:`ExperimentResult`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convscope.experiments.plan import PlannedRun
from convscope.experiments.schema import (
    EntryRecord,
    ExperimentRecord,
    GroupRecord,
    RunRecord,
)
from convscope.experiments.spec import Experiment
from convscope.runs import STATUS_FAILED

EXPERIMENT_JSON = "experiment.json"


def experiment_doc(
    exp: Experiment, runs: list[PlannedRun], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The content of ``OUT/experiment.json`` (layout pinned for the report)."""
    by_hash = {r.hash: r for r in runs}
    groups = [
        GroupRecord(
            g.name,
            g.title,
            g.section,
            g.description,
            g.report,
            g.titled,
            g.milestones,
            [
                RunRecord(
                    r.label, r.seed, r.hash, by_hash[r.hash].rel, r.config.to_dict(), r.imported
                )
                for r in g.runs
            ],
        )
        for g in exp.groups
    ]
    entries = [
        EntryRecord(
            e.group,
            e.what,
            e.names,
            e.scope,
            e.section,
            e.title,
            e.options,
            [by_hash[h].rel for h in e.runs if h in by_hash],
        )
        for e in exp.entries
    ]
    status = {
        "runs": {
            r.rel: {
                "status": r.status,
                **({"error": r.error} if r.error else {}),
                **({"analysis": r.analysis_status} if r.analyses else {}),
            }
            for r in runs
        }
    }
    record = ExperimentRecord(
        file=exp.file,
        name=exp.name,
        description=exp.description,
        profile=exp.profile,
        data_root=exp.data_root,
        data_note=exp.data_note,
        groups=groups,
        analysis=[{"run": r.rel, "what": r.analyses} for r in runs if r.analyses],
        entries=entries,
        claims=exp.claims,
        chapters=exp.chapters,
        claim_rules=exp.claim_rules,
        status=status,
    )
    doc = record.to_json()
    if extra:
        doc["status"].update(extra)
    return doc


@dataclass
class ExperimentResult:
    out: Path
    runs: list[PlannedRun]
    wall_time_s: float
    interrupted: bool = False
    then: Any = None  # what run_experiment's ``then`` returned

    @property
    def failed(self) -> list[PlannedRun]:
        return [r for r in self.runs if r.status == STATUS_FAILED]

    @property
    def failure_exit_code(self) -> int:
        """The exit code for the failed runs: theirs when they share one (5: every run failed
        on the environment, e.g. a full disk), else 1."""
        codes = {r.exit_code or 1 for r in self.failed}
        return codes.pop() if len(codes) == 1 else 1

    @property
    def analysis_failed(self) -> list[PlannedRun]:
        return [r for r in self.runs if r.analysis_status == STATUS_FAILED]

    def counts(self) -> dict[str, int]:
        c: dict[str, int] = {}
        for r in self.runs:
            c[r.status] = c.get(r.status, 0) + 1
        return c
