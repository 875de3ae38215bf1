"""Run an expanded experiment into an output directory: plan, schedule, resume, record.

Output layout (``OUT``)::

    OUT/.lock              held while `convscope run` writes OUT (a second one is refused)
    OUT/experiment.json    what was planned and how it went (groups -> runs -> run dirs)
    OUT/experiment.toml    a copy of the experiment file
    OUT/runs/<label>-s<seed>-<hash>/   one run directory per distinct config (RunDir)
    OUT/report.html, OUT/report.md, OUT/figures/   written by `convscope report`

``tensorboard --logdir OUT`` shows every run (each run writes its hyperparameters into its own
``tb/``). Runs already finished (completed or diverged) are not trained again; unfinished ones
resume from their last checkpoint. A failing run is recorded (status ``failed`` in its
``summary.json`` and in ``experiment.json``) and the others go on.

Planning is :mod:`~convscope.experiments.plan`, the record :mod:`~convscope.experiments.record`,
scheduling :mod:`~convscope.experiments.sweep` (its progress :mod:`~convscope.experiments.monitor`),
and what each task's result changes :mod:`~convscope.experiments.dispatch`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from convscope import io, paths
from convscope.config import DataConfig
from convscope.errors import ConvscopeError
from convscope.experiments.dispatch import GroupAnalyses, analysis_task, analysis_todo, train_task
from convscope.experiments.executors import Executor
from convscope.experiments.monitor import SweepMonitor, SweepStatus
from convscope.experiments.out_dir import OUT_MARKER, OUT_SCHEMA, check_out
from convscope.experiments.plan import (
    RUNS,
    PlannedRun,
    existing_runs,
    image_cost,
    plan_runs,
    preflight,
    safe_name,
)
from convscope.experiments.record import EXPERIMENT_JSON, ExperimentResult, experiment_doc
from convscope.experiments.spec import Experiment
from convscope.experiments.sweep import MAX_ATTEMPTS, POLL_S, Sweep
from convscope.experiments.tasks import Task
from convscope.runs import STATUS_COMPLETED, STATUS_FAILED, RunDir

__all__ = [  # the names other modules import from here (re-exported where they moved)
    "EXPERIMENT_JSON",
    "MAX_ATTEMPTS",
    "POLL_S",
    "RUNS",
    "ExperimentResult",
    "GroupAnalyses",
    "PlannedRun",
    "SweepMonitor",
    "SweepStatus",
    "adopt_imported",
    "existing_runs",
    "experiment_doc",
    "image_cost",
    "plan_runs",
    "preflight",
    "run_experiment",
    "safe_name",
    "write_report_if_available",
]

log = logging.getLogger(__name__)


class _LogMonitor:
    def start(self, status: SweepStatus) -> None:
        pass

    def update(self, status: SweepStatus) -> None:
        pass

    def event(self, message: str) -> None:
        log.info("%s", message)

    def close(self) -> None:
        pass


def run_experiment(
    exp: Experiment,
    out: str | Path,
    executor: Executor,
    monitor: SweepMonitor | None = None,
    experiment_text: str | None = None,
    stop_after: int | None = None,
    then: Callable[[ExperimentResult], Any] | None = None,
) -> ExperimentResult:
    """Train every unfinished run of ``exp`` into ``out`` and run the requested analyses.

    Args:
        exp: the expanded experiment (:func:`~convscope.experiments.spec.load_experiment`).
        out: the output directory (created; locked while this runs).
        executor: an executor (:mod:`convscope.experiments.executors`); shut down at the end.
        monitor: progress sink (the CLI's display); logging only when None.
        experiment_text: the experiment file's text, copied to ``OUT/experiment.toml``.
        stop_after: stop every run after this many steps, as if interrupted (tests).
        then: called with the result while ``out`` is still locked (the CLI writes the report
            there, so a `convscope report` cannot run before its last byte is written); its
            return value is kept as ``result.then``.

    Raises:
        LockedError: another process is writing ``out``.
        ConvscopeError: a data source cannot be found, or a model factory cannot be imported
            (before anything is written).
    """
    out = Path(out).resolve()
    monitor = monitor or _LogMonitor()
    try:
        check_out(out)
        preflight(exp)  # before the folder exists: a refused run leaves nothing behind
        io.mkdir(out)
    except BaseException:
        executor.shutdown()
        raise
    try:
        with io.dir_lock(out, what="output directory"):
            if paths.read_marker(out / OUT_MARKER, OUT_SCHEMA) is None:
                paths.write_marker(out / OUT_MARKER, OUT_SCHEMA)
            result = _run_locked(exp, out, executor, monitor, experiment_text, stop_after)
            if then is not None:
                result.then = then(result)
            return result
    finally:
        executor.shutdown()


def _data_check() -> Callable[[PlannedRun], str | None]:
    """For a finished run: why its data no longer matches (None when it does)."""
    cache: dict[str, dict[str, Any]] = {}

    def check(r: PlannedRun) -> str | None:
        import json

        from convscope.data import load_dataset
        from convscope.data.fingerprint import check_unchanged, fingerprint

        cfg = r.spec.config.data
        key = json.dumps(cfg.__dict__, sort_keys=True, default=str)
        try:
            recorded = RunDir(r.dir).data_info().get("fingerprint")
            if not recorded:
                return None
            if key not in cache:
                cache[key] = fingerprint(load_dataset(cfg), cfg.data)
            check_unchanged(recorded, cache[key], r.rel)
        except (ConvscopeError, OSError, ValueError) as e:
            return str(e)
        return None

    return check


def _n_train_loader() -> Callable[[DataConfig], int]:
    cache: dict[str, int] = {}

    def n_train(cfg: DataConfig) -> int:
        import json

        key = json.dumps(cfg.__dict__, sort_keys=True, default=str)
        if key not in cache:
            from convscope.data import load_dataset

            cache[key] = len(load_dataset(cfg).train)
        return cache[key]

    return n_train


def _run_locked(
    exp: Experiment,
    out: Path,
    executor: Any,
    monitor: SweepMonitor,
    experiment_text: str | None,
    stop_after: int | None,
) -> ExperimentResult:
    t0 = time.monotonic()
    _warn_if_other_experiment(exp, out)
    runs = plan_runs(exp, out, _n_train_loader())
    adopt_imported(exp, runs, monitor)
    if experiment_text is not None:
        io.atomic_write_bytes(out / "experiment.toml", experiment_text.encode())
    log.info("data: %s", exp.data_note)
    log.info("executor: %s", executor.describe())
    pending = _first_tasks(runs, monitor, stop_after)
    io.write_json(out / EXPERIMENT_JSON, experiment_doc(exp, runs, {"finished": False}))

    sweep = Sweep(runs, pending, GroupAnalyses(exp, out, runs), executor, monitor, t0)
    interrupted = False
    monitor.start(sweep.status())
    try:
        sweep.run()
    except KeyboardInterrupt:
        interrupted = True
        sweep.stop()
    else:
        sweep.groups.report_waiting(monitor)
    finally:
        monitor.close()
        wall = time.monotonic() - t0
        for r in runs:
            if r.status == "running":
                r.status = "interrupted"
        io.write_json(
            out / EXPERIMENT_JSON,
            experiment_doc(
                exp,
                runs,
                {"finished": not interrupted, "wall_time_s": round(wall, 1)},
            ),
        )
    return ExperimentResult(out, runs, wall, interrupted)


def _warn_if_other_experiment(exp: Experiment, out: Path) -> None:
    """A warning when ``out`` held another experiment or profile (its runs stay, reusable)."""
    old = out / EXPERIMENT_JSON
    if old.is_file():
        with contextlib.suppress(ValueError, OSError):
            prev = io.read_json(old)
            if (prev.get("name"), prev.get("profile")) != (exp.name, exp.profile):
                log.warning(
                    "%s held experiment %r profile %r; now %r profile %r (runs are reused by "
                    "identity, the others stay in %s/)",
                    out,
                    prev.get("name"),
                    prev.get("profile"),
                    exp.name,
                    exp.profile,
                    RUNS,
                )


def _first_tasks(
    runs: list[PlannedRun], monitor: SweepMonitor, stop_after: int | None
) -> deque[Task]:
    """The tasks to run, in order: each run's status set from its folder first (finished runs
    are reused unless their data changed), then analyses, then trainings with analyses first
    (their analyses overlap the rest) and longest first."""
    by_key = {r.hash: r for r in runs}
    pending: deque[Task] = deque()
    finished_before = 0
    data_changed = _data_check()
    for r in runs:
        rd = RunDir(r.dir)
        if rd.is_finished() and (why := data_changed(r)):
            # never counted as done, never retrained over: the user decides (docs/runs.md)
            r.status, r.error = STATUS_FAILED, why
            monitor.event(f"{r.name}: not reused: {why}")
        elif rd.is_finished():
            r.status = rd.status() or STATUS_COMPLETED
            finished_before += 1
            if r.status == STATUS_COMPLETED and analysis_todo(r):
                pending.appendleft(analysis_task(r))
            elif r.analyses:
                r.analysis_status = "completed" if not analysis_todo(r) else "skipped"
        elif r.spec.imported is not None:  # never trained (adopt_imported copied it whole)
            r.status, r.error = STATUS_FAILED, f"{r.rel}: the adopted copy is not finished"
        else:
            pending.append(train_task(r, stop_after))
    # runs with analyses first (their analyses overlap the rest), then longest first
    trains = sorted(
        (t for t in pending if t.kind == "train"),
        key=lambda t: (not by_key[t.key].analyses, -by_key[t.key].cost),
    )
    pending = deque([*(t for t in pending if t.kind == "analyze"), *trains])
    log.info(
        "%d distinct runs: %d finished before, %d to train%s",
        len(runs),
        finished_before,
        len(trains),
        f", {sum(1 for t in pending if t.kind == 'analyze')} analysis task(s)"
        if any(t.kind == "analyze" for t in pending)
        else "",
    )
    return pending


def adopt_imported(exp: Experiment, runs: list[PlannedRun], monitor: SweepMonitor) -> None:
    """Copy every imported run into its ``OUT/runs`` folder, or check that the copy there is of
    the same files (:func:`convscope.experiments.imported.adopt`; a changed source: exit 2)."""
    from convscope.experiments.imported import adopt

    for r in runs:
        if r.spec.imported is None or r.spec.source is None:
            continue
        g = next(g for g in exp.groups if any(x.hash == r.hash for x in g.runs))
        where = f"{exp.file} [groups.{g.name}]"
        if adopt(Path(r.spec.source), r.spec.imported, r.dir, where) == "adopted":
            monitor.event(f"{r.name}: imported run {r.spec.imported} copied to {r.rel}")


def write_report_if_available(out: str | Path) -> Any:
    """``convscope report OUT`` (the name is kept for callers)."""
    from convscope.report import write_report

    return write_report(Path(out))
