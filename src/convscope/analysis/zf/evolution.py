"""Feature evolution during training (Zeiler & Fergus 2014, §4, "Feature Evolution during
Training", Fig. 4).

At each kept checkpoint, for each map of a layer, the strongest activation over the *training*
set (one image per map: k = 1 of :func:`~convscope.analysis.zf.topk.topk_per_map`), projected to
pixel space with the deconvnet. One grid per layer: rows are maps, columns checkpoints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from convscope.analysis.zf._common import FORWARD_BATCH, Transform
from convscope.analysis.zf.topk import Maxima, TopK, topk_per_map
from convscope.errors import ConvscopeError

log = logging.getLogger(__name__)


@dataclass
class Evolution:
    """Per map and checkpoint, the strongest training activation and its projection.

    Attributes:
        layer: layer read.
        steps: ``(S,)`` training steps of the checkpoints.
        maps: ``(M,)`` map indices (rows of the grid).
        values, image_index, y, x: ``(M, S)``.
        projections: ``(M, S, C, H, W)``.
    """

    layer: str
    steps: torch.Tensor
    maps: torch.Tensor
    values: torch.Tensor
    image_index: torch.Tensor
    y: torch.Tensor
    x: torch.Tensor
    projections: torch.Tensor | None

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        names = ("steps", "maps", "values", "image_index", "y", "x", "projections")
        return {prefix + n: getattr(self, n).numpy() for n in names if getattr(self, n) is not None}


def feature_evolution(
    steps: Sequence[int],
    load_model: Callable[[int], nn.Module],
    images: torch.Tensor,
    layer: str | int,
    *,
    maps: Sequence[int] | None = None,
    transform: Transform | None = None,
    batch_size: int = FORWARD_BATCH,
    block_output: bool = True,
    device: str | torch.device | None = None,
    with_projections: bool = True,
) -> Evolution:
    """Strongest activation per map at each checkpoint, projected (Fig. 4).

    Args:
        steps: checkpoint steps, in the order of the grid's columns.
        load_model: step -> model (e.g. ``RunDir.load_model``); loaded one at a time.
        images: ``(N, C, H, W)`` the training split (uint8 with ``transform``, or float).
        layer, maps, transform, batch_size, block_output, device: as in
            :func:`~convscope.analysis.zf.topk.topk_per_map`.
    """
    return feature_evolution_of_layers(
        steps,
        load_model,
        images,
        [layer],
        maps=maps,
        transform=transform,
        batch_size=batch_size,
        block_output=block_output,
        device=device,
        with_projections=with_projections,
    )[0]


def feature_evolution_of_layers(
    steps: Sequence[int],
    load_model: Callable[[int], nn.Module],
    images: torch.Tensor,
    layers: Sequence[str | int],
    *,
    maps: Sequence[int] | None = None,
    transform: Transform | None = None,
    batch_size: int = FORWARD_BATCH,
    block_output: bool = True,
    device: str | torch.device | None = None,
    with_projections: bool = True,
    known: dict[int, dict[int, Maxima]] | None = None,
) -> list[Evolution]:
    """:func:`feature_evolution` of several layers, in their order: each checkpoint is loaded
    once and the images go through it once for all the layers. With ``with_projections``,
    :class:`~convscope.analysis.zf.deconvnet.NoDeconvRule` before any work when a layer has no
    projection rule; without, the strongest images only (``projections`` is ``None``).

    ``known`` maps a step to per-image maxima of these ``images`` already taken on that
    checkpoint (by :func:`~convscope.analysis.zf.topk.max_per_map_of_layers`, keyed by chain
    index, with the same transform and batch size): that step's pass is not run again."""
    from convscope.analysis.zf._common import chain_on
    from convscope.analysis.zf.topk import max_per_map_of_layers

    if not steps:
        raise ConvscopeError("steps: expected at least one checkpoint step")
    if not layers:
        raise ConvscopeError("layers: expected at least one layer")
    cols: list[list[TopK]] = [[] for _ in layers]
    from convscope.analysis.zf.deconvnet import projection_rules

    for step in steps:
        chain = chain_on(load_model(int(step)), device)
        idxs = [chain.resolve(ly, block_output) for ly in layers]
        for idx in idxs if with_projections else ():  # NoDeconvRule in one line, before work
            projection_rules(chain, idx)
        given = (known or {}).get(int(step), {})
        if all(i in given for i in idxs):
            maxima = given
        else:
            maxima = max_per_map_of_layers(
                chain, images, idxs, transform=transform, batch_size=batch_size, block_output=False
            )
        for col, idx in zip(cols, idxs):
            t = topk_per_map(
                chain,
                images,
                idx,
                k=1,
                maps=maps,
                transform=transform,
                batch_size=batch_size,
                block_output=False,
                with_patches=False,
                with_projections=with_projections,
                maxima=maxima[idx],
            )
            log.info("evolution: step %d, layer %s", step, t.layer)
            col.append(t)
    return [_stack(steps, col) for col in cols]


def _stack(steps: Sequence[int], cols: list[TopK]) -> Evolution:
    projected = all(t.projections is not None for t in cols)

    def stack(attr: str) -> torch.Tensor:
        return torch.cat([getattr(t, attr) for t in cols], dim=1)

    return Evolution(
        layer=cols[0].layer,
        steps=torch.as_tensor(list(steps), dtype=torch.int64),
        maps=cols[0].maps,
        values=stack("values"),
        image_index=stack("image_index"),
        y=stack("y"),
        x=stack("x"),
        projections=torch.stack([t.projections[:, 0] for t in cols], dim=1)  # type: ignore[index]
        if projected
        else None,
    )


def settle_steps(image_index: torch.Tensor, steps: Sequence[int]) -> list[int | None]:
    """Per map (row of ``(M, S)`` top-image indices over checkpoints ``steps``), the first
    checkpoint step from which its strongest image stays the same to the end; ``None`` for a
    map whose strongest image still changes between the last two checkpoints ("still
    changing": nothing says it has settled)."""
    if image_index.shape[1] != len(steps):
        raise ConvscopeError(f"settle_steps: {image_index.shape[1]} columns but {len(steps)} steps")
    out: list[int | None] = []
    for row in image_index:
        changed = torch.nonzero(row[1:] != row[:-1]).flatten()
        if len(changed) and int(changed[-1]) == len(steps) - 2:
            out.append(None)
        else:
            out.append(int(steps[int(changed[-1]) + 1]) if len(changed) else int(steps[0]))
    return out
