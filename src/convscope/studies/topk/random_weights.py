"""The ``topk`` study's random-weights pass (issue 21): each layer's top-k projections through
the fully randomised model (:mod:`convscope.analysis.zf.topk_random`), their similarity to the
trained ones with a verdict per layer, and one figure."""

from __future__ import annotations

from typing import Any

import numpy as np

from convscope.analysis.sanity.randomise import randomisable_layers
from convscope.analysis.zf.topk import TopK
from convscope.analysis.zf.topk_random import (
    CHOICES,
    RandomTopK,
    layer_summary,
    random_topk,
    random_weights_chain,
    randomisation_seed,
)
from convscope.errors import ConvscopeError
from convscope.studies._zf import _Context
from convscope.studies.base import FigureRef, Verdict

UNITS_SHOWN = 4  # per layer in the figure


class RandomWeightsPass:
    """Built once per ``topk`` run; :meth:`add` each layer's top-k, then :meth:`finish`."""

    def __init__(self, ctx: _Context, seed: int) -> None:
        self.ctx, self.seed = ctx, seed
        self.torch_seed = randomisation_seed(ctx.rd.config().train.seed, seed)
        self.layers: list[tuple[TopK, RandomTopK]] = []
        self.refused: str | None = None
        try:  # a model without any reset_parameters layer: top-k itself still runs
            self.randomised = randomisable_layers(ctx.model)
            self.chain = random_weights_chain(ctx.chain, self.torch_seed)
        except ConvscopeError as e:
            self.refused, self.randomised = str(e), []

    def add(self, t: TopK) -> dict[str, np.ndarray]:
        """Project ``t``'s entries with random weights; its arrays for the study's npz (none
        when ``t`` has no projections: no deconvnet rule)."""
        if t.projection_patches is None or self.refused:
            return {}
        r = random_topk(self.chain, self.ctx.test[0], t, transform=self.ctx.normalize)
        r.projections = r.projections[:0]  # only the patches are kept (memory)
        self.layers.append((t, r))
        return r.arrays(prefix=f"{t.layer}_")

    def finish(self) -> tuple[dict[str, Any], list[FigureRef], dict[str, Verdict]]:
        """The numbers (one new key of the study's JSON), the figure and the verdicts."""
        if not self.layers:
            why = self.refused or "no layer has deconvnet projections"
            return (
                {"seed": self.seed, "per_layer": [], "observation": f"not compared: {why}"},
                [],
                {},
            )
        from convscope.studies.topk.random_figures import (
            LayerRow,
            pick_units,
            random_weights_figure,
        )

        chain = self.ctx.chain
        per_layer, rows, verdicts = [], [], {}
        for t, r in self.layers:
            s = layer_summary(r)
            s["display"] = chain.display(t.layer)
            per_layer.append(s)
            v = s["verdict"]
            verdicts[f"{t.layer}.weights"] = Verdict(
                "not testable"
                if np.isnan(v["value"])
                else "supported"
                if v["passes"]
                else "not supported",
                f"top-{t.values.shape[1]} projections of {chain.said(t.layer)} {v['words']}: "
                f"Spearman rho with fully randomised weights {v['value']:.2f} (|map| "
                f"{_f(s['spearman_abs']['mean'])}, signed {_f(s['spearman']['mean'])}, "
                f"SSIM {_f(s['ssim']['mean'])}; threshold < {v['threshold']})",
            )
            shown = pick_units(t.values.numpy(), UNITS_SHOWN)
            assert t.patches is not None and t.projection_patches is not None
            rows.append(
                LayerRow(
                    title=f"{chain.display(t.layer)}: mean Spearman |map| "
                    f"{_f(s['spearman_abs']['mean'])}, SSIM {_f(s['ssim']['mean'])}",
                    patches=t.patches[shown, 0].numpy(),
                    trained=t.projection_patches[shown, 0].numpy(),
                    random=r.projection_patches[shown, 0].numpy(),
                    captions=[
                        f"map {int(t.maps[m])}\nrho {_f(r.scores['spearman_abs'][m, 0])}"
                        for m in shown
                    ],
                )
            )
        fig = self.ctx.save(random_weights_figure(rows, self.seed), "zf_topk_random_weights")
        fig = FigureRef(
            fig.path,
            "Top activation per map: trained projection beside the one with random weights",
        )
        words = "; ".join(
            f"at {chain.said(s['layer'])} the projection {s['verdict']['words']} "
            f"(rho {s['verdict']['value']:.2f})"
            for s in per_layer
        )
        numbers = {
            "seed": self.seed,
            "torch_seed": self.torch_seed,
            "layers_randomised": self.randomised,
            "per_layer": per_layer,
            "observation": "With every layer re-initialised (same images, positions and seed "
            f"values), each layer's top-k projections were compared with the trained ones: {words}.",
            "choices": CHOICES,
        }
        return numbers, [fig], verdicts


def _f(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{v:.2f}"
