"""What the training loop offers its callbacks: :class:`Callback`, the :class:`StepContext` they
see, and :class:`Records`, the per-step JSON-lines streams they write.

Re-exported by :mod:`convscope.train.loop`, where callers import them from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from convscope import io
from convscope.config import RunConfig
from convscope.data.base import Dataset, Normalize
from convscope.runs import RunDir


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


def run_callbacks(callbacks: Sequence[Callback], ctx: StepContext, step: int, total: int) -> None:
    """Call each callback whose turn ``step`` is (step 0, every ``every`` steps, the last)."""
    for cb in callbacks:
        if step == 0 or step == total or step % max(1, cb.every) == 0:
            cb(ctx)
