"""The one training loop, for every model and every experiment.

``train(cfg, out_dir)`` trains the configured model on the configured data, records metrics
every ``eval_every`` iterations (``train_loss``, ``train_accuracy``, ``test_accuracy``: the
reference report's tags) to ``metrics.jsonl`` and TensorBoard, writes checkpoints, and ends
with ``summary.json``. It knows nothing about what analyses want: those plug in as callbacks
(see :class:`Callback`). With ``resume=True`` it continues from ``checkpoints/last.pt`` to the
same weights and metrics an uninterrupted run reaches.

Beside it: :mod:`~convscope.train.prepare` (what happens before the first step),
:mod:`~convscope.train.state` (the running values and what a record does to them),
:mod:`~convscope.train.run_files` (checkpoints, snapshots, ``summary.json``) and
:mod:`~convscope.train.hooks` (what callbacks see).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from convscope import io
from convscope.config import RunConfig, config_hash
from convscope.data.base import Dataset
from convscope.errors import (
    ConvscopeError,
    EnvironmentProblem,
    environment_error,
    is_environment_error,
)
from convscope.progress import NoProgress, Progress
from convscope.runs import (
    STATUS_COMPLETED,
    STATUS_DIVERGED,
    STATUS_INTERRUPTED,
    STATUS_RUNNING,
    RunDir,
)
from convscope.train import guards, precision
from convscope.train import prepare as setup
from convscope.train.hooks import Callback as Callback  # re-exported: callers import it here
from convscope.train.hooks import Records as Records
from convscope.train.hooks import StepContext as StepContext
from convscope.train.hooks import run_callbacks
from convscope.train.interrupt import StopFlag
from convscope.train.run_files import (
    Streams,
    add_hparams,
    record_unexpected,
    remove_if_untouched,
    save_checkpoint,
    snapshot,
)

# looked up here at each call: tests/train/expmodels_train.py replaces loop._write_summary
from convscope.train.run_files import write_summary as _write_summary
from convscope.train.state import LoopState as LoopState
from convscope.train.state import diverging, record, retest
from convscope.train.steps import augment, batch_indices, train_step
from convscope.train.target import target_reached

log = logging.getLogger(__name__)


def train(
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    dataset: Dataset | None = None,
    callbacks: Sequence[Callback] = (),
    progress: Progress | None = None,
    max_steps: int | None = None,
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train ``cfg`` into run directory ``out_dir``; return the summary dict.

    Args:
        cfg: the resolved, validated run config.
        out_dir: the run directory. A finished run there with the same config is returned as
            is; an unfinished one is continued only with ``resume=True``.
        resume: continue from ``checkpoints/last.pt`` (or start, if there is none).
        dataset: the loaded data set (loaded from ``cfg.data`` when None).
        callbacks: called at step 0, every ``cb.every`` steps and at the end. The loop adds
            none of its own: the caller passes what the config asks for
            (:func:`convscope.callbacks.config_callbacks`).
        progress: progress sink (the CLI's bar); silent when None.
        max_steps: cap the budget (``--dry-run``).
        stop_after: stop (as if interrupted) after this many steps; for tests.

    Raises:
        ConvscopeError: bad config or data, or a run directory holding another config.
        LockedError: another process is writing this run directory.
    """
    from convscope import allocator

    allocator.tune()  # glibc: stop re-faulting each step's memory (convscope.allocator)
    run = RunDir(out_dir)
    cfg = cfg.validate()
    t = cfg.train  # why the precision is what it is, said before `auto` is resolved away
    why = precision.explain(t.precision, cfg.model.model, t.device, cfg.model.get("hidden_size"))
    cfg = precision.resolve_config(cfg)  # precision as it runs on this machine (config.json says)
    h = config_hash(cfg)
    progress = progress or NoProgress()
    run.check_target()  # never write into (or clean) a folder that is not a run
    guards.refuse_imported(run)
    created = not run.path.exists()
    io.mkdir(run.path)
    try:
        return _train_in(
            run, cfg, h, dataset, resume, callbacks, progress, max_steps, stop_after, why
        )
    except (ConvscopeError, KeyboardInterrupt):
        if created:  # refused before writing anything: leave no empty folder behind
            remove_if_untouched(run.path)
        raise


def _train_in(
    run: RunDir,
    cfg: RunConfig,
    h: str,
    dataset: Dataset | None,
    resume: bool,
    callbacks: Sequence[Callback],
    progress: Progress,
    max_steps: int | None,
    stop_after: int | None,
    why_precision: str,
) -> dict[str, Any]:
    from torch.utils.tensorboard import SummaryWriter

    from convscope.data.fingerprint import check_unchanged, fingerprint

    with io.dir_lock(run.path):
        finished = False
        if run.exists():
            old = run.config()
            if config_hash(old) != h:
                raise ConvscopeError(
                    f"{run.path}: holds a run with other options: "
                    f"{'; '.join(guards.config_differences(old, cfg))}; "
                    "repeat the run's options, or choose another --out"
                )
            finished = run.is_finished()
            has_ckpt = run.last_checkpoint_path.is_file()
            if has_ckpt and not resume and not finished:
                raise ConvscopeError(
                    f"{run.path}: holds an unfinished run (status {run.status()}); "
                    "pass --resume to continue it, or choose another --out"
                )
        if dataset is None:
            from convscope.data import load_dataset

            dataset = load_dataset(cfg.data)
        ds = dataset
        fp = fingerprint(ds, cfg.data.data)
        if run.exists() and run.data_path.is_file():
            check_unchanged(run.data_info().get("fingerprint"), fp, str(run.path))
        if finished:
            log.info("%s: already %s", run.path, run.status())
            return run.summary() or {}
        try:
            return _train_locked(
                cfg,
                h,
                run,
                ds,
                fp,
                resume,
                callbacks,
                progress,
                max_steps,
                stop_after,
                SummaryWriter,
                why_precision,
            )
        except KeyboardInterrupt:
            run.mark_interrupted_if_running()
            raise
        except OSError as e:  # disk full, read-only, ...: say so, keep the last checkpoint
            if not isinstance(e, EnvironmentProblem) and not is_environment_error(e):
                record_unexpected(run, e)
                raise
            err = e if isinstance(e, EnvironmentProblem) else environment_error(e, run.path)
            if run.summary_path.is_file():
                run.record_failure(str(err))
            raise err from None
        except Exception as e:
            record_unexpected(run, e)
            raise


def _train_locked(
    cfg: RunConfig,
    h: str,
    run: RunDir,
    ds: Dataset,
    fp: dict[str, Any],
    resume: bool,
    callbacks: Sequence[Callback],
    progress: Progress,
    max_steps: int | None,
    stop_after: int | None,
    summary_writer_cls: Callable[..., Any],
    why_precision: str,
) -> dict[str, Any]:
    p = setup.prepare(cfg, ds, max_steps, why_precision)
    setup.restore_or_clear(run, h, p, resume)
    resolved = setup.write_run_files(run, cfg, h, ds, fp, p)
    _write_summary(run, cfg, h, p.state, STATUS_RUNNING, p.total, None, resolved, p.fmt_info)
    d = setup.device_data(cfg, ds, p)

    tb = summary_writer_cls(str(run.tb_dir))
    records = Records(run)
    streams = Streams(io.JsonlAppender(run.metrics_path), records, tb)
    callbacks = list(callbacks)
    ctx = StepContext(0, p.model, ds, p.normalize, p.device, cfg, run.path, tb, records)
    stop = StopFlag(lambda: run.record_failure("interrupted mid-step", STATUS_INTERRUPTED))
    t_wall0 = time.perf_counter() - p.state.wall_seconds
    if p.state.step == 0:
        add_hparams(tb, cfg, cfg.name or run.path.name)
        if cfg.train.keep_checkpoints:  # asked for snapshots: the initialisation is one of them
            snapshot(run, p.model, 0)
        run_callbacks(callbacks, ctx, 0, p.total)

    progress.start(p.total, p.state.step, cfg.name or run.path.name)
    status, reason, total = _run_steps(
        run, cfg, h, p, d, streams, callbacks, ctx, stop, progress, stop_after, t_wall0
    )
    summary = _write_summary(run, cfg, h, p.state, status, total, reason, resolved, p.fmt_info)
    if status in (STATUS_COMPLETED, STATUS_DIVERGED):
        # Nothing will continue a finished run: its final weights are in the snapshot, and the
        # optimizer state (2/3 of last.pt) need not stay on disk.
        run.last_checkpoint_path.unlink(missing_ok=True)
    return summary


def _run_steps(
    run: RunDir,
    cfg: RunConfig,
    h: str,
    p: setup.Prepared,
    d: setup.DeviceData,
    streams: Streams,
    callbacks: Sequence[Callback],
    ctx: StepContext,
    stop: StopFlag,
    progress: Progress,
    stop_after: int | None,
    t_wall0: float,
) -> tuple[str, str | None, int]:
    """The optimizer steps, from ``p.state.step`` to the end, a divergence or an interruption;
    return the status, the reason for it and the total steps (fewer at a reached target)."""
    t = cfg.train
    model, optimizer, state, normalize = p.model, p.optimizer, p.state, p.normalize
    fmt, prec, device, n_train = p.fmt, p.prec, p.device, p.n_train
    images, labels, total, eval_every = d.images, d.labels, p.total, p.cad.eval_every
    status = STATUS_RUNNING
    reason = None
    model.train()
    try:
        with stop.installed():
            while state.step < total:
                step = state.step
                t0 = time.perf_counter()
                idx = batch_indices(t.seed, step, n_train, t.batch_size).to(device)
                x = augment(normalize(images[idx]), cfg.data.augment, t.seed, step)
                x = x.contiguous(memory_format=fmt)
                loss_value = train_step(model, optimizer, x, labels[idx], prec).item()
                state.train_seconds += time.perf_counter() - t0
                state.step = step = step + 1
                if state.initial_loss is None:
                    state.initial_loss = loss_value
                state.loss_sum += loss_value
                state.loss_count += 1

                if not math.isfinite(loss_value):
                    status, reason = STATUS_DIVERGED, f"loss is {loss_value} at step {step}"
                record_now = step % eval_every == 0 or step == total or status == STATUS_DIVERGED
                if record_now:
                    status, reason, total = _record_step(
                        cfg, p, d, streams, progress, status, reason, total
                    )
                else:
                    progress.update(step, {})
                ctx.step = step
                run_callbacks(callbacks, ctx, step, total)
                if status == STATUS_DIVERGED:
                    break
                # not at the last step: the final snapshot and summary follow, and nothing
                # continues a finished run (its last.pt would be removed at once)
                if step % t.checkpoint_every == 0 and step != total:
                    state.wall_seconds = time.perf_counter() - t_wall0
                    save_checkpoint(run, cfg, h, model, optimizer, state, streams)
                if step in t.keep_checkpoints:
                    snapshot(run, model, step)
                if stop.signal is not None or (stop_after is not None and step >= stop_after):
                    stop.acknowledge()
                    status = STATUS_INTERRUPTED
                    break
            else:
                status = STATUS_COMPLETED
    except KeyboardInterrupt:
        stop.acknowledge()
        status = STATUS_INTERRUPTED
    finally:
        progress.close()
        state.wall_seconds = time.perf_counter() - t_wall0
        _close(run, cfg, h, p, streams, status)
    return status, reason, total


def _record_step(
    cfg: RunConfig,
    p: setup.Prepared,
    d: setup.DeviceData,
    streams: Streams,
    progress: Progress,
    status: str,
    reason: str | None,
    total: int,
) -> tuple[str, str | None, int]:
    """A record at ``p.state.step``: metrics row, TensorBoard, progress, the training-accuracy
    target and the divergence rule; return the status, its reason and the total steps."""
    state, step, n_test = p.state, p.state.step, p.n_test
    last = step == total or status == STATUS_DIVERGED
    tx, ty = (d.test_x, d.test_y) if last or d.test_sub is None else d.test_sub
    best = (state.best_test_accuracy, state.best_step)
    row = record(p.model, state, p.normalize, p.fmt, p.prec, d.train_x, d.train_y, tx, ty)
    if len(ty) < n_test and target_reached(cfg, row, None):
        # the last record after all: it evaluates the whole test split
        state.best_test_accuracy, state.best_step = best
        row = retest(p.model, state, row, p.normalize, p.fmt, p.prec, d.test_x, d.test_y)
        ty = d.test_y
    if len(ty) < n_test:
        row["test_images"] = len(ty)
    streams.metrics.append(row)
    for k in ("train_loss", "train_accuracy", "test_accuracy"):
        if row[k] is not None and math.isfinite(row[k]):
            streams.tb.add_scalar(k, row[k], step)
    progress.update(step, row)
    if target_reached(cfg, row, state) and step < total:
        total = step  # the final callbacks, snapshot and summary follow
    if status != STATUS_DIVERGED:
        reason = diverging(cfg, state, row["train_loss"])
        if reason:
            status = STATUS_DIVERGED
    return status, reason, total


def _close(
    run: RunDir, cfg: RunConfig, h: str, p: setup.Prepared, streams: Streams, status: str
) -> None:
    """After the last step: a checkpoint if interrupted, the final snapshot if finished."""
    if status == STATUS_INTERRUPTED:
        save_checkpoint(run, cfg, h, p.model, p.optimizer, p.state, streams)
    if status in (STATUS_COMPLETED, STATUS_DIVERGED):
        # every record on disk before the snapshot and summary that vouch for it
        streams.sync()
        snapshot(run, p.model, p.state.step)
    streams.close()
