"""The training-loop callbacks a run config asks for; the callers of the loop pass them.

The loop (:mod:`convscope.train.loop`) knows nothing about analyses: ``convscope train``, the
experiment workers and library users give it ``callbacks=config_callbacks(cfg)``.
"""

from __future__ import annotations

from convscope.config import RunConfig
from convscope.train.loop import Callback


def config_callbacks(cfg: RunConfig) -> list[Callback]:
    """Activation statistics every ``train.activation_stats_every`` steps when it is > 0."""
    callbacks: list[Callback] = []
    if cfg.train.activation_stats_every > 0:
        from convscope.studies.activations.compute import ActivationStatsCallback

        callbacks.append(
            ActivationStatsCallback(
                cfg.train.activation_stats_every, cfg.train.activation_stats_size
            )
        )
    return callbacks
