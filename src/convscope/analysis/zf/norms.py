"""The linear part of a per-image normalisation, its statistics frozen at one forward pass.

GroupNorm, LayerNorm and InstanceNorm divide each image's values by that image's own standard
deviation. With the statistics held at the values of one forward pass, the layer is the
per-element affine map ``y = (x - mu) * (weight / sigma) + bias``; the deconvnet takes its
transposed linear part, ``signal * weight / sigma`` (the batch-norm rule with this image's
statistics in place of the running ones). :func:`norm_scale` computes that factor.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from convscope.errors import ConvscopeError


def norm_scale(layer: Any, x: torch.Tensor) -> torch.Tensor:
    """``weight / sigma`` of a ``norm`` layer for input ``x`` ``(B, C, ...)``, broadcastable to
    its output (``(B, C, 1, 1)`` for GroupNorm and InstanceNorm, ``(B, ..., *normalized_shape)``
    for LayerNorm)."""
    m = layer.module
    x = x.detach()
    if isinstance(m, nn.GroupNorm):
        b, c = x.shape[:2]
        g = m.num_groups
        var = x.reshape(b, g, -1).var(dim=2, unbiased=False)
        inv = torch.rsqrt(var + m.eps).repeat_interleave(c // g, dim=1)  # (B, C)
        if m.weight is not None:
            inv = inv * m.weight.detach().to(x.dtype)
        return inv.reshape(b, c, *([1] * (x.dim() - 2)))
    if isinstance(m, nn.LayerNorm):
        dims = tuple(range(x.dim() - len(m.normalized_shape), x.dim()))
        inv = torch.rsqrt(x.var(dim=dims, unbiased=False, keepdim=True) + m.eps)
        if m.weight is not None:
            inv = inv * m.weight.detach().to(x.dtype)
        return inv
    if isinstance(m, nn.modules.instancenorm._InstanceNorm):
        dims = tuple(range(2, x.dim()))
        inv = torch.rsqrt(x.var(dim=dims, unbiased=False, keepdim=True) + m.eps)
        if m.weight is not None:
            inv = inv * m.weight.detach().to(x.dtype).reshape(1, -1, *([1] * (x.dim() - 2)))
        return inv
    raise ConvscopeError(
        f"layer {layer.name!r}: {type(m).__name__} has no frozen-statistics rule; expected "
        "GroupNorm, LayerNorm or InstanceNorm"
    )
