"""Zeiler & Fergus 2014 (arXiv 1311.2901) §4, Fig. 2: top-9 activations per feature map of one run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from convscope.analysis.zf.deconvnet import DECONV_CHOICES
from convscope.analysis.zf.topk import TopK, class_purity, topk_per_map
from convscope.studies._zf import CITATION, _Context, from_info, zf_context
from convscope.studies.base import FigureRef, RunContext, Study, StudyResult, register
from convscope.studies.topk.random_weights import RandomWeightsPass


@dataclass(frozen=True)
class TopkOptions:
    layers: tuple[str, ...] | None = None
    k: int = 9  # images per map (9 in the paper)
    random_seed: int = 0  # the re-initialisation the projections are compared with (issue 21)


def _chance_purity(labels: torch.Tensor, k: int, draws: int = 2000, seed: int = 0) -> float:
    """Expected share of the most common class among ``k`` images drawn without replacement."""
    rng = np.random.default_rng(seed)
    lab = labels.numpy()
    picks = np.stack([rng.choice(len(lab), size=k, replace=False) for _ in range(draws)])
    counts = np.apply_along_axis(lambda r: np.bincount(lab[r]).max(), 1, picks)
    return float(counts.mean() / k)


def _layer_row(ctx: _Context, t: TopK, note: Any, labels: torch.Tensor) -> dict[str, Any]:
    """One layer's numbers in ``per_layer``."""
    alive = t.values[:, 0] > 0
    purity_all, eligible = class_purity(t.values, t.image_index, labels)
    purity = purity_all[eligible]
    dead = int((~alive).sum())
    return {
        "layer": t.layer,
        "display": ctx.chain.display(t.layer),
        "maps": int(t.values.shape[0]),
        "projection": note if isinstance(note, str) else "deconvnet",
        "projection_rules": note.get("rules", {}) if isinstance(note, dict) else {},
        "receptive_field_px": t.receptive_field["size"]
        if not t.receptive_field["full"]
        else list(ctx.hw),
        "mean_top1_activation": float(t.values[:, 0].mean()),
        "maps_never_active": dead,
        "maps_with_k_positive": int(eligible.sum()),
        "mean_class_purity": float(purity.mean()) if len(purity) else None,
    }


def _layer_figure(ctx: _Context, t: TopK, k: int, rf_px: Any) -> FigureRef:
    """Fig. 2 of one layer, saved; its record."""
    from convscope.studies.topk.figures import topk_grid

    fig = topk_grid(
        t.projection_patches,
        t.patches,
        maps=t.maps.tolist(),
        values=t.values[:, 0],  # dead maps listed, live ones drawn strongest first
        title=f"{ctx.chain.display(t.layer)}: top {k} test activations per map (receptive field "
        f"{rf_px[0]} px)",
    )
    return ctx.save(fig, f"zf_topk_{t.layer}")


def _sentence(ctx: _Context, per_layer: list[dict[str, Any]], k: int, chance: float) -> str:
    """The observation: how class-specific the layers' top images are, against chance."""
    known = [r for r in per_layer if r["mean_class_purity"] is not None]
    parts = ", ".join(
        f"{ctx.chain.said(r['layer'])} {100 * r['mean_class_purity']:.1f}% ({r['maps_with_k_positive']}"
        f" of {r['maps']} maps with {k} positive activations)"
        for r in known
    )
    rising = all(a["mean_class_purity"] <= b["mean_class_purity"] for a, b in zip(known, known[1:]))
    return (
        f"The {k} strongest test images of a map share their most common class {parts} "
        f"of the time (chance {100 * chance:.1f}%): maps become "
        f"{'more' if rising else 'not steadily more'} class-specific with depth."
        if known
        else f"No map of {', '.join(ctx.chain.said(r['layer']) for r in per_layer)} is ever active on the test "
        "split."
    )


def _choices(n_test: int) -> dict[str, Any]:
    """The study's recorded choices."""
    return {
        "source": f"{CITATION}, section 4 (Feature Visualization), Fig. 2",
        "split": f"the whole test split ({n_test} images)",
        "per_image_activation": "max over positions; the k images per map are distinct",
        "ties": "equal maxima: in a fixed random order of the test images",
        "figure": "projections cut to the receptive field (grey = 0) next to the patches",
        "class_purity": "share of the k images in their most common class; chance by "
        "drawing k test images at random (2000 draws, seed 0)",
        "maps_never_active": "maps whose strongest test activation is <= 0",
        "class_purity_maps": "only maps whose k strongest test activations are all "
        "positive (a tie among zeros is not a preference for those images)",
        "deconv": DECONV_CHOICES,
    }


def _topk(ctx: _Context, layers: Sequence[str] | None, k: int, seed: int = 0) -> StudyResult:
    images, labels = ctx.test
    arrays: dict[str, np.ndarray] = {}
    per_layer, figs, refusals = [], [], []
    idxs = [ctx.chain.resolve(i, True) for i in ctx.layer_names(layers)]
    # one pass over the test images for every layer's per-image maxima
    maxima = ctx.test_maxima(idxs)
    rw = RandomWeightsPass(ctx, seed)  # the same projections with random weights
    for i in idxs:
        t = topk_per_map(
            ctx.chain, images, i, k=k, transform=ctx.normalize, block_output=False, maxima=maxima[i]
        )
        note = t.choices.get("projection")
        if isinstance(note, str):
            refusals.append(note)
        arrays.update(t.arrays(prefix=f"{t.layer}_"))
        arrays.update(rw.add(t))
        per_layer.append(_layer_row(ctx, t, note, labels))
        figs.append(_layer_figure(ctx, t, k, per_layer[-1]["receptive_field_px"]))
    chance = _chance_purity(labels, k)
    refused = sorted({str(r) for r in refusals})
    sentence = _sentence(ctx, per_layer, k, chance)
    rw_numbers, rw_figs, rw_verdicts = rw.finish()
    figs += rw_figs
    ctx.rd.write_npz("analysis/zf_topk.npz", **arrays)
    info = {
        "observation": sentence,
        "observations": [f"Patches only: {r}" for r in refused],
        "per_layer": per_layer,
        "chance_class_purity": chance,
        "split": "test",
        "k": k,
        "random_weights": rw_numbers,
        "figures": figs,
        "choices": _choices(len(labels)),
        **ctx.base_info(),
    }
    result = from_info(info)
    result.verdicts.update(rw_verdicts)
    return result


@register
class Topk(Study):
    name = "topk"
    title = "Top-9 activations per feature map"
    paper_section = "Zeiler & Fergus 2014, §4, Fig. 2"
    description = "For each feature map, the 9 strongest activations over the test split (9 distinct images), each with its projection and the image patch of its receptive field."
    order = 40
    reads = ("final checkpoint", "data")
    Options = TopkOptions

    def run(self, ctx: RunContext, opts: TopkOptions) -> StudyResult:
        return _topk(zf_context(ctx), opts.layers, opts.k, opts.random_seed)
