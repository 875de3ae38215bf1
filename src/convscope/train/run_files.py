"""What the training loop writes into a run directory besides its records: checkpoints and
snapshots, ``summary.json``, TensorBoard's hyperparameters, the rollback of a resumed run, and
the status a run is left in when training stops on an exception."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convscope import io
from convscope.config import RunConfig
from convscope.errors import was_signalled
from convscope.runs import STATUS_DIVERGED, STATUS_RUNNING, RunDir, snapshot_name
from convscope.train import checkpoint, guards
from convscope.train.hooks import Records
from convscope.train.state import LoopState
from convscope.train.target import target_summary


@dataclass
class Streams:
    """What a run appends to while it trains: ``metrics.jsonl``, the callbacks' records and
    TensorBoard's event file."""

    metrics: io.JsonlAppender
    records: Records
    tb: Any  # torch.utils.tensorboard.SummaryWriter

    def sync(self) -> None:
        """Everything appended so far on disk."""
        self.metrics.sync()
        self.records.sync()
        self.tb.flush()

    def close(self) -> None:
        self.metrics.close()
        self.records.close()
        self.tb.close()


def add_hparams(tb: Any, cfg: RunConfig, name: str) -> None:
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


def remove_if_untouched(path: Path) -> None:
    """Remove ``path`` if it holds nothing but the lock file (it was created by this call)."""
    with contextlib.suppress(OSError):
        if {p.name for p in path.iterdir()} <= {".lock"}:
            (path / ".lock").unlink(missing_ok=True)
            path.rmdir()


def record_unexpected(run: RunDir, e: BaseException) -> None:
    """Leave a consistent status when training stops on an exception: never ``running``."""
    if was_signalled():  # a SIGTERM surfaced as another error: an interruption
        run.mark_interrupted_if_running()
    elif run.status_or_none() == STATUS_RUNNING:
        run.record_failure(f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}")


def rollback(run: RunDir, step: int) -> None:
    """Drop everything recorded after ``step``, the step of the checkpoint we resume from."""
    for p in run.path.glob("*.jsonl"):
        io.truncate_jsonl(p, step)
    checkpoint.rollback_tensorboard(run.tb_dir, step)
    for s in run.checkpoint_steps():
        if s > step:
            (run.checkpoint_dir / snapshot_name(s)).unlink()


def snapshot(run: RunDir, model: nn.Module, step: int) -> None:
    """A model-only checkpoint kept for analyses (initialisation, kept steps, final)."""
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    checkpoint.save(run.checkpoint_dir / snapshot_name(step), {"model": sd, "step": step})


def save_checkpoint(
    run: RunDir,
    cfg: RunConfig,
    h: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    state: LoopState,
    streams: Streams,
) -> None:
    """``checkpoints/last.pt``: what ``--resume`` continues from."""
    # Everything up to this step must be on disk before the checkpoint that vouches for it.
    streams.sync()
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


def write_summary(
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
