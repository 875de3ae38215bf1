"""Helpers shared by the activation tests."""

from torch import nn


def no_hooks_left(model: nn.Module) -> bool:
    """True when no module of ``model`` holds a forward hook or forward pre-hook."""
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
