"""What an experiment file expands to (:mod:`convscope.experiments.spec`): the experiment for
one profile, its groups with their runs, and the analyses to run after training."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from convscope.config import RunConfig
from convscope.experiments.schema import ClaimSpec

GROUP_REPORT = ("full", "analyses")  # a group's report section: curves and tables, or analyses only


@dataclass
class RunSpec:
    """One run of a group: its label, seed and resolved config (``config.name`` is set)."""

    label: str
    seed: int
    config: RunConfig
    hash: str
    imported: str | None = None  # a run `convscope import` wrote: its path as the file gives it
    source: str | None = None  # ... and that folder, absolute (never trained; see .imported)


@dataclass
class Group:
    name: str
    title: str
    section: str
    description: str
    runs: list[RunSpec]
    report: str = "full"  # one of GROUP_REPORT
    titled: bool = (
        True  # the file gives the group a title (an untitled "analyses" group has no heading)
    )
    milestones: dict[str, float] = field(default_factory=dict)  # metric -> level for the report


@dataclass
class AnalysisSpec:
    """Analyses ``what`` of the run with ``hash`` (a run of ``group``)."""

    group: str
    label: str
    seed: int
    hash: str
    what: list[str]  # registered names or pkg.module:Class, as the file gives them
    options: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class AnalysisEntry:
    """One ``[[analysis]]`` table as the report shows it: under ``group``, in file order."""

    group: str
    what: list[str]  # as given (names or import paths)
    names: list[str]  # registered names (the JSON file names)
    scope: dict[str, str]  # name -> "run" | "group"
    section: str
    title: str
    options: dict[str, dict[str, Any]]
    runs: list[str]  # run hashes analysed (run scope)


@dataclass
class Experiment:
    """An expanded experiment file for one profile."""

    file: str
    name: str
    description: str
    profile: str
    profiles: list[str]
    data_root: str | None
    data_note: str
    groups: list[Group]
    analysis: list[AnalysisSpec] = field(default_factory=list)
    entries: list[AnalysisEntry] = field(default_factory=list)
    claims: list[ClaimSpec] = field(default_factory=list)
    chapters: dict[str, str] = field(default_factory=dict)
    claim_rules: dict[str, str] = field(default_factory=dict)  # RulesRef.to_dict(), or empty

    def unique_runs(self) -> list[RunSpec]:
        """Distinct runs by identity, in first-listed order.

        Groups that share a run may ask for different snapshots (``keep_checkpoints`` is not
        part of the identity): the shared run keeps all of them.
        """
        seen: dict[str, RunSpec] = {}
        for g in self.groups:
            for r in g.runs:
                first = seen.setdefault(r.hash, r)
                keep = first.config.train.keep_checkpoints
                if first is not r and set(r.config.train.keep_checkpoints) - set(keep):
                    t = dataclasses.replace(
                        first.config.train,
                        keep_checkpoints=sorted({*keep, *r.config.train.keep_checkpoints}),
                    )
                    cfg = dataclasses.replace(first.config, train=t)
                    seen[r.hash] = dataclasses.replace(first, config=cfg)
        return list(seen.values())
