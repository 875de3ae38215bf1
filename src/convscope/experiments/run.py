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
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from convscope import io, paths
from convscope.config import DataConfig, RunConfig
from convscope.errors import ConfigError, ConvscopeError
from convscope.experiments.executors import Executor
from convscope.experiments.out_dir import OUT_MARKER, OUT_SCHEMA, check_out
from convscope.experiments.schema import (
    EntryRecord,
    ExperimentRecord,
    GroupRecord,
    RunRecord,
)
from convscope.experiments.spec import Experiment, RunSpec
from convscope.experiments.tasks import AnalyzeTask, GroupAnalyzeTask, Task, TrainTask
from convscope.experiments.worker import ANALYSIS_DONE
from convscope.models.registry import kind
from convscope.runs import FINISHED, STATUS_COMPLETED, STATUS_FAILED, RunDir

log = logging.getLogger(__name__)

RUNS = "runs"
EXPERIMENT_JSON = "experiment.json"
MAX_ATTEMPTS = 3  # a run whose worker process died is retried (resuming) this many times in all
POLL_S = 1.0


# --- planning --------------------------------------------------------------------------------
def safe_name(label: str) -> str:
    """A label as a readable directory-name part (letters, digits, ``._=-``)."""
    s = re.sub(r"[^A-Za-z0-9._=-]+", "_", label).strip("._")
    return s[:80] or "run"


@dataclass
class PlannedRun:
    """One distinct run (by config hash) and where it lives."""

    spec: RunSpec
    dir: Path  # absolute
    rel: str  # "runs/<dirname>", relative to OUT
    analyses: list[str] = field(default_factory=list)
    analysis_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    cost: float = 1.0  # estimated work, arbitrary units (ordering and ETA)
    steps: int | None = None
    status: str = "pending"
    error: str | None = None
    exit_code: int | None = None  # of a failed run: its error's documented exit code
    attempts: int = 0
    analysis_status: str | None = None

    @property
    def hash(self) -> str:
        return self.spec.hash

    @property
    def name(self) -> str:
        return self.spec.config.name


def existing_runs(out: Path) -> dict[str, Path]:
    """Run directories already in ``OUT/runs``, by config hash."""
    found: dict[str, Path] = {}
    d = out / RUNS
    if not d.is_dir():
        return found
    for p in sorted(d.iterdir()):
        try:
            p = paths.under(out, RUNS, p.name)  # a symlink leading out of OUT is not ours
        except paths.PathRefused:
            continue
        cfg_path = p / "config.json"
        if cfg_path.is_file():
            try:
                stored = io.read_json(cfg_path)
                h = stored.get("hash")
            except (ValueError, AttributeError):
                continue
            if isinstance(h, str) and stored.get("imported") is None:  # never a trained run
                found.setdefault(h, p)
    return found


def image_cost(cfg: RunConfig) -> float:
    """Rough relative cost of one training image (lenet5 = 1): for ordering runs and the ETA.
    A built-in kind's ``cost`` (:mod:`convscope.models.registry`), else 1."""
    k = kind(cfg.model.model)
    if k is not None and k.cost is not None:
        a, b = k.cost
        return (a + b * (cfg.model.get("hidden_size") / 256) ** 1.5) * cfg.model.get("num_layers")
    return 1.0


def plan_runs(
    exp: Experiment, out: Path, n_train: Callable[[DataConfig], int] | None = None
) -> list[PlannedRun]:
    """The distinct runs of ``exp``, each with its directory in ``out`` (existing ones reused)."""
    out = out.resolve()
    have = existing_runs(out)
    planned: dict[str, PlannedRun] = {}
    for spec in exp.unique_runs():
        if spec.imported is not None:  # adopted (copied) into OUT: experiments/imported.py
            d = paths.under(out, RUNS, f"{safe_name(spec.label)}-{spec.hash}")
        else:
            d = have.get(spec.hash) or paths.under(
                out, RUNS, f"{safe_name(spec.label)}-s{spec.seed}-{spec.hash}"
            )
        planned[spec.hash] = PlannedRun(spec, d, f"{RUNS}/{d.name}")
    for a in exp.analysis:
        pr = planned[a.hash]
        pr.analyses = list(dict.fromkeys([*pr.analyses, *a.what]))
        for name, o in a.options.items():
            if pr.analysis_options.get(name, o) != o:
                raise ConfigError(
                    f"{exp.file}: [[analysis]]: run '{a.label}' (seed {a.seed}) gets two different "
                    f"option sets for {name!r}"
                )
            pr.analysis_options[name] = dict(o)
    for pr in planned.values():
        t = pr.spec.config.train
        if t.iterations is not None:
            pr.steps = t.iterations
        elif n_train is not None:
            from convscope.train.steps import steps_per_epoch

            spe = steps_per_epoch(n_train(pr.spec.config.data), t.batch_size)
            pr.steps = max(1, round(float(t.epochs or 1.0) * spe))
        steps = pr.steps or 1000
        from convscope.train import cadence

        per_record = (t.train_eval_size or 1000) + 1000
        records = steps / cadence.eval_every(t.eval_every, steps, t.batch_size, per_record)
        evals = records * per_record * cadence.EVAL_COST
        pr.cost = image_cost(pr.spec.config) * (steps * t.batch_size + evals)
    return list(planned.values())


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


# --- progress --------------------------------------------------------------------------------
@dataclass
class SweepStatus:
    """Where the whole experiment stands (for the progress display)."""

    total: int
    done: int
    running: int
    left: int
    failed: int
    fraction: float  # of the estimated work
    elapsed_s: float
    eta_s: float | None
    running_names: list[str]
    analyses_left: int = 0


class SweepMonitor(Protocol):
    def start(self, status: SweepStatus) -> None: ...

    def update(self, status: SweepStatus) -> None: ...

    def event(self, message: str) -> None: ...

    def close(self) -> None: ...


class _LogMonitor:
    def start(self, status: SweepStatus) -> None:
        pass

    def update(self, status: SweepStatus) -> None:
        pass

    def event(self, message: str) -> None:
        log.info("%s", message)

    def close(self) -> None:
        pass


def _last_step(run: PlannedRun) -> int:
    """The run's last recorded step (from its metrics.jsonl tail)."""
    p = run.dir / "metrics.jsonl"
    try:
        with open(p, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 4096))
            tail = f.read().decode(errors="replace").splitlines()
    except OSError:
        return 0
    for line in reversed(tail):
        m = re.search(r'"step":\s*(\d+)', line)
        if m:
            return int(m.group(1))
    return 0


# --- running ---------------------------------------------------------------------------------
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


def _analysis_todo(run: PlannedRun) -> list[str]:
    p = run.dir / ANALYSIS_DONE
    done: list[str] = []
    if p.is_file():
        with contextlib.suppress(ValueError):
            done = list(io.read_json(p).get("completed", []))
    return [w for w in run.analyses if w not in done]


def preflight(exp: Experiment) -> None:
    """Fail fast, before anything is trained: on a data source that cannot be found (DataError
    naming the path), and on a model factory (``package.module:factory``) that cannot be
    imported (ConfigError naming the file, the group and the key), which would fail every run
    that uses it."""
    from convscope.data import detect
    from convscope.models import REGISTRY, load_factory

    for data in sorted({r.config.data.data for g in exp.groups for r in g.runs}):
        detect(data)
    models: dict[str, str] = {}  # model -> the first group that trains it
    for g in exp.groups:
        for r in g.runs:
            if r.imported is None:  # an imported run's code: trust rules, not an import here
                models.setdefault(r.config.model.model, g.name)
    for model, group in sorted(models.items()):
        if model not in REGISTRY:
            try:
                load_factory(model)
            except ConfigError as e:
                raise ConfigError(f"{exp.file} [groups.{group}]: {e}") from None


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
    runs = plan_runs(exp, out, _n_train_loader())
    adopt_imported(exp, runs, monitor)
    if experiment_text is not None:
        io.atomic_write_bytes(out / "experiment.toml", experiment_text.encode())
    log.info("data: %s", exp.data_note)
    log.info("executor: %s", executor.describe())

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
            if r.status == STATUS_COMPLETED and _analysis_todo(r):
                pending.appendleft(_analysis_task(r))
            elif r.analyses:
                r.analysis_status = "completed" if not _analysis_todo(r) else "skipped"
        elif r.spec.imported is not None:  # never trained (adopt_imported copied it whole)
            r.status, r.error = STATUS_FAILED, f"{r.rel}: the adopted copy is not finished"
        else:
            pending.append(_train_task(r, stop_after))
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
    io.write_json(out / EXPERIMENT_JSON, experiment_doc(exp, runs, {"finished": False}))

    groups = GroupAnalyses(exp, out, runs)
    total_cost = sum(r.cost for r in runs) or 1.0
    base_done = sum(r.cost for r in runs if r.status in FINISHED)
    inflight: dict[cf.Future, Task] = {}
    interrupted = False

    def status() -> SweepStatus:
        running = [by_key[t.key] for t in inflight.values() if t.kind == "train"]
        done_cost = sum(r.cost for r in runs if r.status in FINISHED or r.status == STATUS_FAILED)
        for r in running:
            if r.steps:
                done_cost += r.cost * min(1.0, _last_step(r) / r.steps)
        elapsed = time.monotonic() - t0
        progressed = done_cost - base_done
        rate = progressed / elapsed if elapsed > 0 else 0.0
        eta = (total_cost - done_cost) / rate if rate > 0 else None
        n_done = sum(1 for r in runs if r.status in FINISHED or r.status == STATUS_FAILED)
        return SweepStatus(
            total=len(runs),
            done=n_done,
            running=len(running),
            left=len(runs) - n_done - len(running),
            failed=sum(1 for r in runs if r.status == STATUS_FAILED),
            fraction=done_cost / total_cost,
            elapsed_s=elapsed,
            eta_s=eta,
            running_names=[r.name for r in running],
            analyses_left=sum(1 for t in [*pending, *inflight.values()] if t.kind != "train"),
        )

    monitor.start(status())
    try:
        groups.submit_ready(pending)
        while pending or inflight:
            while pending and len(inflight) < executor.slots:
                task = pending.popleft()
                if task.kind == "train":
                    r = by_key[task.key]
                    r.status = "running"
                    r.attempts += 1
                inflight[executor.submit(task)] = task
            monitor.update(status())  # after submitting: the counts include what just started
            done, _ = cf.wait(list(inflight), timeout=POLL_S, return_when=cf.FIRST_COMPLETED)
            broken = False
            for f in done:
                task = inflight.pop(f)
                try:
                    result = f.result()
                except Exception as e:  # the worker process died (or Ray gave up on it)
                    broken = broken or type(e).__name__ == "BrokenProcessPool"
                    result = {"status": STATUS_FAILED, "error": f"{type(e).__name__}: {e}"}
                    r = by_key.get(task.key)
                    if broken and r and task.kind == "train" and r.attempts < MAX_ATTEMPTS:
                        r.status = "pending"
                        pending.appendleft(task)
                        monitor.event(f"{r.name}: worker process died; retrying (resumes)")
                        continue
                _dispatch_result(by_key, groups, task, result, pending, monitor)
            if broken:
                for f, task in list(inflight.items()):  # every in-flight task failed with it
                    inflight.pop(f)
                    if task.kind == "train":
                        by_key[task.key].status = "pending"
                    pending.appendleft(task)
                executor.reset()
            groups.submit_ready(pending)  # before the loop tests for work left
        monitor.update(status())
    except KeyboardInterrupt:
        interrupted = True
        monitor.event("interrupted: stopping runs at their next step (they checkpoint)")
        executor.interrupt()
        for f, task in inflight.items():
            with contextlib.suppress(Exception):
                _dispatch_result(by_key, groups, task, f.result(timeout=120), deque(), monitor)
    else:
        groups.report_waiting(monitor)
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


def _train_task(r: PlannedRun, stop_after: int | None) -> TrainTask:
    return TrainTask(r.hash, str(r.dir), r.spec.config.to_dict(), stop_after=stop_after)


def _analysis_task(r: PlannedRun) -> AnalyzeTask:
    return AnalyzeTask(r.hash, str(r.dir), tuple(_analysis_todo(r)), dict(r.analysis_options))


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


def _dispatch_result(
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
        _handle_result(by_key[task.key], task, result, pending, monitor)


def _handle_result(
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
    if status == STATUS_COMPLETED and r.analyses and _analysis_todo(r):
        pending.appendleft(_analysis_task(r))
    elif r.analyses and status != STATUS_COMPLETED:
        r.analysis_status = "skipped"


def write_report_if_available(out: str | Path) -> Any:
    """``convscope report OUT`` (the name is kept for callers)."""
    from convscope.report import write_report

    return write_report(Path(out))
