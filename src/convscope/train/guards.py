"""Checks the loop makes before it trains, and the sentences it says when they fail.

Kept out of :mod:`convscope.train.loop` so the loop stays one readable function: what a run's
budget may be, which config keys differ from a run on disk, how many images a run used.
"""

from __future__ import annotations

import math
from typing import Any

from convscope.config import RunConfig
from convscope.errors import ConfigError, ConvscopeError
from convscope.runs import RunDir


def check_budget(cfg: RunConfig, n_train: int, total: int) -> None:
    """Refuse a batch larger than the training split and kept checkpoints past the budget."""
    t = cfg.train
    if t.batch_size > n_train:
        raise ConfigError(
            f"config key 'batch_size': {t.batch_size} is larger than the training split "
            f"({n_train} images); expected at most {n_train}"
        )
    bad = [s for s in t.keep_checkpoints if not 0 < s <= total]
    if bad:
        raise ConfigError(
            f"config key 'keep_checkpoints': step(s) {', '.join(map(str, bad))} outside the "
            f"budget; expected steps in 1..{total}"
        )


def images_seen(steps: int, n_train: int, batch_size: int) -> int:
    """Training images used by ``steps`` optimizer steps (the last batch of an epoch is short)."""
    spe = max(1, math.ceil(n_train / batch_size))
    epochs, rest = divmod(steps, spe)
    return epochs * n_train + min(rest * batch_size, n_train)


def _flat(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for v in d.values():
        if isinstance(v, dict):
            out.update(v)
    return out


def config_differences(run: RunConfig, command: RunConfig) -> list[str]:
    """``["lr: the run has 0.001, the command gives 0.01", ...]`` over the identity keys."""
    from convscope.train.precision import resolve_config

    a = _flat(resolve_config(run).identity_dict())
    b = _flat(resolve_config(command).identity_dict())
    return [
        f"{k}: the run has {a.get(k)!r}, the command gives {b.get(k)!r}".replace("'", "")
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


def refuse_imported(run: RunDir) -> None:
    """An imported run (``convscope import``) has weights but no training state to continue."""
    rec = run.imported()
    if rec is None:
        return
    files = ", ".join(str(f.get("file")) for f in rec.get("from", []) if f.get("file"))
    raise ConvscopeError(
        f"{run.path}: an imported run (weights from {files or 'a module in memory'}); it holds "
        "no optimizer or training state to continue: train into another --out"
    )
