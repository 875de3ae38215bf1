"""Shared helpers: batching images onto the model's device, picking the device."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import torch
from torch import nn

from convscope.analysis.zf.graph import Chain, as_chain
from convscope.errors import ConvscopeError

# Images per forward pass in the analyses. Not more: at 500, one LeNet5 batch's conv
# activations outgrow the CPU caches and the pass ran 1.6-1.9x slower (benchmarks/eval_batch.py
# measures the same effect for evaluation).
FORWARD_BATCH = 128

log = logging.getLogger(__name__)

Transform = Callable[[torch.Tensor], torch.Tensor]


def chain_on(model: nn.Module | Chain, device: str | torch.device | None = None) -> Chain:
    """Trace ``model`` (or take the chain); with ``device``, move the model there first."""
    chain = as_chain(model)
    if device is not None and torch.device(device) != chain.device:
        log.info("moving %s to %s", type(chain.model).__name__, device)
        chain.model.to(device)
    return chain


def check_images(images: torch.Tensor, name: str = "images") -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ConvscopeError(f"{name}: expected a (N, C, H, W) tensor, got {shape}")
    if images.shape[0] == 0:
        raise ConvscopeError(f"{name}: expected at least one image, got 0")


def to_input(
    images: torch.Tensor, chain: Chain, transform: Transform | None = None
) -> torch.Tensor:
    """``(B, C, H, W)`` raw images -> model input on the model's device and dtype.

    uint8 images need ``transform`` (e.g. :class:`convscope.data.base.Normalize`) or are scaled
    to [0, 1]; float images are used as given (already normalised) unless ``transform`` is set.
    """
    x = images.to(chain.device, non_blocking=True)
    if transform is not None:
        x = transform(x)
    elif x.dtype == torch.uint8:
        x = x.to(torch.float32) / 255.0
    x = x.to(chain.dtype)
    if x.dim() == 4 and _channels_last(chain.model):
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _channels_last(model: nn.Module) -> bool:
    """Whether ``model``'s conv weights are channels-last (a run's model is loaded in the memory
    format it trained in); inputs then follow, and conv and max-pool run 1.5x faster on CPU."""
    for p in model.parameters():
        cl, plain = p.is_contiguous(memory_format=torch.channels_last), p.is_contiguous()
        if p.dim() == 4 and cl != plain:  # (one input channel: both layouts are the same)
            return cl
    return False


def batches(
    images: torch.Tensor, chain: Chain, transform: Transform | None, batch_size: int
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, input batch)`` over ``images`` ``(N, C, H, W)``."""
    if batch_size <= 0:
        raise ConvscopeError(f"batch_size: expected a positive integer, got {batch_size}")
    for s in range(0, images.shape[0], batch_size):
        yield s, to_input(images[s : s + batch_size], chain, transform)
