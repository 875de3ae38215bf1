"""Can you trust the picture? Sanity checks of the attribution maps of one run.

Adebayo et al. 2018, "Sanity Checks for Saliency Maps" (arXiv 1810.03292): a map that shows
what the network learned must change when the learned weights are replaced by random ones
(model-parameter randomisation, §3.1) and when the network is trained on permuted labels
(data randomisation, §3.2). Petsiuk et al. 2018 (arXiv 1806.07421): removing the pixels a
faithful map ranks first should drop the class probability faster than a random order
(deletion), and adding them should raise it faster (insertion).

Methods: Captum's Saliency, Guided Backprop, Integrated Gradients, Grad-CAM and Guided
Grad-CAM beside convscope's deconvnet projection and occlusion map
(:mod:`convscope.analysis.sanity.methods`), on a fixed, seeded set of test images.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from convscope.analysis.sanity import verdicts as V
from convscope.analysis.sanity.methods import (
    CAPTUM,
    METHODS,
    Setup,
    cam_layer,
    captum_limits,
    last_conv,
    make_methods,
)
from convscope.analysis.sanity.randomise import randomisable_layers, randomisation_seed
from convscope.analysis.sanity.similarity import MEASURE_TITLES, MEASURES
from convscope.analysis.zf.occlusion import mean_fill
from convscope.studies.base import FigureRef, RunContext, Study, StudyResult, Verdict, register
from convscope.studies.sanity.checks import deletion_insertion, parameter_randomisation

CITATION = (
    "Adebayo et al. 2018, arXiv 1810.03292 (randomisation tests); Petsiuk et al. 2018, "
    "arXiv 1806.07421 (deletion and insertion)"
)


@dataclass(frozen=True)
class SanityOptions:
    images: int = 8  # test images, drawn with `seed`
    seed: int = 0  # draws the images and the random pixel orders
    seeds: tuple[int, ...] = (0, 1, 2)  # re-initialisation seeds (the spread), each mixed with the
    # run's training seed (analysis.zf.topk_random.randomisation_seed)
    methods: tuple[str, ...] | None = None  # default: every method
    ig_steps: int = 16
    occlusion_size: int = 8  # px
    occlusion_stride: int = 4  # px
    steps: int = 28  # points of the deletion / insertion curves, after 0
    random_orders: int = 4


def _pick(n_test: int, n: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(n_test, size=min(n, n_test), replace=False))


def _spread(a: np.ndarray) -> dict[str, Any]:
    """``(S, N)`` -> mean over images per seed, and their mean, min and max (NaN: images
    whose trained map is constant are left out; all NaN when every one is)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        per_seed = np.nanmean(a, axis=1)
        return {
            "per_seed": [float(v) for v in per_seed],
            "mean": float(np.mean(per_seed)),
            "min": float(np.min(per_seed)),
            "max": float(np.max(per_seed)),
            "image_sd": float(np.nanstd(a)),
            "images_undefined": int(np.isnan(a[0]).sum()),
        }


@dataclass
class Prepared:
    """One run's model, the seeded test images and the methods, as both sanity studies use
    them (``x``: model inputs; ``raw``: the uint8 images)."""

    model: Any
    model_name: str
    classes: list[str]
    idx: list[int]
    raw: torch.Tensor
    x: torch.Tensor
    target: torch.Tensor
    baseline: tuple[float, ...]
    setup: Setup
    methods: dict[str, Any]
    limits: dict[str, str]

    def titles(self) -> list[str]:
        return [f"{self.classes[int(c)]} (test {i})" for c, i in zip(self.target, self.idx)]


def prepare(ctx: RunContext, opts: Any) -> Prepared:
    """Load the run's final model and data; draw the images; build the methods."""
    ctx.require_checkpoint()
    model = ctx.rd.load_model(None, device=ctx.device)
    dataset, normalize = ctx.data()
    idx = _pick(len(dataset.test.labels), opts.images, opts.seed)
    raw, target = dataset.test.images[idx], dataset.test.labels[idx]
    baseline = tuple(mean_fill(dataset.channel_stats()[0], normalize))
    conv = last_conv(model)
    setup = Setup(
        conv,
        baseline,
        cam_layer(model, conv),
        opts.ig_steps,
        opts.occlusion_size,
        opts.occlusion_stride,
    )
    wanted = list(opts.methods or METHODS)
    limits = {m: r for m, r in captum_limits(model, conv).items() if m in wanted}
    methods = make_methods([m for m in wanted if m not in limits], setup)
    return Prepared(
        model,
        ctx.rd.config().model.model,
        list(dataset.classes),
        idx,
        raw,
        normalize(raw.to(ctx.device)),
        target,
        baseline,
        setup,
        methods,
        limits,
    )


def _weights_verdict(m: str, w: dict[str, Any], full: dict[str, Any]) -> Verdict:
    return Verdict(
        "not testable" if np.isnan(w["value"]) else "supported" if w["passes"] else "not supported",
        f"{m} {w['words']}: rank correlation after full cascading randomisation "
        f"{w['value']:.2f} (|map| {full['spearman_abs']['max']:.2f}, signed "
        f"{full['spearman']['max']:.2f}; worst seed; threshold < {V.RHO_THRESHOLD})",
    )


def _method_results(
    p: Prepared, pr: Any, areas: dict[str, dict[str, np.ndarray]]
) -> tuple[dict[str, Any], dict[str, Verdict]]:
    """Per method the weights test and the deletion and insertion areas, and the
    ``<m>.weights`` verdicts (methods Captum cannot run on the model: not testable)."""
    per_method: dict[str, Any] = {}
    verdicts: dict[str, Verdict] = {}
    for m in p.methods:
        full = {k: _spread(pr.after_full_cascade(m, k)) for k in MEASURES}
        w = V.depends(pr.statistic(m), "weights")
        row: dict[str, Any] = {"after_full_cascade": full, "weights": w}
        for kind in ("deletion", "insertion"):
            row[kind] = {
                "area_mean": float(areas[kind][m].mean()),
                "area_sd": float(areas[kind][m].std(ddof=1)) if len(p.idx) > 1 else 0.0,
                "random_area_mean": float(areas[kind]["random"].mean()),
                "verdict": V.faithful(areas[kind][m], areas[kind]["random"], kind),
            }
        row["verdict"] = V.summary_words(w, None)
        per_method[m] = row
        verdicts[f"{m}.weights"] = _weights_verdict(m, w, full)
    for m, why in p.limits.items():
        verdicts[f"{m}.weights"] = Verdict("not testable", f"{m} on {p.model_name}: {why}")
    return per_method, verdicts


def _figures(
    ctx: RunContext, p: Prepared, pr: Any, faith: Any, areas: dict[str, dict[str, np.ndarray]]
) -> list[FigureRef]:
    """The trained and randomised maps, the randomisation curves, deletion and insertion."""
    from convscope.studies.sanity.figures import (
        faithfulness_curves,
        maps_grid,
        randomisation_curves,
    )

    titles = p.titles()
    raw_np = p.raw.cpu().numpy()
    return [
        FigureRef(
            ctx.save_figure(maps_grid(raw_np, pr.trained, titles, notes=p.limits), "sanity_maps"),
            "Attribution maps of the trained model (red: for the class, blue: against)",
        ),
        FigureRef(
            ctx.save_figure(
                maps_grid(raw_np, pr.randomised, titles, notes=p.limits),
                "sanity_maps_randomised",
            ),
            f"The same maps with every layer re-initialised (seed {pr.seeds[0]})",
        ),
        FigureRef(
            ctx.save_figure(randomisation_curves(pr.layers, pr.scores), "sanity_randomisation"),
            "Similarity to the trained map as the weights are randomised from the logits down",
        ),
        FigureRef(
            ctx.save_figure(
                faithfulness_curves(
                    faith.fractions,
                    faith.deletion,
                    faith.insertion,
                    {k: {o: float(v.mean()) for o, v in a.items()} for k, a in areas.items()},
                ),
                "sanity_faithfulness",
            ),
            "Deletion and insertion curves (Petsiuk et al. 2018)",
        ),
    ]


def _arrays(p: Prepared, pr: Any, faith: Any) -> dict[str, np.ndarray]:
    """The maps, similarity scores and curves saved beside the JSON (``sanity.npz``)."""
    arrays: dict[str, np.ndarray] = {"test_index": np.array(p.idx), "target": p.target.numpy()}
    arrays["fractions"] = faith.fractions
    for m in p.methods:
        arrays[f"{m}_trained"] = pr.trained[m]
        arrays[f"{m}_randomised"] = pr.randomised[m]
        for order, d in pr.scores[m].items():
            for k, v in d.items():
                arrays[f"{m}_{order}_{k}"] = v
        for kind in ("deletion", "insertion"):
            arrays[f"{m}_{kind}"] = getattr(faith, kind)[m]
    for kind in ("deletion", "insertion"):
        arrays[f"random_{kind}"] = getattr(faith, kind)["random"]
    return arrays


def _run(ctx: RunContext, opts: SanityOptions) -> StudyResult:
    p = prepare(ctx, opts)
    # re-initialisation seeds derived from the run's training seed and never equal to it: the
    # training seed would give the first layer back its own initial weights
    run_seed = ctx.rd.config().train.seed
    pr = parameter_randomisation(
        p.model,
        p.methods,
        p.x,
        p.target,
        tuple(randomisation_seed(run_seed, s) for s in opts.seeds),
    )
    faith = deletion_insertion(
        p.model, pr.trained, p.x, p.target, p.baseline, opts.steps, opts.random_orders, opts.seed
    )
    areas = {k: faith.area(k) for k in ("deletion", "insertion")}
    per_method, verdicts = _method_results(p, pr, areas)
    figs = _figures(ctx, p, pr, faith, areas)
    ctx.write_npz("sanity", **_arrays(p, pr, faith))

    observations = [_observation(per_method, p.model_name)]
    observations += [f"{m} on {p.model_name}: {why}" for m, why in p.limits.items()]
    numbers = {
        "methods": per_method,
        "not_computed": p.limits,
        "layers_top_down": pr.layers,
        "seeds": pr.seeds,
        "images": [{"test_index": i, "class": p.classes[int(c)]} for i, c in zip(p.idx, p.target)],
        "model": p.model_name,
        "citation": CITATION,
    }
    return StudyResult(numbers, observations, verdicts, figs, _choices(opts, p.setup))


def _observation(per_method: dict[str, Any], model: str) -> str:
    ok = [m for m, r in per_method.items() if r["weights"]["passes"]]
    bad = [m for m in per_method if m not in ok]
    parts = [
        f"{m} {r['after_full_cascade']['spearman_abs']['mean']:.2f} / "
        f"{r['after_full_cascade']['spearman']['mean']:.2f}"
        for m, r in per_method.items()
    ]
    s = (
        f"On {model}, after every layer is re-initialised the maps keep a rank correlation "
        f"with the trained ones (|map| / signed, mean over seeds) of {', '.join(parts)}. "
        f"Depend on the weights (both below {V.RHO_THRESHOLD} for every seed): "
        f"{', '.join(ok) or 'none'}; do not: {', '.join(bad) or 'none'}."
    )
    for kind in ("deletion", "insertion"):
        beat = [m for m, r in per_method.items() if r[kind]["verdict"]["passes"]]
        s += f" {kind.capitalize()} beats a random order for: {', '.join(beat) or 'none'}."
    s += (
        " The label test is the group study sanity_labels: it needs a twin of this run "
        "trained on permuted labels (config key permute_labels)."
    )
    return s


def _choices(opts: SanityOptions, setup: Setup) -> dict[str, Any]:
    return {
        "images": f"{opts.images} test images drawn without replacement with "
        f"numpy default_rng({opts.seed}), sorted by index; the class explained is the true one",
        "map": "the attribution summed over input channels, signed",
        "methods": CAPTUM,
        "gradcam_layer": f"{setup.conv_layer} (the last Conv2d); ReLU of the Grad-CAM map, "
        "bilinear upsampling to the input size",
        "integrated_gradients": f"{setup.ig_steps} steps from the mean training pixel",
        "deconvnet": f"each image's strongest unit of {setup.conv_layer}'s rectified output, "
        "recomputed on each randomised model",
        "occlusion": f"{setup.occlusion_size} px square of the mean pixel, stride "
        f"{setup.occlusion_stride} px; a pixel's value is the mean drop of the true-class "
        "probability over the squares covering it",
        "randomisation": "modules with reset_parameters, in named_modules order, each "
        "re-initialised by its own reset_parameters after torch.manual_seed(seed), seed derived "
        "from the run's training seed and each option seed and never the training seed (which "
        "would give the first layer back its initial weights); cascading "
        "from the logits down, and each layer alone",
        "similarity": MEASURE_TITLES,
        "ssim": "scikit-image structural_similarity on |map| / max|map|, data_range = max - "
        "min over both maps, 7x7 window (Quantus's ssim)",
        "deletion_insertion": f"{opts.steps} steps; removed pixels take the mean training "
        "pixel (all channels); insertion starts from the mean-pixel image (Petsiuk et al. "
        f"blur it instead); random: the mean of {opts.random_orders} seeded random orders",
        "verdict_weights": V.RHO_WHY,
        "verdict_faithfulness": V.P_WHY,
    }


def summary_table(saved: dict[str, Any]) -> Any:
    """One row per method: similarity after full randomisation (seed range), the verdict,
    deletion and insertion areas against a random order."""
    from convscope.report.document import Table

    def rng(d: dict[str, Any]) -> str:
        return f"{d['mean']:.2f} [{d['min']:.2f}, {d['max']:.2f}]"

    rows = []
    for m, r in (saved.get("numbers") or {}).get("methods", {}).items():
        full, de, ins = r["after_full_cascade"], r["deletion"], r["insertion"]
        rows.append(
            [
                m,
                rng(full["spearman_abs"]),
                rng(full["spearman"]),
                rng(full["ssim"]),
                r["weights"]["words"],
                f"{de['area_mean']:.3f} ± {de['area_sd']:.3f} ({de['random_area_mean']:.3f})",
                f"{ins['area_mean']:.3f} ± {ins['area_sd']:.3f} ({ins['random_area_mean']:.3f})",
                f"{de['verdict']['words']} / {ins['verdict']['words']}",
            ]
        )
    header = [
        "method",
        "rank corr. |map|",
        "rank corr. signed",
        "SSIM",
        "weights",
        "deletion area (random)",
        "insertion area (random)",
        "deletion / insertion",
    ]
    caption = (
        "After every layer is re-initialised: similarity to the trained map, mean over seeds "
        "[seed range] of the image mean. Areas: mean ± sd over images; lower deletion and "
        "higher insertion are more faithful."
    )
    return Table(header, rows, caption)


@register
class Sanity(Study):
    name = "sanity"
    title = "Do these pictures show what the network learned?"
    paper_section = "Adebayo et al. 2018, §3; Petsiuk et al. 2018, §4.1"
    description = (
        "Randomisation sanity checks and faithfulness of the attribution maps: Captum's "
        "saliency, guided backprop, integrated gradients and (guided) Grad-CAM beside "
        "convscope's deconvnet and occlusion. A map that shows what the network learned "
        "changes when the weights are re-initialised, and removing the pixels it ranks "
        "first lowers the class probability faster than a random order."
    )
    order = 75
    reads = ("final checkpoint", "data")
    Options = SanityOptions
    verdict_rules = {
        f"{m}.weights": f"rank correlations of |map| and of the signed map after full "
        f"cascading randomisation < {V.RHO_THRESHOLD} for every seed"
        for m in METHODS
    }

    def render(self, saved: dict[str, Any], view: Any) -> list[Any] | None:
        return view.default(saved, extra=[summary_table(saved)], skip={"methods"})

    def run(self, ctx: RunContext, opts: SanityOptions) -> StudyResult:
        randomisable_layers(ctx.rd.build_model())  # one line if nothing can be randomised
        with torch.inference_mode(False):
            return _run(ctx, opts)


# the data-randomisation study of this package registers itself on import
from convscope.studies.sanity import labels as _labels  # noqa: E402, F401
