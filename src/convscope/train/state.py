"""The training loop's running values (:class:`LoopState`, saved in every checkpoint) and what a
record does to them: evaluate the accuracies, keep the best, apply the divergence rule."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from convscope.config import RunConfig
from convscope.data.base import Normalize
from convscope.train.steps import accuracy


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


def record(
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
    """A metrics row at ``state.step``: the mean loss since the last record, the accuracies."""
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


def retest(
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


def diverging(cfg: RunConfig, state: LoopState, train_loss: float) -> str | None:
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
