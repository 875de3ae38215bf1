"""The one training loop, for every model and every experiment.

``train(cfg, out_dir)`` trains the configured model on the configured data, records metrics
every ``eval_every`` iterations (``train_loss``, ``train_accuracy``, ``test_accuracy``: the
reference report's tags) to ``metrics.jsonl`` and TensorBoard, writes checkpoints, and ends
with ``summary.json``. It knows nothing about what analyses want: those plug in as callbacks
(see :class:`Callback`). With ``resume=True`` it continues from ``checkpoints/last.pt`` to the
same weights and metrics an uninterrupted run reaches.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from convscope import __version__, io
from convscope.config import RunConfig, config_hash
from convscope.data.base import Dataset, Normalize
from convscope.errors import (
    ConvscopeError,
    EnvironmentProblem,
    environment_error,
    is_environment_error,
    was_signalled,
)
from convscope.models import build_model, check_output
from convscope.progress import NoProgress, Progress
from convscope.runs import (
    STATUS_COMPLETED,
    STATUS_DIVERGED,
    STATUS_INTERRUPTED,
    STATUS_RUNNING,
    RunDir,
    snapshot_name,
)
from convscope.train import cadence, checkpoint, guards, precision
from convscope.train.interrupt import StopFlag
from convscope.train.memory_format import choose_memory_format
from convscope.train.steps import (
    accuracy,
    augment,
    batch_indices,
    derive_seed,
    make_optimizer,
    resolve_device,
    total_steps,
    train_step,
)
from convscope.train.target import target_reached, target_summary

log = logging.getLogger(__name__)


# --- plug-in points --------------------------------------------------------------------------
class Records:
    """Per-step JSON-lines streams in the run directory (``<run>/<stream>.jsonl``)."""

    def __init__(self, run: RunDir) -> None:
        self._run = run
        self._open: dict[str, io.JsonlAppender] = {}

    def append(self, stream: str, row: dict[str, Any]) -> None:
        if "step" not in row:
            raise ValueError(f"record for stream {stream!r} has no 'step'")
        if stream not in self._open:
            self._run.note_stream(stream)
            self._open[stream] = io.JsonlAppender(self._run.stream_path(stream))
        self._open[stream].append(row)

    def sync(self) -> None:
        for a in self._open.values():
            a.sync()

    def close(self) -> None:
        for a in self._open.values():
            a.close()


@dataclass
class StepContext:
    """What a callback sees. ``step`` counts optimizer steps done (0 = initialisation)."""

    step: int
    model: nn.Module
    dataset: Dataset
    normalize: Normalize
    device: torch.device
    config: RunConfig
    run_dir: Path
    tb: Any  # torch.utils.tensorboard.SummaryWriter
    records: Records


class Callback(Protocol):
    """Called at step 0, every ``every`` steps, and at the final step.

    Must not change training: use ``torch.no_grad()``, leave the model in the mode it found it,
    and leave the global RNG alone.
    """

    every: int

    def __call__(self, ctx: StepContext) -> None: ...


@dataclass
class LoopState:
    """The loop's running values, saved in every checkpoint."""

    step: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    initial_loss: float | None = None  # the first step's loss
    reference_loss: float | None = None  # starting value for the divergence rule
    bad_records: int = 0
    best_test_accuracy: float | None = None
    best_step: int | None = None
    last_test_accuracy: float | None = None
    train_seconds: float = 0.0  # time spent in optimizer steps (for images/s)
    wall_seconds: float = 0.0  # total time across resumes
    extra: dict[str, Any] = field(default_factory=dict)


def _add_hparams(tb: Any, cfg: RunConfig, name: str) -> None:
    """Write TensorBoard's HPARAMS summaries into this run's own event file."""
    from torch.utils.tensorboard.summary import hparams

    hp = {
        "name": name,
        "model": cfg.model.model,
        "hidden_size": cfg.model.get("hidden_size"),
        "optimizer": cfg.optim.optimizer,
        "lr": cfg.optim.lr,
        "momentum": cfg.optim.momentum,
        "batch_size": cfg.train.batch_size,
        "seed": cfg.train.seed,
        "data": os.path.basename(cfg.data.data.rstrip("/")) or cfg.data.data,
    }
    metrics = {"test_accuracy": 0.0, "train_accuracy": 0.0, "train_loss": 0.0}
    for s in hparams(hp, metrics):
        tb.file_writer.add_summary(s, global_step=0)


# --- the loop --------------------------------------------------------------------------------
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
            _remove_if_untouched(run.path)
        raise


def _remove_if_untouched(path: Path) -> None:
    """Remove ``path`` if it holds nothing but the lock file (it was created by this call)."""
    with contextlib.suppress(OSError):
        if {p.name for p in path.iterdir()} <= {".lock"}:
            (path / ".lock").unlink(missing_ok=True)
            path.rmdir()


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
                _unexpected(run, e)
                raise
            err = e if isinstance(e, EnvironmentProblem) else environment_error(e, run.path)
            if run.summary_path.is_file():
                run.record_failure(str(err))
            raise err from None
        except Exception as e:
            _unexpected(run, e)
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
    t = cfg.train
    if t.threads is not None:
        torch.set_num_threads(t.threads)
    device = resolve_device(t.device)
    n_train = len(ds.train)
    if n_train == 0 or len(ds.test) == 0:
        raise ConvscopeError(f"{ds.name}: empty train or test split")
    total = total_steps(cfg, n_train)
    guards.check_budget(cfg, n_train, total)
    if max_steps is not None:
        total = min(total, max_steps)
    prec = cfg.train.precision  # resolved by train()
    n_test = len(ds.test)
    cad = cadence.resolve(t, total, n_train, n_test)
    eval_every, n_train_eval = cad.eval_every, cad.train_eval_size
    log.info(
        "precision %s; a record every %d steps, train accuracy on %d images, test accuracy on %s",
        why_precision,
        eval_every,
        n_train_eval,
        f"{n_test} images"
        if cad.test_eval_size == n_test
        else f"{cad.test_eval_size} of {n_test} images (the last record: all)",
    )
    if cfg.data.normalize == "standardize":
        normalize = Normalize(*ds.channel_stats())
    else:
        normalize = Normalize()

    torch.manual_seed(t.seed)
    model = build_model(cfg.model, ds.image_shape, ds.num_classes).to(device)
    sample = normalize(ds.train.images[:2].to(device))
    check_output(model, sample, ds.num_classes, cfg.model.model)  # once, before any step
    fmt, fmt_info = choose_memory_format(model, ds.image_shape, t.channels_last, device)
    model = model.to(memory_format=fmt)
    optimizer = make_optimizer(cfg, iter(model.parameters()))
    state = LoopState(extra={"n_train": n_train})

    checkpoint.clean_temp_files(run.checkpoint_dir)
    checkpoint.clean_temp_files(run.path)
    ckpt = None
    if resume and run.last_checkpoint_path.is_file():
        ckpt = run.load_checkpoint(None, device=device)
        if ckpt.get("config_hash") != h:
            raise ConvscopeError(f"{run.last_checkpoint_path}: checkpoint is of another config")
        run.load_weights(model, ckpt["model"], run.last_checkpoint_path)
        optimizer.load_state_dict(ckpt["optimizer"])
        state = LoopState(**ckpt["state"])
        state.extra.setdefault("n_train", n_train)
        checkpoint.set_rng_state(ckpt["rng"])
        _rollback(run, state.step)
        log.info("%s: resuming at step %d of %d", run.path, state.step, total)
    else:
        run.clear_own_files()  # only what a run writes; see RunDir.check_target

    from convscope.models import trust

    code = trust.record(cfg.model.model)  # what RunDir.build_model checks before importing it
    io.write_json(
        run.config_path,
        {
            **cfg.to_dict(),
            "hash": h,
            "version": __version__,
            "memory_format": fmt_info,
            **({"model_code": code} if code else {}),
        },
    )
    data_info = {**ds.describe(), "normalize": normalize.to_dict()}
    io.write_json(run.data_path, {**data_info, "fingerprint": fp})
    resolved = {
        "precision": prec,
        "eval_every": eval_every,
        "train_eval_size": n_train_eval,
        "test_eval_size": cad.test_eval_size,
    }
    _write_summary(run, cfg, h, state, STATUS_RUNNING, total, None, resolved, fmt_info)

    images = ds.train.images.to(device)
    labels = ds.train.labels.to(device)
    test_x, test_y = ds.test.images.to(device), ds.test.labels.to(device)
    g = torch.Generator().manual_seed(derive_seed(t.seed, 3))
    sample = torch.randperm(n_train, generator=g)[:n_train_eval].to(device)
    train_x, train_y = images[sample], labels[sample]
    # the fixed test subsample of the records before the last (the whole split by default)
    g = torch.Generator().manual_seed(derive_seed(t.seed, 4))
    sub = torch.randperm(n_test, generator=g)[: cad.test_eval_size].to(device)
    test_sub = (test_x[sub], test_y[sub]) if cad.test_eval_size < n_test else None

    tb = summary_writer_cls(str(run.tb_dir))
    records = Records(run)
    metrics = io.JsonlAppender(run.metrics_path)
    callbacks = list(callbacks)
    ctx = StepContext(0, model, ds, normalize, device, cfg, run.path, tb, records)
    stop = StopFlag(lambda: run.record_failure("interrupted mid-step", STATUS_INTERRUPTED))
    status = STATUS_RUNNING
    reason = None
    t_wall0 = time.perf_counter() - state.wall_seconds
    if state.step == 0:
        _add_hparams(tb, cfg, cfg.name or run.path.name)
        if t.keep_checkpoints:  # asked for snapshots: the initialisation is one of them
            _snapshot(run, model, 0)
        _run_callbacks(callbacks, ctx, 0, total)

    progress.start(total, state.step, cfg.name or run.path.name)
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
                    last = step == total or status == STATUS_DIVERGED
                    tx, ty = (test_x, test_y) if last or test_sub is None else test_sub
                    best = (state.best_test_accuracy, state.best_step)
                    row = _record(model, state, normalize, fmt, prec, train_x, train_y, tx, ty)
                    if len(ty) < n_test and target_reached(cfg, row, None):
                        # the last record after all: it evaluates the whole test split
                        state.best_test_accuracy, state.best_step = best
                        row = _retest(model, state, row, normalize, fmt, prec, test_x, test_y)
                        ty = test_y
                    if len(ty) < n_test:
                        row["test_images"] = len(ty)
                    metrics.append(row)
                    for k in ("train_loss", "train_accuracy", "test_accuracy"):
                        if row[k] is not None and math.isfinite(row[k]):
                            tb.add_scalar(k, row[k], step)
                    progress.update(step, row)
                    if target_reached(cfg, row, state) and step < total:
                        total = step  # the final callbacks, snapshot and summary follow
                    if status != STATUS_DIVERGED:
                        reason = _diverging(cfg, state, row["train_loss"])
                        if reason:
                            status = STATUS_DIVERGED
                else:
                    progress.update(step, {})
                ctx.step = step
                _run_callbacks(callbacks, ctx, step, total)
                if status == STATUS_DIVERGED:
                    break
                # not at the last step: the final snapshot and summary follow, and nothing
                # continues a finished run (its last.pt would be removed at once)
                if step % t.checkpoint_every == 0 and step != total:
                    state.wall_seconds = time.perf_counter() - t_wall0
                    _checkpoint(run, cfg, h, model, optimizer, state, metrics, records, tb)
                if step in t.keep_checkpoints:
                    _snapshot(run, model, step)
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
        if status == STATUS_INTERRUPTED:
            _checkpoint(run, cfg, h, model, optimizer, state, metrics, records, tb)
        finished = status in (STATUS_COMPLETED, STATUS_DIVERGED)
        if finished:  # every record on disk before the snapshot and summary that vouch for it
            metrics.sync()
            records.sync()
            tb.flush()
            _snapshot(run, model, state.step)
        metrics.close()
        records.close()
        tb.close()
    summary = _write_summary(run, cfg, h, state, status, total, reason, resolved, fmt_info)
    if finished:
        # Nothing will continue a finished run: its final weights are in the snapshot, and the
        # optimizer state (2/3 of last.pt) need not stay on disk.
        run.last_checkpoint_path.unlink(missing_ok=True)
    return summary


def _unexpected(run: RunDir, e: BaseException) -> None:
    """Leave a consistent status when training stops on an exception: never ``running``."""
    if was_signalled():  # a SIGTERM surfaced as another error: an interruption
        run.mark_interrupted_if_running()
    elif run.status_or_none() == STATUS_RUNNING:
        run.record_failure(f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}")


def _run_callbacks(callbacks: Sequence[Callback], ctx: StepContext, step: int, total: int) -> None:
    for cb in callbacks:
        if step == 0 or step == total or step % max(1, cb.every) == 0:
            cb(ctx)


def _record(
    model: nn.Module,
    state: LoopState,
    normalize: Normalize,
    fmt: torch.memory_format,
    prec: str,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
) -> dict[str, Any]:
    train_loss = state.loss_sum / max(1, state.loss_count)
    state.loss_sum, state.loss_count = 0.0, 0
    test_acc = accuracy(model, test_x, test_y, normalize, fmt, prec)
    row = {
        "step": state.step,
        "train_loss": train_loss,
        "train_accuracy": accuracy(model, train_x, train_y, normalize, fmt, prec),
        "test_accuracy": test_acc,
    }
    state.last_test_accuracy = test_acc
    if state.best_test_accuracy is None or test_acc > state.best_test_accuracy:
        state.best_test_accuracy, state.best_step = test_acc, state.step
    return row


def _retest(
    model: nn.Module,
    state: LoopState,
    row: dict[str, Any],
    normalize: Normalize,
    fmt: torch.memory_format,
    prec: str,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
) -> dict[str, Any]:
    """``row`` with its test accuracy on the whole split (a record that turned out last)."""
    acc = accuracy(model, test_x, test_y, normalize, fmt, prec)
    state.last_test_accuracy = acc
    if state.best_test_accuracy is None or acc > state.best_test_accuracy:
        state.best_test_accuracy, state.best_step = acc, state.step
    return {**row, "test_accuracy": acc}


def _diverging(cfg: RunConfig, state: LoopState, train_loss: float) -> str | None:
    """Diverged when the recorded loss stays above ``factor`` x its starting value.

    The starting value is the lower of the first step's loss and the first record's mean loss
    (a run that blows up within the first record is still measured against its start). A run
    whose loss never gets below where it started, for ``patience`` consecutive records after
    the first, is not learning: RMSProp with momentum 1 sits at or above chance loss without
    ever producing NaN.
    """
    t = cfg.train
    if not math.isfinite(train_loss):
        return f"train_loss is {train_loss} at step {state.step}"
    if state.reference_loss is None:
        state.reference_loss = min(float(state.initial_loss or train_loss), train_loss)
        return None
    limit = t.divergence_factor * state.reference_loss
    state.bad_records = state.bad_records + 1 if train_loss > limit else 0
    if state.bad_records >= t.divergence_patience:
        return (
            f"train_loss {train_loss:.4g} stayed above {t.divergence_factor:g} x its starting value "
            f"{state.reference_loss:.4g} for {state.bad_records} records (step {state.step})"
        )
    return None


def _rollback(run: RunDir, step: int) -> None:
    """Drop everything recorded after ``step``, the step of the checkpoint we resume from."""
    for p in run.path.glob("*.jsonl"):
        io.truncate_jsonl(p, step)
    checkpoint.rollback_tensorboard(run.tb_dir, step)
    for s in run.checkpoint_steps():
        if s > step:
            (run.checkpoint_dir / snapshot_name(s)).unlink()


def _snapshot(run: RunDir, model: nn.Module, step: int) -> None:
    """A model-only checkpoint kept for analyses (initialisation, kept steps, final)."""
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    checkpoint.save(run.checkpoint_dir / snapshot_name(step), {"model": sd, "step": step})


def _checkpoint(
    run: RunDir,
    cfg: RunConfig,
    h: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: LoopState,
    metrics: io.JsonlAppender,
    records: Records,
    tb: Any,
) -> None:
    # Everything up to this step must be on disk before the checkpoint that vouches for it.
    metrics.sync()
    records.sync()
    tb.flush()
    checkpoint.save(
        run.last_checkpoint_path,
        {
            "format": checkpoint.FORMAT,
            "step": state.step,
            "config": cfg.to_dict(),
            "config_hash": h,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "state": state.__dict__.copy(),
            "rng": checkpoint.rng_state(),
        },
    )


def _write_summary(
    run: RunDir,
    cfg: RunConfig,
    h: str,
    state: LoopState,
    status: str,
    total: int,
    reason: str | None = None,
    resolved: dict[str, Any] | None = None,
    memory_format: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``summary.json``: status, accuracies, times, and the values the defaults resolved to.

    ``outside_steps_share`` is the share of the wall time spent outside optimizer steps
    (records, callbacks, checkpoints, logging).
    """
    n_train = int(state.extra.get("n_train") or 0)
    images = (
        guards.images_seen(state.step, n_train, cfg.train.batch_size)
        if n_train
        else state.step * cfg.train.batch_size
    )
    summary = {
        "name": cfg.name or run.path.name,
        "hash": h,
        "status": status,
        "step": state.step,
        "total_steps": total,
        "best_test_accuracy": state.best_test_accuracy,
        "best_step": state.best_step,
        "final_test_accuracy": state.last_test_accuracy,
        "wall_time_s": round(state.wall_seconds, 3),
        "train_time_s": round(state.train_seconds, 3),
        "images_seen": images,
        "images_per_second": round(images / state.train_seconds, 1)
        if state.train_seconds
        else None,
        "outside_steps_share": round(1 - state.train_seconds / state.wall_seconds, 4)
        if state.wall_seconds > 0
        else None,
        "diverged_step": state.step if status == STATUS_DIVERGED else None,
        "reason": reason,
        "memory_format": memory_format,
        **(resolved or {}),
        **target_summary(cfg, state),
    }
    io.write_json(run.summary_path, summary)
    return summary
