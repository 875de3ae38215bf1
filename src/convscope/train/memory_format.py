"""Channels-last when the model can run it, contiguous otherwise; never a crash.

Channels-last (NHWC) is faster for convolutions on CPU here, but a model that calls ``view`` on
a conv output (``x.view(x.size(0), -1)``) cannot run it: ``view`` needs a contiguous tensor. One
forward pass on two blank images, before training, tells which it is.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger(__name__)

CHANNELS_LAST, CONTIGUOUS = "channels_last", "contiguous"


def choose_memory_format(
    model: nn.Module,
    image_shape: tuple[int, int, int],
    want_channels_last: bool,
    device: torch.device | str = "cpu",
) -> tuple[torch.memory_format, dict[str, str]]:
    """The memory format to train ``model`` in, and a record of the choice for the run.

    Args:
        model: the model, on ``device`` (left as it was: mode, memory format, statistics).
        image_shape: ``(C, H, W)`` of one input.
        want_channels_last: the config's ``channels_last``.

    Returns:
        ``(format, {"used": "channels_last" | "contiguous", "reason": ...})``.
    """
    if not want_channels_last:
        return torch.contiguous_format, {"used": CONTIGUOUS, "reason": "channels_last = false"}
    if not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return torch.contiguous_format, {"used": CONTIGUOUS, "reason": "no Conv2d layer"}
    x = torch.zeros((2, *image_shape), device=device).contiguous(memory_format=torch.channels_last)
    was_training = model.training
    model.eval()  # eval: batch norm statistics are not touched
    try:
        with torch.no_grad():
            model.to(memory_format=torch.channels_last)(x)
    except RuntimeError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        log.warning("model cannot run channels-last (%s); training contiguous", first)
        return torch.contiguous_format, {
            "used": CONTIGUOUS,
            "reason": f"the model fails channels-last ({first}); fell back to contiguous",
        }
    finally:
        model.train(was_training)
        model.to(memory_format=torch.contiguous_format)
    return torch.channels_last, {"used": CHANNELS_LAST, "reason": "channels_last = true"}


def model_memory_format(model: nn.Module) -> torch.memory_format:
    """The format a model's conv weights are in (what the loop chose for its inputs): channels
    last if any conv weight is channels-last and not contiguous (a 1-channel weight is both)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            w = m.weight
            if not w.is_contiguous() and w.is_contiguous(memory_format=torch.channels_last):
                return torch.channels_last
    return torch.contiguous_format
