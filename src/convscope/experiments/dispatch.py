"""A running experiment's tasks: the train and analysis tasks of a planned run, group-scope
analyses queued once their group has finished, and what each task's result changes."""

from __future__ import annotations

import contextlib
from collections import deque
from pathlib import Path
from typing import Any

from convscope import io
from convscope.experiments.monitor import SweepMonitor
from convscope.experiments.plan import PlannedRun
from convscope.experiments.spec import Experiment
from convscope.experiments.tasks import AnalyzeTask, GroupAnalyzeTask, Task, TrainTask
from convscope.experiments.worker import ANALYSIS_DONE
from convscope.runs import FINISHED, STATUS_COMPLETED, STATUS_FAILED


def analysis_todo(run: PlannedRun) -> list[str]:
    """The run's analyses not yet recorded as done in its folder."""
    p = run.dir / ANALYSIS_DONE
    done: list[str] = []
    if p.is_file():
        with contextlib.suppress(ValueError):
            done = list(io.read_json(p).get("completed", []))
    return [w for w in run.analyses if w not in done]


def train_task(r: PlannedRun, stop_after: int | None) -> TrainTask:
    return TrainTask(r.hash, str(r.dir), r.spec.config.to_dict(), stop_after=stop_after)


def analysis_task(r: PlannedRun) -> AnalyzeTask:
    return AnalyzeTask(r.hash, str(r.dir), tuple(analysis_todo(r)), dict(r.analysis_options))


class GroupAnalyses:
    """Group-scope analyses (``scope = "group"``): each [[analysis]] entry's become one task,
    queued as soon as every run of its group has finished, so they overlap the runs still
    training (a failure is reported and does not stop the others)."""

    def __init__(self, exp: Experiment, out: Path, runs: list[PlannedRun]) -> None:
        by_hash = {r.hash: r for r in runs}
        self.waiting: dict[str, tuple[GroupAnalyzeTask, list[PlannedRun]]] = {}
        for i, e in enumerate(exp.entries):
            names = [w for w, n in zip(e.what, e.names) if e.scope[n] == "group"]
            if not names:
                continue
            g = next(g for g in exp.groups if g.name == e.group)
            members = [by_hash[r.hash] for r in g.runs]
            task = GroupAnalyzeTask(
                f"group:{g.name}:{i}",
                str(out.resolve()),
                g.name,
                tuple((str(m.dir), m.spec.label) for m in members),
                tuple(names),
                {k: dict(v) for k, v in e.options.items()},
            )
            self.waiting[task.key] = (task, members)

    def submit_ready(self, pending: deque[Task]) -> None:
        for key, (task, members) in list(self.waiting.items()):
            if all(m.status in FINISHED for m in members):
                del self.waiting[key]
                pending.appendleft(task)

    def report_waiting(self, monitor: Any) -> None:
        for task, _ in self.waiting.values():
            monitor.event(f"group {task.group}: analyses {', '.join(task.what)} wait for its runs")

    @staticmethod
    def handle(task: GroupAnalyzeTask, result: dict[str, Any], monitor: Any) -> None:
        what = ", ".join(task.what)
        if result.get("status") == STATUS_COMPLETED:
            ran = result.get("analysis", {}).get("ran", task.what)
            note = "" if ran else " (unchanged since the last run: kept)"
            monitor.event(f"group {task.group}: analyses done ({what}){note}")
        else:
            monitor.event(f"group {task.group}: analyses failed: {result.get('error')}")


def dispatch_result(
    by_key: dict[str, PlannedRun],
    groups: GroupAnalyses,
    task: Task,
    result: dict[str, Any],
    pending: deque[Task],
    monitor: SweepMonitor,
) -> None:
    if isinstance(task, GroupAnalyzeTask):
        groups.handle(task, result, monitor)
    else:
        handle_result(by_key[task.key], task, result, pending, monitor)


def handle_result(
    r: PlannedRun,
    task: Task,
    result: dict[str, Any],
    pending: deque[Task],
    monitor: SweepMonitor,
) -> None:
    status = result.get("status") or STATUS_FAILED
    if task.kind == "analyze":
        r.analysis_status = status
        a = result.get("analysis", {})
        if status == STATUS_FAILED:
            monitor.event(f"{r.name}: analyses failed: {result.get('error')}")
        else:
            skipped = ", ".join(sorted(a.get("skipped", {})))
            monitor.event(
                f"{r.name}: analyses done ({', '.join(a.get('completed', [])) or 'none'})"
                + (f"; skipped (not installed): {skipped}" if skipped else "")
            )
        return
    r.status = status
    r.error = result.get("error")
    r.exit_code = result.get("exit_code")
    s = result.get("summary") or {}
    if status == STATUS_FAILED:
        monitor.event(f"{r.name}: FAILED: {r.error}")
        return
    best = s.get("best_test_accuracy")
    monitor.event(
        f"{r.name}: {status} at step {s.get('step')}"
        + (f", best test_accuracy {best:.4f}" if isinstance(best, float) else "")
        + (f" ({s.get('reason')})" if s.get("reason") else "")
        + f" [{result.get('seconds', 0):.1f} s]"
    )
    if status == STATUS_COMPLETED and r.analyses and analysis_todo(r):
        pending.appendleft(analysis_task(r))
    elif r.analyses and status != STATUS_COMPLETED:
        r.analysis_status = "skipped"
