"""Pieces of the training loop: device, optimizer, one step, the batch order, augmentation
and accuracy. The batch order and the augmentation are pure functions of (seed, step), so a
resumed run draws exactly what an uninterrupted one does.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from convscope.config import RunConfig
from convscope.data.base import Normalize
from convscope.errors import ConfigError
from convscope.hardware import device_kind
from convscope.train import precision

# Images per forward pass when evaluating (inference mode). Not larger: once one batch's
# activations outgrow the CPU caches every layer streams them through memory, and 1000 ran
# 1.3-1.9x slower than 256 (benchmarks/eval_batch.py).
EVAL_BATCH = 256


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device(device_kind(name))
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("config key 'device': 'cuda' requested but no CUDA GPU is available")
    return torch.device(name)


def _fast_kwargs(cls: type[torch.optim.Optimizer], params: list[nn.Parameter]) -> dict[str, bool]:
    """``fused=True`` where this optimizer and device support it (1.5-2x faster steps on CPU)."""
    import inspect

    if not params or "fused" not in inspect.signature(cls).parameters:
        return {}
    try:
        cls(params, lr=1e-3, fused=True)  # probe: raises if unsupported for this device/dtype
    except (RuntimeError, ValueError, TypeError):
        return {}
    return {"fused": True}


def make_optimizer(cfg: RunConfig, params: Iterator[nn.Parameter]) -> torch.optim.Optimizer:
    """The configured optimizer, using fused kernels where available (same math)."""
    o = cfg.optim
    ps = list(params)
    if o.optimizer == "sgd":
        cls: type[torch.optim.Optimizer] = torch.optim.SGD
        kw: dict[str, Any] = {"momentum": o.momentum, "nesterov": o.nesterov}
    elif o.optimizer == "adam":
        cls, kw = torch.optim.Adam, {}
    elif o.optimizer == "rmsprop":
        cls, kw = torch.optim.RMSprop, {"momentum": o.momentum}
    else:
        raise ConfigError(f"config key 'optimizer': unknown {o.optimizer!r}")
    return cls(ps, lr=o.lr, weight_decay=o.weight_decay, **kw, **_fast_kwargs(cls, ps))


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    prec: str = "fp32",
) -> torch.Tensor:
    """One optimizer step on batch ``x`` ``(B, ...)`` with labels ``y`` ``(B,)``; returns the loss.

    ``prec`` is a resolved precision: ``bf16`` runs the forward pass under autocast (weights,
    gradients and optimizer state stay fp32).
    """
    optimizer.zero_grad(set_to_none=True)
    with precision.autocast(x.device, prec):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.detach()


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    return max(1, math.ceil(n_train / batch_size))


def total_steps(cfg: RunConfig, n_train: int) -> int:
    t = cfg.train
    if t.iterations is not None:
        return t.iterations
    return max(1, round(float(t.epochs or 1.0) * steps_per_epoch(n_train, t.batch_size)))


def derive_seed(*parts: int) -> int:
    """A 63-bit seed derived from integers (stable across runs and platforms)."""
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (p & 0xFFFFFFFFFFFFFFFF)) * 1099511628211) & 0x7FFFFFFFFFFFFFFF
    return h


@functools.lru_cache(maxsize=2)
def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The shuffled order of the training set in ``epoch``: a pure function of (seed, epoch)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(seed, 1, epoch)))


def batch_indices(seed: int, step: int, n: int, batch_size: int) -> torch.Tensor:
    """Indices of the training batch for optimizer step ``step`` (0-based)."""
    spe = steps_per_epoch(n, batch_size)
    epoch, k = divmod(step, spe)
    return epoch_order(seed, epoch, n)[k * batch_size : (k + 1) * batch_size]


def augment(x: torch.Tensor, kind: str, seed: int, step: int) -> torch.Tensor:
    """Training augmentation of a float batch ``(B, C, H, W)``; a pure function of (seed, step)."""
    if kind == "none":
        return x
    g = torch.Generator().manual_seed(derive_seed(seed, 2, step))
    b = x.shape[0]
    flip = torch.rand(b, generator=g) < 0.5
    x = torch.where(flip.to(x.device).view(b, 1, 1, 1), x.flip(3), x)
    if kind == "flip_crop":
        pad = 2
        h, w = x.shape[2:]
        padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
        dy = torch.randint(0, 2 * pad + 1, (b,), generator=g).tolist()
        dx = torch.randint(0, 2 * pad + 1, (b,), generator=g).tolist()
        x = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])
    return x


def accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    normalize: Normalize,
    memory_format: torch.memory_format = torch.contiguous_format,
    prec: str = "fp32",
    batch: int | None = None,
) -> float:
    """Top-1 accuracy of ``model`` (eval mode) on uint8 ``images`` ``(N, C, H, W)``.

    Inference mode, batches of ``batch`` (default :data:`EVAL_BATCH`), the run's memory format
    and precision.
    """
    bs = batch or EVAL_BATCH
    was_training = model.training
    model.eval()
    correct = 0
    with precision.inference(images.device, prec):
        for i in range(0, images.shape[0], bs):
            x = normalize(images[i : i + bs]).contiguous(memory_format=memory_format)
            correct += int((model(x).argmax(1) == labels[i : i + bs]).sum())
    model.train(was_training)
    return correct / max(1, images.shape[0])
