"""A run directory: everything one training run wrote, readable without the code that wrote it.

Layout::

    RUN/
      config.json        resolved RunConfig + "hash" (its identity) + convscope version
      data.json          what data set was used: Dataset.describe() + normalisation stats
      metrics.jsonl      one JSON object per record: step, train_loss, train_accuracy, test_accuracy
      summary.json       status (running/completed/diverged/interrupted), accuracies, wall time, img/s
      tb/                TensorBoard event files (tags as in the reference report)
      checkpoints/
        last.pt          everything needed to continue exactly (model, optimizer, step, RNG, ...);
                         removed once the run has finished
        step_0000000.pt  model-only snapshots: initialisation, kept steps, and the final step
      analysis/          arrays (.npz) and summaries (.json) written by analyses
      figures/           PNGs drawn from analysis arrays
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convscope import io
from convscope.config import RunConfig, config_hash, from_dict
from convscope.data.base import Dataset, Normalize
from convscope.errors import ConvscopeError

_SNAPSHOT = re.compile(r"^step_(\d{7,})\.pt$")

STATUS_RUNNING = "running"
STATUS_COMPLETED = "completed"
STATUS_DIVERGED = "diverged"
STATUS_INTERRUPTED = "interrupted"
STATUS_FAILED = "failed"
FINISHED = frozenset({STATUS_COMPLETED, STATUS_DIVERGED})


def snapshot_name(step: int) -> str:
    return f"step_{step:07d}.pt"


class RunDir:
    """Read (and atomically write) the files of one run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # paths ---------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def data_path(self) -> Path:
        return self.path / "data.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.json"

    @property
    def tb_dir(self) -> Path:
        return self.path / "tb"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last_checkpoint_path(self) -> Path:
        return self.checkpoint_dir / "last.pt"

    @property
    def analysis_dir(self) -> Path:
        d = self.path / "analysis"
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def figures_dir(self) -> Path:
        d = self.path / "figures"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def stream_path(self, stream: str) -> Path:
        """Path of a per-step record stream (``metrics``, ``activations``, ...)."""
        if not re.fullmatch(r"[A-Za-z0-9_]+", stream):
            raise ValueError(f"bad stream name {stream!r}")
        return self.path / f"{stream}.jsonl"

    # reading -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.config_path.is_file()

    def config(self) -> RunConfig:
        if not self.config_path.is_file():
            raise ConvscopeError(f"{self.path}: not a run directory (no config.json)")
        d = io.read_json(self.config_path)
        d = {k: v for k, v in d.items() if k not in ("hash", "version", "memory_format")}
        return from_dict(d, where=str(self.config_path))

    def config_hash(self) -> str:
        return config_hash(self.config())

    def summary(self) -> dict[str, Any] | None:
        if not self.summary_path.is_file():
            return None
        return io.read_json(self.summary_path)

    def status(self) -> str | None:
        s = self.summary()
        return None if s is None else s.get("status")

    def is_finished(self) -> bool:
        return self.status() in FINISHED

    def metrics(self) -> list[dict[str, Any]]:
        return io.read_jsonl(self.metrics_path)

    def records(self, stream: str) -> list[dict[str, Any]]:
        return io.read_jsonl(self.stream_path(stream))

    def data_info(self) -> dict[str, Any]:
        return io.read_json(self.data_path)

    def checkpoint_steps(self) -> list[int]:
        """Steps with a model snapshot, ascending."""
        if not self.checkpoint_dir.is_dir():
            return []
        steps = []
        for p in self.checkpoint_dir.iterdir():
            m = _SNAPSHOT.match(p.name)
            if m:
                steps.append(int(m.group(1)))
        return sorted(steps)

    def load_checkpoint(self, step: int | None = None, device: str | torch.device = "cpu") -> dict:
        """Load ``last.pt`` (``step=None`` and it exists) or the snapshot of ``step``."""
        if step is None:
            path = self.last_checkpoint_path
            if not path.is_file():
                steps = self.checkpoint_steps()
                if not steps:
                    raise ConvscopeError(f"{self.checkpoint_dir}: no checkpoint found")
                path = self.checkpoint_dir / snapshot_name(steps[-1])
        else:
            path = self.checkpoint_dir / snapshot_name(step)
            if not path.is_file():
                raise ConvscopeError(
                    f"{path}: no checkpoint for step {step}; have {self.checkpoint_steps()}"
                )
        try:
            return torch.load(path, map_location=device, weights_only=True)
        except Exception as e:  # a torn or foreign file
            raise ConvscopeError(
                f"{path}: cannot load checkpoint ({type(e).__name__}: {e})"
            ) from None

    def build_model(self) -> nn.Module:
        """The run's architecture with fresh weights (shape from data.json, no data loaded)."""
        from convscope.models import build_model

        info = self.data_info()
        return build_model(self.config().model, tuple(info["image_shape"]), len(info["classes"]))

    def load_model(self, step: int | None = None, device: str | torch.device = "cpu") -> nn.Module:
        """The run's model with the weights of ``step`` (None: latest), in eval mode."""
        ckpt = self.load_checkpoint(step, device=device)
        model = self.build_model()
        model.load_state_dict(ckpt["model"])
        return model.to(device).eval()

    def normalize(self) -> Normalize:
        n = self.data_info().get("normalize", {})
        return Normalize(n.get("mean"), n.get("std"))

    def load_data(self) -> tuple[Dataset, Normalize]:
        """Load the run's data set again (from its config) and its normalisation."""
        from convscope.data import load_dataset

        return load_dataset(self.config().data), self.normalize()

    # writing -------------------------------------------------------------------------------
    def write_json(self, relpath: str | Path, obj: Any) -> Path:
        p = self.path / relpath
        io.write_json(p, obj)
        return p

    def write_npz(self, relpath: str | Path, **arrays: Any) -> Path:
        p = self.path / relpath
        io.write_npz(p, **arrays)
        return p

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"
