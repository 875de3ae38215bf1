"""A training-accuracy target (config key ``stop_at_train_accuracy``): stop once a record's
training accuracy reaches it, within the budget, and say in ``summary.json`` what was reached.

The accuracy checked is the one each record measures (the fixed ``train_eval_size`` sample of
training images, eval mode, the labels the run trains on: permuted ones for a label twin), at the
record cadence (``eval_every``), so the step at which a run stopped is one of its records. The
budget (``epochs``/``iterations``) stays the limit: a run that never reaches the target trains
for all of it and records ``reached: false`` with the last accuracy it had.
"""

from __future__ import annotations

import math
from typing import Any

from convscope.config import RunConfig

SUMMARY_KEY = "train_accuracy_target"


def target_reached(cfg: RunConfig, row: dict[str, Any], state: Any | None) -> bool:
    """Whether the record ``row`` reaches the config's target (False without one).

    With ``state`` (the loop's :class:`~convscope.train.loop.LoopState`), remember the record's
    training accuracy and the first step that reached the target in ``state.extra``, which
    checkpoints keep.
    """
    target = cfg.train.stop_at_train_accuracy
    acc = row.get("train_accuracy")
    if target is None or acc is None or not math.isfinite(acc):
        return False
    hit = acc >= target
    if state is not None:
        state.extra["last_train_accuracy"] = float(acc)
        if hit and state.extra.get("target_step") is None:
            state.extra["target_step"] = int(row["step"])
    return hit


def target_summary(cfg: RunConfig, state: Any) -> dict[str, Any]:
    """``summary.json``'s entry: ``{SUMMARY_KEY: {target, reached, step, train_accuracy}}``
    (``step``: the first record at the target, None if not reached; ``train_accuracy``: the
    last record's); nothing without a target."""
    target = cfg.train.stop_at_train_accuracy
    if target is None:
        return {}
    step = state.extra.get("target_step")
    return {
        SUMMARY_KEY: {
            "target": target,
            "reached": step is not None,
            "step": step,
            "train_accuracy": state.extra.get("last_train_accuracy"),
        }
    }
