"""Typed executor tasks: what ``convscope run`` hands an executor (pool worker or Ray task).

Frozen dataclasses of plain values, so every executor can pickle them; an executor sets
``threads`` with :func:`with_threads` before it ships one. :func:`convscope.experiments.worker.
execute` runs every kind.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class TrainTask:
    """Train (or resume, or return the finished summary of) one run."""

    key: str  # the run's identity hash
    run_dir: str  # absolute path
    config: dict[str, Any]  # RunConfig.to_dict()
    stop_after: int | None = None  # stop (as if interrupted) after this many steps
    threads: int | None = None  # torch threads for this task
    kind: Literal["train"] = "train"


@dataclass(frozen=True)
class AnalyzeTask:
    """Run registered run-scope analyses (:mod:`convscope.studies`) of a finished run."""

    key: str
    run_dir: str
    what: tuple[str, ...]  # registered names or ``pkg.mod:Class``
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # per analysis
    threads: int | None = None
    kind: Literal["analyze"] = "analyze"


@dataclass(frozen=True)
class GroupAnalyzeTask:
    """Run group-scope analyses over the finished runs of one experiment group."""

    key: str  # ``group:<name>:<n>``, the n-th [[analysis]] entry naming the group
    out_dir: str  # the experiment's OUT (absolute)
    group: str
    runs: tuple[tuple[str, str], ...]  # (run directory, label) of every member run
    what: tuple[str, ...]
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    threads: int | None = None
    kind: Literal["group"] = "group"


Task = TrainTask | AnalyzeTask | GroupAnalyzeTask


def with_threads(task: Task, threads: int) -> Task:
    """The same task, to run with ``threads`` torch threads."""
    return dataclasses.replace(task, threads=threads)
