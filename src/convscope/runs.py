"""A run directory: everything one training run wrote, readable without the code that wrote it.

Layout::

    RUN/
      config.json        resolved RunConfig + "hash" (its identity) + convscope version
      data.json          what data set was used: Dataset.describe() + normalisation stats
      metrics.jsonl      one JSON object per record: step, train_loss, train_accuracy, test_accuracy
      summary.json       status (running/completed/diverged/interrupted/failed), accuracies, wall
                         time, img/s; "reason" says why a run stopped or failed
      streams.json       the record streams (<stream>.jsonl) this run wrote
      tb/                TensorBoard event files (tags as in the reference report)
      checkpoints/
        last.pt          everything needed to continue exactly (model, optimizer, step, RNG, ...);
                         removed once the run has finished
        step_0000000.pt  model-only snapshots: initialisation, kept steps, and the final step
      analysis/          arrays (.npz) and summaries (.json) written by analyses
      figures/           PNGs drawn from analysis arrays

convscope deletes only what it wrote: a non-empty folder that is not a run is refused
(:meth:`RunDir.check_target`), and a fresh start removes only the files named above
(:meth:`RunDir.clear_own_files`).
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convscope import io
from convscope.config import RUN_RECORD_KEYS, RunConfig, from_dict
from convscope.data.base import Dataset, Normalize
from convscope.errors import ConvscopeError
from convscope.paths import under
from convscope.train.precision import run_hash

_SNAPSHOT = re.compile(r"^step_(\d{7,})\.pt$")
_TB_EVENTS = re.compile(r"^events\.out\.tfevents\.")
STREAMS_JSON = "streams.json"

STATUS_RUNNING = "running"
STATUS_COMPLETED = "completed"
STATUS_DIVERGED = "diverged"
STATUS_INTERRUPTED = "interrupted"
STATUS_FAILED = "failed"
FINISHED = frozenset({STATUS_COMPLETED, STATUS_DIVERGED})


def _load_error(e: Exception) -> str:
    """One line for a refused or broken checkpoint (without PyTorch's weights_only advice)."""
    text = str(e)
    m = re.search(r"[Uu]nsupported (?:global: )?GLOBAL ([\w.]+)", text) or re.search(
        r"global '?([\w.]+)'? was not an allowed global", text
    )
    if m:
        return f"refused: it needs {m.group(1)}, which a weights-only checkpoint never holds"
    if "Weights only load failed" in text:
        # the reason follows "WeightsUnpickler error:" (on its line or the next); the lines
        # around it are PyTorch's advice to load with weights_only=False or to file an issue
        after = text.split("Unpickler error:", 1)[1] if "Unpickler error:" in text else ""
        reason = next((ln.strip() for ln in after.splitlines() if ln.strip()), "")
        return (
            f"refused: not a weights-only checkpoint ({reason}; a torn file or not written by "
            "torch.save)"
            if reason
            else "refused: not a weights-only checkpoint"
        )
    return f"{type(e).__name__}: {(text.splitlines() or [''])[0]}"


def snapshot_name(step: int) -> str:
    return f"step_{step:07d}.pt"


class RunDir:
    """Read (and atomically write) the files of one run directory."""

    def __init__(
        self, path: str | Path, architecture: Callable[[], nn.Module] | None = None
    ) -> None:
        """``architecture``: builds the model with fresh weights, for a run imported from a
        module in memory (:func:`convscope.import_model`); default: from the config."""
        self.path = Path(path)
        self.architecture = architecture

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
        d = {k: v for k, v in d.items() if k not in RUN_RECORD_KEYS}
        return from_dict(d, where=str(self.config_path))

    def config_hash(self) -> str:
        return run_hash(self.config())

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
        path = self.checkpoint_path(step)
        try:
            return torch.load(path, map_location=device, weights_only=True)
        except Exception as e:  # a torn or foreign file
            raise ConvscopeError(f"{path}: cannot load checkpoint ({_load_error(e)})") from None

    def checkpoint_path(self, step: int | None = None) -> Path:
        """``last.pt`` (``step=None`` and it exists, else the latest snapshot) or the snapshot of
        ``step``."""
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
        return path

    def imported(self) -> dict[str, Any] | None:
        """What ``convscope import`` recorded in ``config.json`` (None: trained by convscope)."""
        if not self.config_path.is_file():
            return None
        with contextlib.suppress(OSError, ValueError, AttributeError):
            rec = io.read_json(self.config_path).get("imported")
            return rec if isinstance(rec, dict) else None
        return None

    def build_model(self) -> nn.Module:
        """The run's architecture with fresh weights (shape from data.json, no data loaded).

        A user's factory is imported only when this folder proves it is the code the run was
        trained with, or the user trusts it (:mod:`convscope.models.trust`).
        """
        from convscope.models import build_model, trust

        if self.architecture is not None:
            return self.architecture()
        imported = self.imported() or {}
        if imported.get("in_memory"):
            raise ConvscopeError(
                f"{self.path}: imported from a module in memory ({imported.get('module')}); its "
                "architecture is not on disk: open it with the module "
                "(convscope.open_run(path, model=...)) or import it with --model FILE.py:factory"
            )
        cfg = self.config()
        trust.check(self.path, io.read_json(self.config_path), cfg.model.model, run_hash(cfg))
        info = self.data_info()
        return build_model(
            cfg.model,
            tuple(info["image_shape"]),
            len(info["classes"]),
            model_args=imported.get("model_args"),
        )

    def initial_model(self) -> tuple[nn.Module, str]:
        """The model at initialisation, in eval mode, and where it came from: the step-0
        snapshot, else rebuilt from the config as the loop builds it (``torch.manual_seed(
        train.seed)`` then the factory; the global RNG is restored after). Runs keep only their
        final snapshot unless asked, so most have no step 0 on disk."""
        if 0 in self.checkpoint_steps():
            return self.load_model(0), "checkpoint step 0"
        seed = self.config().train.seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self.build_model()
        return model.eval(), f"rebuilt from the config with torch.manual_seed({seed})"

    def load_model(self, step: int | None = None, device: str | torch.device = "cpu") -> nn.Module:
        """The run's model with the weights of ``step`` (None: latest), in eval mode."""
        ckpt = self.load_checkpoint(step, device=device)
        model = self.build_model()
        state = ckpt.get("model") if isinstance(ckpt, dict) else None
        self.load_weights(model, state, self.checkpoint_path(step))
        model = model.to(device).eval()
        if self.trained_channels_last():  # analyses run in the format it trained in (faster)
            model = model.to(memory_format=torch.channels_last)
        return model

    def load_weights(self, model: nn.Module, state: Any, path: Path) -> None:
        """``model.load_state_dict(state)``; a checkpoint that does not fit the model (other
        shapes, missing or extra keys) is one line naming ``path`` (exit 2)."""
        if not isinstance(state, dict):
            raise ConvscopeError(f"{path}: 'model' is not a state dict; expected model weights")
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            lines = [ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()]
            raise ConvscopeError(
                f"{path}: does not fit model {self.config().model.model!r}: "
                + (lines[0] if lines else str(e).splitlines()[0])
                + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else "")
            ) from None

    def trained_channels_last(self) -> bool:
        """Whether the run trained channels-last (``config.json`` ``memory_format.used``)."""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            return io.read_json(self.config_path).get("memory_format", {}).get("used") == (
                "channels_last"
            )
        return False

    def normalize(self) -> Normalize:
        n = self.data_info().get("normalize", {})
        return Normalize(n.get("mean"), n.get("std"))

    def load_data(self) -> tuple[Dataset, Normalize]:
        """Load the run's data set again (from its config) and its normalisation."""
        from convscope.data import load_dataset

        return load_dataset(self.config().data), self.normalize()

    # writing -------------------------------------------------------------------------------
    def write_json(self, relpath: str | Path, obj: Any) -> Path:
        p = under(self.path, Path(relpath).as_posix())
        io.write_json(p, obj)
        return p

    def write_npz(self, relpath: str | Path, **arrays: Any) -> Path:
        p = under(self.path, Path(relpath).as_posix())
        io.write_npz(p, **arrays)
        return p

    # ownership ------------------------------------------------------------------------------
    def check_target(self) -> None:
        """Refuse a path that is a file, or a non-empty folder that is not a convscope run."""
        p = self.path
        if p.exists() and not p.is_dir():
            raise ConvscopeError(f"{p}: is a file, not a folder; expected a run directory")
        if not p.is_dir() or self.config_path.is_file():
            return
        others = sorted(e.name for e in p.iterdir() if e.name != ".lock")
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise ConvscopeError(
                f"{p}: not empty ({shown}) and not a convscope run (no config.json); "
                "convscope never deletes what it did not write: choose an empty or new --out"
            )

    def note_stream(self, stream: str) -> None:
        """Record that this run writes ``<stream>.jsonl`` (so a fresh start may remove it)."""
        have = self.streams()
        if stream not in have:
            io.write_json(self.path / STREAMS_JSON, {"streams": sorted({*have, stream})})

    def streams(self) -> list[str]:
        p = self.path / STREAMS_JSON
        if not p.is_file():
            return []
        with contextlib.suppress(ValueError, AttributeError):
            return [str(x) for x in io.read_json(p).get("streams", [])]
        return []

    def clear_own_files(self) -> None:
        """Start over: remove what an earlier attempt wrote (and nothing else)."""
        for p in (self.metrics_path, self.summary_path):
            p.unlink(missing_ok=True)
        for stream in self.streams():
            self.stream_path(stream).unlink(missing_ok=True)
        for d, own in ((self.tb_dir, _TB_EVENTS), (self.checkpoint_dir, _SNAPSHOT)):
            if not d.is_dir():
                continue
            shutil.rmtree(d / ".rollback", ignore_errors=True)
            for p in d.iterdir():
                if p.is_file() and (own.match(p.name) or p.name == "last.pt"):
                    p.unlink()
            with contextlib.suppress(OSError):
                d.rmdir()  # only when nothing else is in it

    def record_failure(self, reason: str, status: str = STATUS_FAILED) -> None:
        """Set ``summary.json`` to ``status`` with ``reason``, keeping what is there.

        Written even on a nearly full disk (in place when a temp file does not fit); never
        raises.
        """
        s: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            s = self.summary() or {}
        s.update(status=status, reason=reason)
        if status == STATUS_FAILED:
            s["error"] = reason
        io.write_json_best_effort(self.summary_path, s)

    def status_or_none(self) -> str | None:
        """The status, or None when summary.json is missing or unreadable."""
        with contextlib.suppress(OSError, ValueError):
            return self.status()
        return None

    def mark_interrupted_if_running(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            if self.status() == STATUS_RUNNING:
                self.record_failure("interrupted during start-up", STATUS_INTERRUPTED)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"
