"""Zeiler & Fergus 2014 (arXiv 1311.2901) §4.2, Fig. 7: occlusion sensitivity of one run."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convscope.analysis.zf.occlusion import (
    DEFAULT_SIZE,
    DEFAULT_STRIDE,
    occlusion_maps,
    occlusion_summary,
)
from convscope.studies._zf import _Context, from_info, zf_context
from convscope.studies.base import RunContext, Study, StudyResult, register


@dataclass(frozen=True)
class OcclusionOptions:
    layer: str | None = None  # default: the last conv block
    size: int = DEFAULT_SIZE
    stride: int = DEFAULT_STRIDE
    show: int = 4
    per_class: int = 10


def _occlusion(
    ctx: _Context,
    layer: str | None,
    size: int,
    stride: int,
    n_show: int,
    per_class_stats: int,
) -> StudyResult:
    from convscope.studies.occlusion.figures import occlusion_figure

    n_cls = len(ctx.classes)
    idx = ctx.chain.default_layers()[-1] if layer is None else ctx.chain.resolve(layer)
    stat_idx = ctx.pick(range(n_cls), per_class=per_class_stats)
    show = ctx.pick(range(min(n_show, n_cls)))
    images, labels = ctx.test
    occ = occlusion_maps(
        ctx.chain,
        images[stat_idx],
        labels[stat_idx],
        idx,
        size=size,
        stride=stride,
        fill=ctx.fill,
        transform=ctx.normalize,
    )
    rows = [stat_idx.index(i) for i in show]
    fig = occlusion_figure(
        images[show],
        occ.activation[rows],
        occ.prob_true[rows],
        occ.top_class[rows],
        ys=occ.ys,
        xs=occ.xs,
        size=size,
        labels=labels[show].tolist(),
        classes=ctx.classes,
        map_index=occ.map_index[rows].tolist(),
        layer=occ.layer,
    )
    figs = [ctx.save(fig, "zf_occlusion")]
    summary = occlusion_summary(occ, ctx.hw, ctx.classes)
    ctx.rd.write_npz(
        "analysis/zf_occlusion.npz",
        test_index=np.array(stat_idx),
        shown_rows=np.array(rows),
        **occ.arrays(),
    )
    summary.pop("classes", None)
    summary.pop("clean_prob_true", None)
    summary.pop("min_prob_position_yx", None)
    info = {
        "observation": summary.pop("observation"),
        **summary,
        "clean_accuracy_on_these_images": float(
            (occ.clean_top_class == occ.labels).double().mean()
        ),
        "figures": figs,
        "choices": {
            **summary.pop("choices"),
            "images": f"per class, the first {per_class_stats} correctly classified test images "
            f"({len(stat_idx)} in all) for the numbers; the figure shows the first of each of "
            f"the first {len(show)} classes",
            "fill_is": "the training set's mean pixel, normalised like the model's input",
        },
        **ctx.base_info(),
    }
    return from_info(info)


@register
class Occlusion(Study):
    name = "occlusion"
    title = "Occlusion sensitivity"
    paper_section = "Zeiler & Fergus 2014, §4.2, Fig. 7"
    description = "A grey square slid over the image: the strongest map's total activation, the probability of the true class, and the most probable class at each position."
    order = 60
    reads = ("final checkpoint", "data")
    Options = OcclusionOptions

    def run(self, ctx: RunContext, opts: OcclusionOptions) -> StudyResult:
        return _occlusion(
            zf_context(ctx), opts.layer, opts.size, opts.stride, opts.show, opts.per_class
        )
