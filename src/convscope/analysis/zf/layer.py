"""One layer of the traced graph (:class:`Layer`), the kinds of layer the analyses know, how a
reader sees a layer's name, and what a recorded forward pass keeps (:class:`ForwardRecord`).

:mod:`convscope.analysis.zf.graph` builds and runs the :class:`~convscope.analysis.zf.graph.Chain`
of these layers, and re-exports every name here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from convscope.analysis.zf.kinds import RECTIFIER_NAMES, module_text

CONV, RELU, MAXPOOL, AVGPOOL, BN, DROPOUT, FLATTEN, LINEAR = (
    "conv",
    "relu",
    "maxpool",
    "avgpool",
    "bn",
    "dropout",
    "flatten",
    "linear",
)
LEAKYRELU, ADAPTIVEAVG, ADAPTIVEMAX, ADD, CAT = (
    "leakyrelu",
    "adaptiveavgpool",
    "adaptivemaxpool",
    "add",
    "cat",
)
ACT, NORM, SCALE, RECURRENT, OP, VALUE = ("act", "norm", "scale", "recurrent", "op", "value")
KINDS = (CONV, RELU, MAXPOOL, AVGPOOL, BN, DROPOUT, FLATTEN, LINEAR)
KINDS += (LEAKYRELU, ADAPTIVEAVG, ADAPTIVEMAX, ADD, CAT, ACT, NORM, SCALE, RECURRENT, OP, VALUE)
SPATIAL_KINDS = (CONV, MAXPOOL, AVGPOOL, ADAPTIVEAVG, ADAPTIVEMAX)
RECTIFIERS = (RELU, LEAKYRELU)
NONLINEAR = (RELU, LEAKYRELU, ACT)  # a block's output is read after one of these
PASS_THROUGH = (BN, NORM, DROPOUT, SCALE, ADD)  # between a conv and its nonlinearity
SWITCHED = (MAXPOOL, ADAPTIVEMAX)
INPUT = -1  # the index that stands for the model's input in :attr:`Layer.inputs`


@dataclass(frozen=True)
class Ref:
    """In a layer's argument template: its ``k``-th input value."""

    k: int


@dataclass(frozen=True)
class Attr:
    """In a layer's argument template: the model's parameter or buffer ``name``, read when the
    layer runs (so a loaded checkpoint is seen)."""

    name: str


@dataclass
class Layer:
    """One node of the traced graph.

    Attributes:
        name: the module's qualified name (``"conv1"``, ``"features.0"``) or, for a function
            such as ``F.relu`` or ``+``, the fx node's name (``"relu"``, ``"add_1"``).
        kind: one of :data:`KINDS`.
        module: the ``nn.Module`` for module layers, ``None`` for functions.
        inputs: indices of the layers this one reads, in argument order; :data:`INPUT` is the
            model's input. ``None`` (hand-built chains): the layer before it.
        start_dim: for ``flatten``: the first flattened dimension (always 1 here).
        flat_size: for ``x.view(-1, N)``: the ``N`` each input must flatten to (checked).
        slope: for ``leakyrelu``: the negative slope.
        op: the nonlinearity's canonical name (``"gelu"``) for ``relu``/``leakyrelu``/``act``;
            the function's name for ``op`` and ``value`` layers.
        scale: for ``scale``: the factor.
        fn: for function layers run from a template: the callable.
        args, kwargs: the call's arguments, inputs as :class:`Ref`, parameters as
            :class:`Attr` (``None``: the layer's inputs in order).
        inplace: the op overwrites its first input in the model (run on a copy here).
        pointwise: each output position reads only the same position of its inputs (the
            receptive field passes through).
    """

    name: str
    kind: str
    module: nn.Module | None = None
    start_dim: int = 1
    flat_size: int | None = None
    inputs: tuple[int, ...] | None = None
    slope: float = 0.0
    op: str = ""
    scale: float = 1.0
    fn: Callable[..., Any] | None = None
    args: tuple[Any, ...] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    inplace: bool = False
    pointwise: bool = False

    def __repr__(self) -> str:
        return f"Layer({self.name!r}, {self.kind})"

    @property
    def rectifier(self) -> bool:
        """A ReLU-shaped nonlinearity (``f(x) > f(0)`` exactly when ``x > 0``)."""
        return self.kind in RECTIFIERS or (self.kind == ACT and self.op in RECTIFIER_NAMES)


def display_name(layer: Layer) -> str:
    """How a reader sees a layer: ``features.0 (Conv2d 1→24, 3×3)``, ``gelu (gelu, function)``."""
    if layer.module is not None:
        return f"{layer.name} ({module_text(layer.module)})"
    what = layer.op or layer.kind
    return f"{layer.name} ({what}, function)" if what != layer.name else f"{layer.name} (function)"


def reader_name(name: str, module: nn.Module | None = None, what: str = "") -> str:
    """A layer's name in a sentence: a descriptive path (``conv1``, ``layer1.conv2``) as it is;
    a positional one (``features.0``, ``2``) with what the layer is, ``features.0 (Conv2d
    1→24, 3×3)``, so a reader never sees a bare ``0``."""
    if not any(part.isdigit() for part in name.split(".")):
        return name
    if module is not None:
        return f"{name} ({module_text(module)})"
    return f"{name} ({what})" if what else name


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    t = tuple(int(i) for i in v)
    return (t[0], t[0]) if len(t) == 1 else (t[0], t[1])


def conv_padding(conv: nn.Conv2d) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding of a ``Conv2d`` as ``((top, bottom), (left, right))``, resolving ``"same"``."""
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return (0, 0), (0, 0)
        # "same" (stride 1): PyTorch pads total = dilation * (k - 1), the extra one at the end.
        out = []
        for k, d in zip(conv.kernel_size, conv.dilation):
            total = d * (k - 1)
            out.append((total // 2, total - total // 2))
        return out[0], out[1]
    ph, pw = _pair(conv.padding)
    return (ph, ph), (pw, pw)


@dataclass
class ForwardRecord:
    """What one recorded forward pass keeps for the way back down (the deconvnet's input).

    Attributes:
        input_shapes: per layer index run, the shapes of its inputs ``(B, ...)``, in order.
        switches: per max-pool layer index, the argmax indices ``(B, C, H_out, W_out)`` into
            each ``H_in * W_in`` input plane (``return_indices=True``), i.e. the paper's switches.
        outputs: per requested layer index, that layer's output ``(B, ...)``.
        norm_scales: per ``norm`` layer index, the per-image factor ``weight / sigma``
            broadcastable to its output (its statistics frozen at this pass).
    """

    input_shapes: dict[int, list[torch.Size]] = field(default_factory=dict)
    switches: dict[int, torch.Tensor] = field(default_factory=dict)
    outputs: dict[int, torch.Tensor] = field(default_factory=dict)
    norm_scales: dict[int, torch.Tensor] = field(default_factory=dict)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """The model in eval mode within the block, its own mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
