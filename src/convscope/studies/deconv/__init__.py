"""Zeiler & Fergus 2014 (arXiv 1311.2901) §2.1, Fig. 1: deconvnet projections of one run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from convscope.analysis.sanity.methods import strongest_unit_projection
from convscope.analysis.sanity.randomise import fully_randomised
from convscope.analysis.zf.deconvnet import DECONV_CHOICES, Units, project, projection_rules
from convscope.analysis.zf.receptive import receptive_fields
from convscope.studies._zf import _Context, from_info, zf_context
from convscope.studies.base import RunContext, Study, StudyResult, register

RANDOM_WEIGHTS_SEED = 0  # the re-initialisation shown beside the trained projections


@dataclass(frozen=True)
class DeconvOptions:
    layers: tuple[str, ...] | None = None  # default: every conv block's output
    images: int = 4


def _support90(p: torch.Tensor) -> float:
    """Pixels holding 90% of the squared projection (summed over channels): ``(C, H, W)``."""
    e = p.double().pow(2).sum(0).flatten().sort(descending=True).values
    total = float(e.sum())
    if total == 0:
        return 0.0
    return float(int(torch.searchsorted(e.cumsum(0), 0.9 * total)) + 1)


_DECONV_STUDY_CHOICES = {
    **DECONV_CHOICES,
    "unit": "per image and layer, the strongest activation (argmax over maps and positions)",
    "images": "first correctly classified test image of each of the first classes",
    "support90": "fewest pixels holding 90% of the projection's squared values",
    "random_weights": "beside each layer: the same rule (strongest unit) on a copy "
    "with every layer re-initialised by its own reset_parameters after "
    f"torch.manual_seed(s), s derived from the run's training seed and {RANDOM_WEIGHTS_SEED} "
    "and never equal to it (arrays *_projections_random_weights)",
}


def _strongest_units(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per image, the (map, y, x) of the strongest activation; (unit, 0, 0) for flat layers."""
    flat = a.flatten(1).argmax(1)
    if a.dim() == 4:
        h, w = a.shape[2:]
        ch, rem = flat // (h * w), flat % (h * w)
        return ch, rem // w, rem % w
    return flat, torch.zeros_like(flat), torch.zeros_like(flat)


def _deconv_sentence(chain: Any, per_layer: list[dict[str, Any]]) -> str:
    parts = ", ".join(
        f"{chain.said(r['layer'])} {r['mean_support90_px']:.0f} px (receptive field "
        f"{r['receptive_field_px'][0]}x{r['receptive_field_px'][1]})"
        for r in per_layer
    )
    grows = all(
        a["mean_support90_px"] <= b["mean_support90_px"] for a, b in zip(per_layer, per_layer[1:])
    )
    return (
        f"90% of the energy of the strongest unit's projection lies in {parts}; the projected "
        f"structure {'grows' if grows else 'does not grow monotonically'} with depth."
    )


def _deconv(ctx: _Context, layers: Sequence[str] | None, n_images: int) -> StudyResult:
    from convscope.studies.deconv.figures import deconv_figure

    chain = ctx.chain
    idxs = list(dict.fromkeys([*ctx.layer_names(layers), chain.penultimate()]))
    for i in idxs:  # NoDeconvRule in one line before any work: this study is projections
        projection_rules(chain, i)
    picked = ctx.pick(range(min(n_images, len(ctx.classes))))
    raw, labels = ctx.test[0][picked], ctx.test[1][picked]
    x = ctx.normalize(raw.to(ctx.device))
    rfs = receptive_fields(chain, tuple(raw.shape[1:]))
    arrays: dict[str, np.ndarray] = {"image_index": np.array(picked), "labels": labels.numpy()}
    projections, captions, per_layer = {}, {}, []
    with torch.no_grad():
        acts, _ = chain.run(x, taps=idxs, to_end=False)
    for i in idxs:
        name = chain.layers[i].name
        a = acts[i]
        ch, ys, xs = _strongest_units(a)
        units = Units.of(torch.arange(len(picked)), ch.cpu(), ys.cpu(), xs.cpu())
        p = project(chain, x, i, units, block_output=False).float().cpu()
        values = a.flatten(1).max(1).values.float().cpu()
        projections[name] = p
        captions[name] = [
            f"map {int(c)} ({int(y)},{int(xx)})" if a.dim() == 4 else f"unit {int(c)}"
            for c, y, xx in zip(ch, ys, xs)
        ]
        support = [_support90(pi) for pi in p]
        rf = rfs[i]
        per_layer.append(
            {
                "layer": name,
                "display": chain.display(i),
                "projection_rules": projection_rules(chain, i),
                "receptive_field_px": list(rf.size) if not rf.full else list(ctx.hw),
                "mean_support90_px": float(np.mean(support)),
                "mean_activation": float(values.mean()),
            }
        )
        arrays[f"{name}_projections"] = p.numpy()
        arrays[f"{name}_unit"] = np.stack([ch.cpu(), ys.cpu(), xs.cpu()], 1)
        arrays[f"{name}_value"] = values.numpy()
    titles = [f"{ctx.classes[int(c)]} (test {i})" for c, i in zip(labels, picked)]
    # beside each layer, the same rule on the network with every layer re-initialised: a
    # projection that looks alike shows the image, not what was learned (Adebayo et al. 2018)
    from convscope.analysis.sanity.randomise import randomisation_seed

    # never the run's own training seed: that would give the first layer its initial weights
    rseed = randomisation_seed(ctx.rd.config().train.seed, RANDOM_WEIGHTS_SEED)
    rmodel = fully_randomised(ctx.model, rseed)
    shown: dict[str, torch.Tensor] = {}
    for name, p in projections.items():
        rp = strongest_unit_projection(rmodel, x, name, block_output=False).float()
        shown[name], shown[f"{name}, random weights"] = p, rp
        arrays[f"{name}_projections_random_weights"] = rp.numpy()
    figs = [ctx.save(deconv_figure(raw, shown, titles=titles, captions=captions), "zf_deconv")]
    sentence = _deconv_sentence(chain, per_layer)
    ctx.rd.write_npz("analysis/zf_deconv.npz", **arrays)
    info = {
        "observation": sentence,
        "per_layer": per_layer,
        "images": [{"test_index": i, "class": ctx.classes[int(c)]} for i, c in zip(picked, labels)],
        "figures": figs,
        "choices": dict(_DECONV_STUDY_CHOICES),
        **ctx.base_info(),
    }
    return from_info(info)


@register
class Deconv(Study):
    name = "deconv"
    title = "Deconvnet projections"
    paper_section = "Zeiler & Fergus 2014, §2.1, Fig. 1"
    description = "Single activations projected back to pixel space: unpool with the forward pass's switches, rectify, filter with the transposed weights, down to the input."
    order = 30
    reads = ("final checkpoint", "data")
    Options = DeconvOptions

    def run(self, ctx: RunContext, opts: DeconvOptions) -> StudyResult:
        return _deconv(zf_context(ctx), opts.layers, opts.images)
