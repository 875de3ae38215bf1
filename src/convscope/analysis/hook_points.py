"""Where a model's layer activations are taken, read from the one layer graph.

:func:`find_hook_points` reads the traced graph (:mod:`convscope.analysis.zf.graph`): for each
convolution, linear layer and recurrent cell in execution order, the activations are taken
after its nonlinearity -- the first elementwise nonlinearity (ReLU, GELU, SiLU, Tanh, ...,
module or function) that follows it through normalisation, scaling, dropout and residual adds
(:meth:`~convscope.analysis.zf.graph.Chain.resolve`) -- else at the layer's own output. On a
graph with skips, a rectifier shared by two layers (a projection shortcut and the block's last
conv) is measured once, for the first of them. The model's output is the logits. Points are
named by graph layer names (module paths such as ``relu1`` or ``features.2``, fx names such as
``gelu`` for functions); the TensorBoard tags keep the display names ``Layer_1_Activations``,
..., ``Logits``. Recurrent cells are measured on their top layer's output sequence
``(B, T, H)``.

A dead unit (:data:`DEAD_RULES`): after a rectifier, one whose output never rises above
``f(0)`` (its pre-activation is never positive); anywhere else, one whose output is the same
value on every image and position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from convscope.analysis.zf.graph import (
    CONV,
    DROPOUT,
    FLATTEN,
    LINEAR,
    NONLINEAR,
    RECURRENT,
    SCALE,
    Chain,
    as_chain,
    eval_mode,
)
from convscope.analysis.zf.kinds import f_of_zero
from convscope.errors import ConvscopeError

__all__ = ["DEAD_RULES", "HookPoint", "capture", "eval_mode", "find_hook_points", "take"]

DEAD_RULES = {
    "rectifier": "after a ReLU-shaped nonlinearity (ReLU, leaky ReLU, PReLU, ReLU6, GELU, SiLU, "
    "Mish, Hardswish, ELU, CELU, SELU, Softplus): the unit's output never rises above f(0) "
    "on any image and position, i.e. its pre-activation is never positive (for ReLU: never "
    "above 0)",
    "constant": "after any other nonlinearity, or none: the unit's output is the same value "
    "(max - min <= 1e-6 * max(1, |max|)) on every image and position",
}


@dataclass(frozen=True)
class HookPoint:
    """Where one layer's activations are taken.

    Attributes:
        name: the display name (TensorBoard tag): ``Layer_<i>_Activations`` or ``Logits``.
        layer: graph name of the conv/linear/recurrent layer (``"conv1"``, ``"features.0"``).
        module: graph name of the layer whose output is taken (``"relu1"``, ``"gelu"``).
        call: always 0 (kept for old records: one graph layer per call).
        kind: ``"conv"``, ``"linear"``, ``"recurrent"`` or ``"logits"``.
        after: the nonlinearity taken after the layer (``"ReLU"``, ``"gelu (function)"``) or
            ``"none"``.
        index: the graph index of ``module``.
        dead_rule: ``"rectifier"`` or ``"constant"`` (:data:`DEAD_RULES`).
        threshold: ``f(0)`` for the rectifier rule (0.0 otherwise).
    """

    name: str
    layer: str
    module: str
    call: int
    kind: str
    after: str
    index: int = -1
    dead_rule: str = "constant"
    threshold: float = 0.0


def _logits_source(chain: Chain) -> int:
    """The layer whose output reaches the model output through scaling, dropout or flatten
    only (the classifier head's last linear layer, say); the output itself otherwise."""
    j = chain.output
    while chain.layers[j].kind in (SCALE, DROPOUT, FLATTEN) and len(chain.inputs_of(j)) == 1:
        k = chain.inputs_of(j)[0]
        if k < 0 or len(chain.users[k]) != 1:
            break
        j = k
    return j


def find_hook_points(model: nn.Module | Chain, example: Any = None) -> list[HookPoint]:
    """The layers to measure and where their activations are taken (module docstring).

    Args:
        model: a model ``torch.fx`` can trace, or its :class:`Chain`.
        example: unused (kept for callers that pass a batch).
    """
    chain = as_chain(model)
    head = _logits_source(chain)
    points: list[HookPoint] = []
    taken: set[int] = set()
    for i, ly in enumerate(chain.layers):
        if ly.kind not in (CONV, LINEAR, RECURRENT) or i == head:
            continue
        kind = {CONV: "conv", LINEAR: "linear", RECURRENT: "recurrent"}[ly.kind]
        j = chain.resolve(i) if ly.kind != RECURRENT else i
        if j in taken or chain.layers[j].kind not in NONLINEAR:
            j = i
        taken.add(j)
        target = chain.layers[j]
        after, rule, f0 = "none", "constant", 0.0
        if j != i:
            m = target.module
            after = type(m).__name__ if m is not None else f"{target.op} (function)"
            if target.rectifier:
                rule, f0 = "rectifier", f_of_zero(target.op, m)
        n = len(points) + 1
        points.append(
            HookPoint(f"Layer_{n}_Activations", ly.name, target.name, 0, kind, after, j, rule, f0)
        )
    out = chain.layers[chain.output]
    head_name = chain.layers[head].name
    points.append(HookPoint("Logits", head_name, out.name, 0, "logits", "none", chain.output))
    return points


def take(value: Any, chain: Chain, p: HookPoint) -> torch.Tensor:
    """The activations of point ``p`` from its graph layer's output ``value``: a recurrent
    cell's ``(output, state)`` gives its output, batch first ``(B, T, H)``."""
    if p.kind == "recurrent":
        m = chain.layers[p.index].module
        t = value[0] if isinstance(value, (tuple, list)) else value
        if isinstance(m, nn.RNNBase) and not m.batch_first:
            t = t.transpose(0, 1)
        return t
    if not isinstance(value, torch.Tensor):
        raise ConvscopeError(
            f"activations: layer {p.module!r} returns {type(value).__name__}; expected a tensor"
        )
    return value


def capture(
    model: nn.Module | Chain, x: torch.Tensor, points: list[HookPoint]
) -> dict[str, torch.Tensor]:
    """Run the graph on ``x`` (eval mode, no grad) and return each point's output.

    Returns:
        ``{point.name: tensor}``, e.g. ``(B, C, H, W)`` for conv layers, ``(B, U)`` for linear
        ones, ``(B, T, H)`` for recurrent ones.
    """
    chain = as_chain(model)
    with torch.no_grad():  # the graph runs in eval mode itself
        taps, _ = chain.run(x, [p.index for p in points], to_end=False)
    return {p.name: take(taps[p.index], chain, p) for p in points}
