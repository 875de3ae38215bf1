"""Zeiler & Fergus 2014 (arXiv 1311.2901) §4, Fig. 5: invariance to translation, scale and rotation of one run."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convscope.studies._zf import _Context, from_info, zf_context
from convscope.studies.base import RunContext, Study, StudyResult, register
from convscope.studies.invariance.compute import invariance_curves, invariance_summary


@dataclass(frozen=True)
class InvarianceOptions:
    per_class: int = 5
    show: int = 5


def _invariance(ctx: _Context, per_class: int, n_show: int) -> StudyResult:
    from convscope.studies.invariance.figures import invariance_figure

    n_cls = len(ctx.classes)
    picked = ctx.pick(range(n_cls), per_class=per_class)
    # the figure shows one image of each of the first n_show classes
    show_rows = [picked.index(i) for i in ctx.pick(range(min(n_show, n_cls)))]
    images, labels = ctx.test
    inv = invariance_curves(
        ctx.chain, images[picked], labels[picked], fill=ctx.fill, transform=ctx.normalize
    )
    curves_show = {k: {n: v[show_rows] for n, v in c.items()} for k, c in inv.curves.items()}
    fig = invariance_figure(
        inv.params,
        curves_show,
        low_layer=inv.low_layer,
        high_layer=inv.high_layer,
        labels=[int(labels[picked[r]]) for r in show_rows],
        classes=ctx.classes,
    )
    figs = [ctx.save(fig, "zf_invariance")]
    summary = invariance_summary(inv, ctx.chain.said)
    ctx.rd.write_npz(
        "analysis/zf_invariance.npz", test_index=np.array(picked), shown_rows=np.array(show_rows),
        **inv.arrays(),
    )  # fmt: skip
    summary.pop("params", None)
    info = {
        "observation": summary.pop("observation"),
        **summary,
        "figures": figs,
        "choices": {
            **summary.pop("choices"),
            "observation_uses": summary.pop("observation_uses"),
            "images": f"per class, the first {per_class} correctly classified test images "
            f"({len(picked)} in all) for the numbers; the figure shows one image of each of "
            f"the first {len(show_rows)} classes",
            "fill_is": "the training set's mean pixel, normalised like the model's input",
            "params": {k: v.tolist() for k, v in inv.params.items()},
        },
        **ctx.base_info(),
    }
    return from_info(info)


@register
class Invariance(Study):
    name = "invariance"
    title = "Invariance to translation, scale and rotation"
    paper_section = "Zeiler & Fergus 2014, §4, Fig. 5"
    description = "Distance between the feature vectors of original and transformed images at a low and a high layer, and the true-class probability, as the transformation grows."
    order = 70
    reads = ("final checkpoint", "data")
    Options = InvarianceOptions

    def run(self, ctx: RunContext, opts: InvarianceOptions) -> StudyResult:
        return _invariance(zf_context(ctx), opts.per_class, opts.show)
