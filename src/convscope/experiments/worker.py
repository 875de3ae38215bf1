"""What one executor task does, in whichever process runs it (pool worker or Ray worker).

A task is a :class:`~convscope.experiments.tasks.TrainTask` (train, resume, or return the
finished summary of one run) or an :class:`~convscope.experiments.tasks.AnalyzeTask` (run
registered analyses, :mod:`convscope.studies`, of a finished run).

:func:`execute` never raises for a failing run: it returns ``{"status": "failed", "error": ...}``
and records the failure in the run's ``summary.json``, so one bad run never stops the others.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from convscope import io
from convscope.errors import EXIT_INTERNAL, ConvscopeError, LockedError
from convscope.experiments.tasks import AnalyzeTask, GroupAnalyzeTask, Task, TrainTask

log = logging.getLogger(__name__)

ANALYSIS_DONE = "analysis/convscope_run.json"  # which analyses `convscope run` finished


@functools.lru_cache(maxsize=4)
def _dataset(data_key: str) -> Any:
    """Load a data set once per worker process (keyed by its DataConfig as JSON)."""
    import json

    from convscope.config import DataConfig
    from convscope.data import load_dataset

    return load_dataset(DataConfig(**json.loads(data_key)))


def _set_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(int(n))


def execute(task: Task) -> dict[str, Any]:
    """Run one task (see the module docstring); return a JSON-able result dict."""
    kind = task.kind
    t0 = time.perf_counter()
    try:
        _set_threads(task.threads)
        if isinstance(task, TrainTask):
            result = _train(task)
        elif isinstance(task, AnalyzeTask):
            result = _analyze(task)
        elif isinstance(task, GroupAnalyzeTask):
            result = _analyze_group(task)
        else:
            raise TypeError(f"not a task: {task!r}")
    except LockedError as e:  # someone else is writing this run: do not touch its files
        result = {"status": "failed", "error": str(e), "exit_code": e.exit_code}
    except Exception as e:
        msg = str(e) if isinstance(e, ConvscopeError) else f"{type(e).__name__}: {e}"
        log.error("%s %s failed: %s", kind, getattr(task, "run_dir", task.key), msg)
        result = {"status": "failed", "error": msg, "traceback": traceback.format_exc()}
        result["exit_code"] = getattr(e, "exit_code", EXIT_INTERNAL)
        if kind == "train":
            _record_failure(Path(task.run_dir), msg)
    result.update(kind=kind, key=task.key, seconds=round(time.perf_counter() - t0, 3))
    result.setdefault("pid", os.getpid())
    return result


def _train(task: TrainTask) -> dict[str, Any]:
    import json

    from convscope.config import from_dict
    from convscope.train.loop import train

    cfg = from_dict(task.config, where=f"task {task.key}")
    if task.threads:
        cfg.train.threads = int(task.threads)
    dataset = _dataset(json.dumps(task.config["data"], sort_keys=True))
    from convscope.callbacks import config_callbacks

    summary = train(
        cfg,
        task.run_dir,
        resume=True,
        dataset=dataset,
        callbacks=config_callbacks(cfg),
        stop_after=task.stop_after,
    )
    return {"status": summary.get("status"), "summary": summary}


def _record_failure(run_dir: Path, msg: str) -> None:
    """Mark the run failed in its summary.json (keeping what the loop wrote there)."""
    try:
        with io.dir_lock(run_dir):
            summary_path = run_dir / "summary.json"
            s: dict[str, Any] = {}
            if summary_path.is_file():
                with contextlib.suppress(ValueError):
                    s = io.read_json(summary_path)
            s.update(status="failed", error=msg)
            io.write_json(summary_path, s)
    except Exception as e:  # never let the bookkeeping hide the real error
        log.warning("%s: could not record the failure: %s", run_dir, e)


def _analyze(task: AnalyzeTask) -> dict[str, Any]:
    run_dir = Path(task.run_dir)
    what = list(task.what)
    done_path = run_dir / ANALYSIS_DONE
    done: dict[str, Any] = {"completed": [], "skipped": {}}
    if done_path.is_file():
        with contextlib.suppress(ValueError):
            done = {**done, **io.read_json(done_path)}
    done["skipped"] = {}
    todo = [w for w in what if w not in done["completed"]]
    errors: dict[str, str] = {}
    from convscope.studies.runner import Outcome, analyze

    options = task.options
    if todo:  # a failing analysis is recorded in errors and does not stop the others
        from convscope.studies.base import study_name

        outcomes: dict[str, Outcome] = {}
        written = analyze(run_dir, todo, options, errors=errors, outcomes=outcomes)
        # what each analysis cost, kept beside the results (the JSONs carry it too)
        timing = dict(done.get("timing") or {})
        timing.update({n: {"wall_s": o.wall_s, "cpu_s": o.cpu_s} for n, o in outcomes.items()})
        done["timing"] = timing
        # recorded as the experiment names them (a name or an import path)
        done["completed"] = sorted(
            {*done["completed"], *(w for w in todo if study_name(w) in written)}
        )
    done["failed"] = errors
    io.write_json(done_path, done)
    status = "failed" if errors else "completed"
    out: dict[str, Any] = {"status": status, "analysis": done}
    if errors:
        out["error"] = "; ".join(f"{k}: {v}" for k, v in errors.items())
    return out


def _inputs_signature(task: GroupAnalyzeTask, name: str) -> str:
    """What a group analysis read: its options and every member run's summary and label."""
    import hashlib
    import json

    h = hashlib.sha256(json.dumps(task.options.get(name, {}), sort_keys=True).encode())
    for run_dir, label in sorted(task.runs):
        h.update(f"\0{Path(run_dir).name}\0{label}\0".encode())
        with contextlib.suppress(OSError):
            h.update((Path(run_dir) / "summary.json").read_bytes())
    return h.hexdigest()


def _analyze_group(task: GroupAnalyzeTask) -> dict[str, Any]:
    """Group analyses whose inputs changed since ``convscope run`` last wrote them.

    ``groups/<group>/ANALYSIS_DONE`` records, per analysis, a signature of what it read (its
    options, each member run's label and ``summary.json``); a rerun with the same signature and
    the result file still in place is skipped.
    """
    from convscope.paths import group_dir
    from convscope.studies.base import study_name
    from convscope.studies.runner import analyze_group

    gdir = group_dir(task.out_dir, task.group)
    done_path = gdir / ANALYSIS_DONE
    done: dict[str, str] = {}
    if done_path.is_file():
        with contextlib.suppress(ValueError):
            done = dict(io.read_json(done_path).get("signatures", {}))
    sig = {w: _inputs_signature(task, study_name(w)) for w in task.what}
    todo = [
        w
        for w in task.what
        if done.get(w) != sig[w] or not (gdir / "analysis" / f"{study_name(w)}.json").is_file()
    ]
    if todo:
        analyze_group(task.out_dir, task.group, list(task.runs), todo, task.options)
        done.update({w: sig[w] for w in todo})
        io.write_json(done_path, {"signatures": done})
    return {"status": "completed", "analysis": {"completed": list(task.what), "ran": todo}}


# --- local pool workers --------------------------------------------------------------------------
def _watch_parent(ppid: int, interval: float = 0.5) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != ppid:  # the `convscope run` process is gone (kill -9): stop now
            os._exit(1)


def init_pool_worker(threads: int) -> None:
    """Pool-worker initializer: thread count, ignore Ctrl-C while idle, die with the parent.

    The training loop installs its own SIGINT handler while it trains (checkpoint, then stop),
    so a Ctrl-C reaches a training worker as a clean interruption and an idle one not at all.
    """
    import signal

    from convscope import allocator

    allocator.tune()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    _set_threads(threads)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
