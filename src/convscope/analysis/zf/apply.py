"""Running one layer of a traced graph (:class:`convscope.analysis.zf.graph.Chain`) with eval
semantics: the layer kinds convscope knows run as plain torch calls of their own (batch norm
from its running statistics, ReLU and adds out of place, max-pool with its switches on
request); any other layer runs its module, or its function with the traced arguments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx.node import map_aggregate

from convscope.analysis.zf.layer import (
    ACT,
    ADAPTIVEMAX,
    ADD,
    BN,
    CAT,
    DROPOUT,
    FLATTEN,
    LEAKYRELU,
    MAXPOOL,
    NORM,
    OP,
    RECURRENT,
    RELU,
    SCALE,
    VALUE,
    Attr,
    Layer,
    Ref,
)
from convscope.errors import ConvscopeError

# kinds :func:`apply_layer` computes with out-of-place torch calls of its own, whatever the
# model's module does: an in-place ReLU or ``+=`` needs no copy of its input here
_OUT_OF_PLACE = frozenset((ADD, CAT, RELU, LEAKYRELU, DROPOUT, SCALE, FLATTEN, BN, MAXPOOL))


def get_attr(model: nn.Module, name: str) -> Any:
    """``model``'s attribute at the dotted path ``name`` (a parameter a traced call names)."""
    obj: Any = model
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _fill(
    model: nn.Module, layer: Layer, xs: Sequence[Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The layer's call arguments: its template with inputs and parameters filled in."""
    if layer.args is None:
        return tuple(xs), {}

    def fill(a: Any) -> Any:
        if isinstance(a, Ref):
            return xs[a.k]
        if isinstance(a, Attr):
            return get_attr(model, a.name)
        return a

    return map_aggregate(layer.args, fill), map_aggregate(layer.kwargs, fill)  # type: ignore[return-value]


def apply_layer(chain: Any, i: int, xs: Sequence[Any], with_indices: bool = False) -> Any:
    """Run layer ``i`` of ``chain`` on its inputs ``xs`` with eval semantics. For max-pool
    with ``with_indices``, return ``(output, switches)``."""
    layer = chain.layers[i]
    kind, m = layer.kind, layer.module
    if layer.inplace and kind not in _OUT_OF_PLACE and xs and isinstance(xs[0], torch.Tensor):
        xs = [xs[0].clone(), *xs[1:]]  # the module (or function) would overwrite its input
    if kind == ADD:
        if any(t.shape != xs[0].shape for t in xs):
            raise ConvscopeError(
                f"layer {layer.name!r}: adds {[tuple(t.shape) for t in xs]}; expected "
                "equal shapes (no broadcasting)"
            )
        out = xs[0]
        for t in xs[1:]:
            out = out + t
        return out
    if kind == CAT:
        return torch.cat(list(xs), dim=1)
    if kind in (OP, VALUE, ACT, RECURRENT) or (kind == NORM and layer.args is not None):
        args, kwargs = _fill(chain.model, layer, xs)
        if m is not None:
            return m(*args, **kwargs)
        assert layer.fn is not None
        return layer.fn(*args, **kwargs)
    (x,) = xs
    if kind == RELU:
        return torch.relu(x)
    if kind == LEAKYRELU:
        return F.leaky_relu(x, layer.slope)
    if kind == DROPOUT:
        return x
    if kind == SCALE:
        return x * layer.scale
    if kind == FLATTEN:
        if layer.flat_size is not None and x[0].numel() != layer.flat_size:
            raise ConvscopeError(
                f"layer {layer.name!r}: view(-1, {layer.flat_size}) of a "
                f"{tuple(x.shape[1:])} input would mix images; expected "
                f"{x[0].numel()} features per image"
            )
        return x.flatten(layer.start_dim)
    if kind == BN:
        assert isinstance(m, nn.modules.batchnorm._NormBase)
        return F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)
    if kind == MAXPOOL:
        assert isinstance(m, nn.MaxPool2d)
        return F.max_pool2d(
            x,
            m.kernel_size,
            m.stride,
            m.padding,
            m.dilation,
            ceil_mode=m.ceil_mode,
            return_indices=with_indices,
        )
    if kind == ADAPTIVEMAX:
        assert isinstance(m, nn.AdaptiveMaxPool2d)
        return F.adaptive_max_pool2d(x, m.output_size, return_indices=with_indices)
    assert m is not None
    return m(x)
