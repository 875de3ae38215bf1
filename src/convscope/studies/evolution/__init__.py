"""Zeiler & Fergus 2014 (arXiv 1311.2901) §4, Fig. 4: feature evolution during training of one run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from convscope.analysis.zf.deconvnet import DECONV_CHOICES
from convscope.analysis.zf.evolution import feature_evolution_of_layers, settle_steps
from convscope.errors import ConvscopeError
from convscope.studies._zf import CITATION, _Context, from_info, zf_context
from convscope.studies.base import RunContext, Study, StudyResult, register


@dataclass(frozen=True)
class EvolutionOptions:
    layers: tuple[str, ...] | None = None
    maps: int = 16  # maps shown per layer
    max_checkpoints: int = 12
    # searched at every checkpoint: the whole training split (0), or a seeded sample of this
    # many of its images (its cost is one forward pass per image and checkpoint)
    train_images: int = 0
    seed: int = 0  # draws that sample

    def __post_init__(self) -> None:
        if self.train_images < 0:
            raise ValueError(
                "option train_images: expected 0 (the whole training split) or a positive "
                f"number of images, got {self.train_images}"
            )


def _layer_row(ev: Any, steps: list[int]) -> dict[str, Any]:
    """One layer's settle numbers: when each active map's strongest image stops changing."""
    alive = ev.values[:, -1] > 0  # dead maps tie at 0: their "top image" means nothing
    img = ev.image_index[alive]  # (M', S)
    changed = img[:, 1:] != img[:, :-1]  # (M', S-1)
    settled_or_not = settle_steps(img, steps)  # None: still changing at the last step
    settle = [s for s in settled_or_not if s is not None]
    stable_last = float((~changed[:, -1]).double().mean()) if changed.numel() else float("nan")
    return {
        "layer": ev.layer,
        "maps": int(ev.image_index.shape[0]),
        "maps_active_at_the_end": int(alive.sum()),
        "median_settle_step": float(np.median(settle)) if settle else None,
        "mean_settle_step": float(np.mean(settle)) if settle else None,
        "maps_settled": len(settle),
        "maps_still_changing": len(settled_or_not) - len(settle),
        "share_same_top_image_last_two_checkpoints": stable_last,
    }


def _evolution_sentence(ctx: _Context, steps: list[int], per_layer: list[dict[str, Any]]) -> str:
    known = [r for r in per_layer if r["median_settle_step"] is not None]
    parts = ", ".join(
        f"{ctx.chain.said(r['layer'])} at step {r['median_settle_step']:.0f} ({r['maps_settled']} maps; "
        f"{r['maps_still_changing']} still changing at the last checkpoint)"
        for r in known
    )
    changing = [r for r in per_layer if r["median_settle_step"] is None]
    if changing:
        parts += ("; " if parts else "") + ", ".join(
            f"{ctx.chain.said(r['layer'])}: every active map still changing at the last checkpoint"
            for r in changing
        )
    if len(steps) < 3 or len(known) < 2:
        verdict = "too few checkpoints or active maps to compare layers"
    elif all(a["median_settle_step"] <= b["median_settle_step"] for a, b in zip(known, known[1:])):
        verdict = "lower layers settle no later than higher ones"
    else:
        verdict = "a lower layer settles later than a higher one"
    return (
        f"Across {len(steps)} checkpoints (steps {steps[0]}..{steps[-1]}), the strongest "
        f"training image of an active map stops changing (median over maps) for {parts}: "
        f"{verdict}."
    )


def training_sample(n: int, size: int, seed: int) -> torch.Tensor | None:
    """Indices of a seeded sample of ``size`` of ``n`` training images, in index order; None
    for the whole split (``size`` 0, or at least ``n``)."""
    if size < 0:
        raise ConvscopeError(f"evolution: train_images must be 0 (all) or positive, got {size}")
    if size == 0 or size >= n:
        return None
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[:size].sort().values


def _evolution(ctx: _Context, layers: Sequence[str] | None, opts: EvolutionOptions) -> StudyResult:
    from convscope.studies.evolution.figures import evolution_grid

    steps = ctx.rd.checkpoint_steps()
    if not steps:
        raise ConvscopeError(f"{ctx.rd.checkpoint_dir}: no step_*.pt snapshots for evolution")
    show_maps, max_checkpoints = opts.maps, opts.max_checkpoints
    if len(steps) > max_checkpoints:  # keep the first and last, spread the rest
        pick = np.unique(np.round(np.linspace(0, len(steps) - 1, max_checkpoints)).astype(int))
        steps = [steps[i] for i in pick]
    images = ctx.dataset.train.images
    n_train = len(images)
    sample = training_sample(n_train, opts.train_images, opts.seed)
    if sample is not None:
        images = images[sample]
    arrays: dict[str, np.ndarray] = {"steps": np.array(steps)}
    per_layer, figs = [], []

    def load(step: int) -> nn.Module:
        return ctx.rd.load_model(step, device=ctx.device)

    names = [ctx.chain.layers[i].name for i in ctx.layer_names(layers)]
    evolutions = feature_evolution_of_layers(steps, load, images, names, transform=ctx.normalize)
    for ev in evolutions:
        if sample is not None:  # indices into the training split, not into the sample
            ev.image_index = sample[ev.image_index]
        arrays.update(ev.arrays(prefix=f"{ev.layer}_"))
        per_layer.append(_layer_row(ev, steps))
        order = torch.argsort(ev.values[:, -1], descending=True, stable=True)[:show_maps]
        order = order.sort().values
        fig = evolution_grid(
            ev.projections[order],
            steps,
            maps=ev.maps[order].tolist(),
            title=f"{ctx.chain.display(ev.layer)}: strongest training activation per map across "
            "checkpoints",
        )
        figs.append(ctx.save(fig, f"zf_evolution_{ev.layer}"))
    sentence = _evolution_sentence(ctx, steps, per_layer)
    ctx.rd.write_npz("analysis/zf_evolution.npz", **arrays)
    info = {
        "observation": sentence,
        "steps": steps,
        "per_layer": per_layer,
        "figures": figs,
        "choices": {
            "source": f"{CITATION}, section 4 (Feature Evolution during Training), Fig. 4",
            "split": f"the whole training split ({n_train} images)"
            if sample is None
            else f"{len(images)} of the {n_train} training images, drawn without replacement "
            f"with seed {opts.seed} (option train_images; image_index counts in the whole split)",
            "checkpoints": f"the run's step_*.pt snapshots (at most {max_checkpoints}, evenly "
            "spread, first and last kept)",
            "settle_step": "first checkpoint from which a map's strongest training image stays "
            "the same to the end; a map whose image changes between the last two checkpoints "
            "is 'still changing' (counted, no settle step); maps inactive (max <= 0) at the "
            "last checkpoint are left out",
            "figure_maps": f"the {show_maps} maps with the strongest final activation, in map "
            "order",
            "deconv": DECONV_CHOICES,
        },
        **ctx.base_info(),
    }
    return from_info(info)


@register
class Evolution(Study):
    name = "evolution"
    title = "Feature evolution during training"
    paper_section = "Zeiler & Fergus 2014, §4, Fig. 4"
    description = (
        "The strongest activation of each map, projected, at several checkpoints of training."
    )
    order = 50
    reads = ("final checkpoint", "data")
    Options = EvolutionOptions

    def run(self, ctx: RunContext, opts: EvolutionOptions) -> StudyResult:
        return _evolution(zf_context(ctx), opts.layers, opts)
