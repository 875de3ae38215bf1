"""What each kind of layer is, for the layer graph (:mod:`convscope.analysis.zf.graph`).

One table per question the analyses ask of a layer:

* which elementwise nonlinearities exist, by canonical name (``"gelu"``), as modules and as
  functions or tensor methods;
* which of them are *rectifiers* (output above ``f(0)`` exactly when the input is positive):
  they get the deconvnet's rectifying rule and the "never above f(0)" definition of a dead unit;
* which ops are pointwise (the receptive field passes through them unchanged);
* how a layer is shown to a reader: ``features.0 (Conv2d 1→24, 3×3)``.
"""

from __future__ import annotations

import math
import operator

import torch
import torch.nn.functional as F
from torch import nn

# -- elementwise nonlinearities ------------------------------------------------------------------

#: module class -> canonical name (subclasses match too)
ACTIVATION_MODULES: dict[type[nn.Module], str] = {
    nn.ReLU6: "relu6",
    nn.PReLU: "prelu",
    nn.RReLU: "rrelu",
    nn.ELU: "elu",
    nn.SELU: "selu",
    nn.CELU: "celu",
    nn.GELU: "gelu",
    nn.SiLU: "silu",
    nn.Mish: "mish",
    nn.Sigmoid: "sigmoid",
    nn.Tanh: "tanh",
    nn.Softplus: "softplus",
    nn.Softsign: "softsign",
    nn.Hardtanh: "hardtanh",
    nn.Hardswish: "hardswish",
    nn.Hardsigmoid: "hardsigmoid",
    nn.LogSigmoid: "logsigmoid",
    nn.Tanhshrink: "tanhshrink",
    nn.Threshold: "threshold",
}

#: functional names (``F.gelu``, ``torch.sigmoid``, ``x.tanh()``, in-place ``_`` variants)
ACTIVATION_FUNCTIONS: frozenset[str] = frozenset(
    {"relu6", "elu", "selu", "celu", "gelu", "silu", "mish", "sigmoid", "tanh", "softplus"}
    | {"softsign", "hardtanh", "hardswish", "hardsigmoid", "logsigmoid", "tanhshrink", "prelu"}
    | {"rrelu", "threshold"}
)

#: rectifiers: ``f(x) > f(0)`` exactly when ``x > 0`` (ReLU-shaped)
RECTIFIER_NAMES: frozenset[str] = frozenset(
    {"relu", "leaky_relu", "prelu", "rrelu", "relu6", "elu", "selu", "celu", "gelu", "silu"}
    | {"mish", "hardswish", "softplus"}
)

#: f(0) of each rectifier (0 except softplus: ln 2 / beta)
_F_OF_ZERO = {"softplus": math.log(2.0)}


def activation_name(fn: object) -> str | None:
    """The canonical name of a functional activation (``F.gelu`` -> ``"gelu"``), or ``None``."""
    name = str(getattr(fn, "__name__", "")).removesuffix("_")
    if name == "leaky_relu":
        return None  # its own kind
    return name if name in ACTIVATION_FUNCTIONS else None


def module_activation(m: nn.Module) -> str | None:
    """The canonical name of an activation module, or ``None``."""
    for cls, name in ACTIVATION_MODULES.items():
        if isinstance(m, cls):
            return name
    return None


def f_of_zero(op: str, module: nn.Module | None = None) -> float:
    """``f(0)`` of a rectifier (the threshold of the "never above f(0)" dead-unit rule)."""
    if op == "softplus" and isinstance(module, nn.Softplus):
        return math.log(2.0) / float(module.beta)
    return _F_OF_ZERO.get(op, 0.0)


def dead_rule(op: str) -> str:
    """The definition of a dead unit for a layer measured after ``op`` (``""``: none)."""
    if op in RECTIFIER_NAMES:
        return (
            "rectifier: never above f(0) on any image and position (pre-activation never positive)"
        )
    return "constant: the same value (within 1e-6 relative) on every image and position"


# -- pointwise ops (the receptive field passes through) -------------------------------------------

POINTWISE_FUNCTIONS: frozenset[object] = frozenset(
    {operator.add, operator.sub, operator.mul, operator.truediv, operator.neg, operator.iadd}
    | {operator.imul, operator.isub, operator.itruediv, operator.pow}
    | {torch.add, torch.sub, torch.mul, torch.div, torch.neg, torch.abs, torch.exp, torch.clamp}
    | {torch.sqrt, torch.square, torch.where, torch.maximum, torch.minimum, F.dropout}
)
POINTWISE_METHODS: frozenset[str] = frozenset(
    {"add", "sub", "mul", "div", "neg", "abs", "exp", "clamp", "clamp_", "mul_", "add_"}
    | {"div_", "sub_", "sqrt", "square", "contiguous", "float", "to", "type_as", "clone"}
    | {"detach", "pow"}
)


# -- display -------------------------------------------------------------------------------------


def module_text(m: nn.Module) -> str:
    """``Conv2d 1→24, 3×3, stride 2, groups 24`` / ``Linear 256→10`` / ``GELU`` / ``GroupNorm 4``."""
    cls = type(m).__name__
    if isinstance(m, nn.Conv2d):
        k = m.kernel_size
        parts = [f"{cls} {m.in_channels}→{m.out_channels}", f"{k[0]}×{k[1]}"]
        if tuple(m.stride) != (1, 1):
            parts.append(
                f"stride {m.stride[0]}" if m.stride[0] == m.stride[1] else f"stride {m.stride}"
            )
        if m.groups > 1:
            parts.append("depthwise" if m.groups == m.in_channels else f"groups {m.groups}")
        return ", ".join(parts)
    if isinstance(m, nn.Linear):
        return f"{cls} {m.in_features}→{m.out_features}"
    if isinstance(m, nn.GroupNorm):
        return f"{cls} {m.num_groups} groups"
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return f"{cls} {m.num_features}"
    if isinstance(m, nn.RNNBase):
        return f"{cls} {m.input_size}→{m.hidden_size}"
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k = m.kernel_size
        return f"{cls} {k}×{k}" if isinstance(k, int) else f"{cls} {k[0]}×{k[1]}"
    return cls
