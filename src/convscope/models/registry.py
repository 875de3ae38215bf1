"""The one registry of built-in model kinds, each with its facts (timm's ``@register_model``).

A kind is its builder and what the rest of convscope needs to know about it, said once here:

* ``recurrent``: reads an image row by row (the report groups such runs, the analyses read its
  hidden states);
* ``bf16``: measured faster in bf16 on a CPU with ``avx512_bf16``, so ``--precision auto`` uses
  it there (:mod:`convscope.train.precision`; docs/precision.md);
* ``bf16_min_hidden``: a recurrent cell is faster in bf16 only from this many hidden units;
* ``cost``: the cost of one training image relative to LeNet5, as ``a + b * (hidden / 256) **
  1.5`` per layer (``a``: the fixed cost of the 28 time steps), for ordering an experiment's
  runs and its ETA (:func:`convscope.experiments.run.image_cost`); ``None``: 1.

Adding a built-in model is one module in this package, one ``@register_model`` on its builder
and a test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

    from convscope.config import ModelConfig

Builder = Callable[["ModelConfig", int, tuple[int, int], int], "nn.Module"]


@dataclass(frozen=True)
class ModelKind:
    name: str
    build: Builder
    recurrent: bool = False
    bf16: bool = False
    bf16_min_hidden: int | None = None
    cost: tuple[float, float] | None = None


KINDS: dict[str, ModelKind] = {}


def register_model(
    name: str,
    *,
    recurrent: bool = False,
    bf16: bool = False,
    bf16_min_hidden: int | None = None,
    cost: tuple[float, float] | None = None,
) -> Callable[[Builder], Builder]:
    """Register ``build(cfg, in_channels, (h, w), num_classes) -> nn.Module`` as kind ``name``."""

    def deco(build: Builder) -> Builder:
        if name in KINDS:
            raise ValueError(f"model kind {name!r} is registered twice")
        KINDS[name] = ModelKind(name, build, recurrent, bf16, bf16_min_hidden, cost)
        return build

    return deco


def kind(name: str) -> ModelKind | None:
    """The built-in kind ``name`` (None for a user's factory)."""
    return KINDS.get(name)


def recurrent_kinds() -> frozenset[str]:
    return frozenset(k for k, v in KINDS.items() if v.recurrent)
