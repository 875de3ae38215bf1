"""Checkpoints that continue a run exactly, and TensorBoard/record rollback on resume.

A full checkpoint (``last.pt``) holds the model, the optimizer, the step, the loop's running
state and every RNG state; data order and augmentation are pure functions of (seed, epoch,
step), so they need no state. It only contains tensors, lists, dicts and numbers, so it loads
with ``torch.load(..., weights_only=True)``. It is written to a temporary file and moved into
place, so a ``kill -9`` during the write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import contextlib
import io
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from convscope.io import atomic_write_bytes

log = logging.getLogger(__name__)

FORMAT = 1


def save(path: str | Path, obj: dict[str, Any]) -> None:
    """``torch.save`` to a temp file, then ``os.replace``."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def rng_state() -> dict[str, Any]:
    """Every RNG a training step may touch, as weights-only-loadable values."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": _python_state_to_list(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state(
        (
            n["name"],
            n["keys"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    random.setstate(_python_state_from_list(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _python_state_to_list(s: tuple) -> list:
    version, internal, gauss = s
    return [version, list(internal), gauss]


def _python_state_from_list(s: list) -> tuple:
    version, internal, gauss = s
    return (version, tuple(internal), gauss)


def clean_temp_files(directory: Path) -> None:
    """Remove temp files left by a write that was killed part-way."""
    if directory.is_dir():
        for p in directory.glob(".*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def rollback_tensorboard(tb_dir: Path, max_step: int) -> int:
    """Rewrite the event files in ``tb_dir`` keeping only events with ``step <= max_step``.

    After a resume from step ``max_step``, the events the killed process wrote past it are
    dropped, so no step is repeated. Returns the number of events dropped.
    """
    if not tb_dir.is_dir():
        return 0
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    files = sorted(p for p in tb_dir.iterdir() if p.name.startswith("events.out.tfevents"))
    if not files:
        return 0
    kept: list[Any] = []
    dropped = 0
    for f in files:
        try:
            for ev in EventFileLoader(str(f)).Load():
                if ev.HasField("file_version"):
                    continue
                if ev.step > max_step:
                    dropped += 1
                else:
                    kept.append(ev)
        except Exception as e:  # a torn record at the end of a killed writer's file
            log.debug("stopped reading %s: %s", f, e)
    tmp_dir = tb_dir / ".rollback"
    tmp_dir.mkdir(exist_ok=True)
    writer = EventFileWriter(str(tmp_dir), filename_suffix=".rolledback")
    for ev in kept:
        writer.add_event(ev)
    writer.close()
    (new_file,) = list(tmp_dir.iterdir())
    new_file.replace(tb_dir / new_file.name)
    for f in files:
        f.unlink()
    tmp_dir.rmdir()
    return dropped
