"""First-layer filters and their Gabor measure (Zeiler & Fergus 2014, arXiv 1311.2901, §4.1,
Fig. 6): trained weights against the same network at initialisation, as a control.

Verdict ``gabor_like``: per filter, the R² of a 2-D Gabor fit is higher after training than at
initialisation (:func:`convscope.analysis.gabor.compare_gabor`: one-sided Wilcoxon signed-rank
test, paired by filter, at ``alpha``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from convscope.analysis.filters import first_conv, first_conv_weights
from convscope.analysis.gabor import (
    FIT_CHOICES,
    PARAM_NAMES,
    compare_gabor,
    fit_filters,
    gabor_applicable,
    gabor_sentence,
    summarize_r2,
)
from convscope.analysis.zf.graph import reader_name
from convscope.errors import ConvscopeError
from convscope.runs import RunDir
from convscope.studies.base import (
    FigureRef,
    RunContext,
    Study,
    StudyResult,
    Verdict,
    register,
)

log = logging.getLogger(__name__)
CITATION = "Zeiler & Fergus 2014, arXiv 1311.2901"


@dataclass(frozen=True)
class FiltersOptions:
    channel_reduce: str = "principal"  # how a multi-channel filter becomes one map to fit
    alpha: float = 0.05  # level of the one-sided test behind the verdict
    strip_filters: int = 8  # filters shown across checkpoints


def trained_step(rd: RunDir) -> int:
    ckpt = rd.load_checkpoint(None)
    return int(ckpt.get("step", rd.checkpoint_steps()[-1] if rd.checkpoint_steps() else 0))


def gabor_verdict(comparison: dict, trained: dict, init: dict) -> Verdict:
    """“the weights do look slightly like Gabor filters”, from :func:`compare_gabor`'s numbers."""
    st = trained["n_above_0.5"] / max(trained["n"], 1)
    si = init["n_above_0.5"] / max(init["n"], 1)
    text = (
        f"{trained['n_above_0.5']} of {trained['n']} trained filters ({100 * st:.1f}%) have "
        f"Gabor R² > 0.5 against {init['n_above_0.5']} of {init['n']} ({100 * si:.1f}%) at "
        "initialisation"
    )
    if comparison.get("p") is not None:
        rose = (
            f"R² rose for {comparison['n_rose']} of {comparison['n']} filters, "
            if comparison.get("n_rose") is not None
            else ""
        )
        text += (
            f"; {rose}median R² {comparison['median_trained']:.2f} vs "
            f"{comparison['median_init']:.2f}, {comparison['test']} p = {comparison['p']:.2g}"
        )
    better = bool(comparison["better"])
    text += (
        ": the trained filters are measurably more Gabor-like than random weights."
        if better
        else ": the trained filters are not measurably more Gabor-like than random weights."
    )
    return Verdict("supported" if better else "not supported", text)


def _write_filter_arrays(
    ctx: RunContext,
    trained: np.ndarray,
    init: np.ndarray,
    snap_steps: list[int],
    by_step: list[np.ndarray],
    fits: tuple[Any, Any],
    kept: tuple[np.ndarray, np.ndarray],
) -> None:
    """``filters.npz``: the weights trained, at init and by step, and both Gabor fits."""
    (fits_t, fits_i), (kept_t, kept_i) = fits, kept
    ctx.write_npz(
        "filters",
        weights_trained=trained,
        weights_init=init,
        snapshot_steps=np.asarray(snap_steps, dtype=np.int64),
        weights_by_step=np.stack(by_step) if by_step else np.zeros((0, *trained.shape)),
        gabor_params_trained=fits_t.params,
        gabor_params_init=fits_i.params,
        gabor_r2_trained=fits_t.r2,
        gabor_r2_init=fits_i.r2,
        gabor_maps_trained=fits_t.maps,
        gabor_fitted_trained=fits_t.fitted,
        gabor_maps_init=fits_i.maps,
        gabor_fitted_init=fits_i.fitted,
        channel_energy_kept_trained=kept_t,
        channel_energy_kept_init=kept_i,
    )


def _filter_figures(
    ctx: RunContext,
    opts: FiltersOptions,
    shown: str,
    step: int,
    trained: np.ndarray,
    init: np.ndarray,
    fits: tuple[Any, Any],
    by_step: list[np.ndarray],
    snap_steps: list[int],
) -> list[FigureRef]:
    """The filter grids (trained, shared scale, at init), the best Gabor fits and the strip."""
    from convscope.studies.filters.figures import (
        plot_filter_grid,
        plot_filter_strip,
        plot_gabor_fits,
    )

    fits_t, fits_i = fits
    figs = [
        FigureRef(
            ctx.save_figure(
                plot_filter_grid(
                    trained,
                    "per_filter",
                    title=f"{shown} filters, step {step}",
                    labels=[f"R²={r:.2f}" for r in fits_t.r2],
                ),
                "filters",
            ),
            "First-layer filters, each on its own scale, with the R² of its Gabor fit",
        ),
        FigureRef(
            ctx.save_figure(
                plot_filter_grid(trained, "shared", title=f"{shown} filters, step {step}"),
                "filters_shared",
            ),
            "First-layer filters on one shared scale (colour bar)",
        ),
        FigureRef(
            ctx.save_figure(
                plot_filter_grid(
                    init,
                    "per_filter",
                    title=f"{shown} filters at initialisation",
                    labels=[f"R²={r:.2f}" for r in fits_i.r2],
                ),
                "filters_init",
            ),
            "The same filters at initialisation (the control), with their Gabor R²",
        ),
    ]
    order = np.argsort(-np.nan_to_num(fits_t.r2, nan=-1.0))
    figs.append(
        FigureRef(
            ctx.save_figure(
                plot_gabor_fits(
                    fits_t.maps[order],
                    fits_t.fitted[order],
                    fits_t.r2[order],
                    title=f"{shown}: best Gabor fits (upper: filter, lower: fit)",
                ),
                "filters_gabor",
            ),
            "Best Gabor fits (upper row: filter, lower row: fitted Gabor function)",
        )
    )
    if len(snap_steps) >= 2:
        subset = list(range(min(opts.strip_filters, trained.shape[0])))
        figs.append(
            FigureRef(
                ctx.save_figure(
                    plot_filter_strip(by_step, snap_steps, filters=subset), "filters_strip"
                ),
                f"A subset of the same filters ({len(subset)} of {trained.shape[0]}) at "
                "several checkpoints of training",
            )
        )
    return figs


@register
class Filters(Study):
    name = "filters"
    title = "First convolutional layer weights (Gabor filters)"
    paper_section = "Zeiler & Fergus 2014, §4.1, Fig. 6"
    description = (
        "The first convolutional layer's filters, and how well a 2-D Gabor function fits each "
        "one (fraction of variance explained, R²), against the same network at initialisation "
        "as a control (Zeiler & Fergus 2014, arXiv 1311.2901, §4.1, Fig. 6)."
    )
    order = 10
    reads = ("checkpoints (final, step 0 and every snapshot)",)
    Options = FiltersOptions
    verdict_rules = {
        "gabor_like": "per filter, the R² of a 2-D Gabor fit is higher after training than at "
        "initialisation (one-sided Wilcoxon signed-rank test paired by filter, p < alpha = 0.05 "
        "by default; the option is recorded)."
    }

    def run(self, ctx: RunContext, opts: FiltersOptions) -> StudyResult:
        ctx.require_checkpoint()
        rd = ctx.rd
        model = rd.load_model(None)
        try:
            layer, conv = first_conv(model)
            shown = reader_name(layer, conv)
        except ConvscopeError as e:
            log.debug("%s", e)  # the CLI says "filters: not applicable: ..."
            return StudyResult(
                numbers={"applicable": False},
                observations=[f"No first-layer filters to show: {e}."],
                verdicts={"gabor_like": Verdict("not testable", f"no first-layer filters: {e}")},
            )
        trained = first_conv_weights(model)
        init_model, init_source = rd.initial_model()
        init = first_conv_weights(init_model)
        step = trained_step(rd)
        not_applicable = gabor_applicable(trained.shape[2:])
        if not_applicable is not None:
            return _without_gabor(ctx, layer, shown, trained, init, step, not_applicable)
        fits_t, kept_t = fit_filters(trained, opts.channel_reduce)
        fits_i, kept_i = fit_filters(init, opts.channel_reduce)
        sum_t, sum_i = summarize_r2(fits_t.r2), summarize_r2(fits_i.r2)
        comparison = compare_gabor(sum_t, sum_i, alpha=opts.alpha, paired=True)
        sentence = gabor_sentence(sum_t, sum_i, alpha=opts.alpha, paired=True)
        snap_steps = rd.checkpoint_steps()
        by_step = [first_conv_weights(rd.load_model(s)) for s in snap_steps]
        fits = (fits_t, fits_i)
        _write_filter_arrays(ctx, trained, init, snap_steps, by_step, fits, (kept_t, kept_i))
        flat_t, flat_i = (trained - init).reshape(len(init), -1), init.reshape(len(init), -1)
        per_filter = np.linalg.norm(flat_t, axis=1) / np.maximum(
            np.linalg.norm(flat_i, axis=1), 1e-12
        )
        change = float(np.linalg.norm(trained - init) / max(float(np.linalg.norm(init)), 1e-12))
        figs = _filter_figures(ctx, opts, shown, step, trained, init, fits, by_step, snap_steps)
        log.debug("filters: %s", sentence)  # the CLI prints the observation
        reduce = opts.channel_reduce if trained.shape[1] > 1 else "none (one input channel)"
        return StudyResult(
            numbers={
                "applicable": True,
                "layer": layer,
                "shape": list(trained.shape),
                "trained_step": step,
                "init_source": init_source,
                "relative_change_from_init": change,
                "relative_change_from_init_per_filter_median": float(np.median(per_filter)),
                "channel_energy_kept_trained_mean": float(np.mean(kept_t)),
                "trained": sum_t,
                "init": sum_i,
                "comparison": comparison,
            },
            observations=[
                f"{sentence} The weights moved {100 * change:.1f}% from {_init_words(rd)} "
                f"(||W_{step} - W_0|| / ||W_0||)."
            ],
            verdicts={"gabor_like": gabor_verdict(comparison, sum_t, sum_i)},
            figures=figs,
            choices={
                "source": f"{CITATION}, Sec. 4.1, Fig. 6 (first-layer filters)",
                "channel_reduce": reduce,
                "gabor_params": ", ".join(PARAM_NAMES),
                **FIT_CHOICES,
            },
        )

    def render(self, saved: dict[str, Any], view: Any) -> list[Any] | None:
        return view.default(
            saved, extra=gabor_table(saved.get("numbers", {})), skip={"trained", "init"}
        )


def _without_gabor(
    ctx: RunContext,
    layer: str,
    shown: str,
    trained: np.ndarray,
    init: np.ndarray,
    step: int,
    reason: str,
) -> StudyResult:
    """Filters of kernels under 5x5: the grids, and 'not applicable' for the Gabor fit."""
    from convscope.studies.filters.figures import plot_filter_grid

    ctx.write_npz("filters", weights_trained=trained, weights_init=init)
    change = float(np.linalg.norm(trained - init) / max(float(np.linalg.norm(init)), 1e-12))
    figs = [
        FigureRef(
            ctx.save_figure(
                plot_filter_grid(trained, "per_filter", title=f"{shown} filters, step {step}"),
                "filters",
            ),
            "First-layer filters, each on its own scale",
        ),
        FigureRef(
            ctx.save_figure(
                plot_filter_grid(init, "per_filter", title=f"{shown} filters at initialisation"),
                "filters_init",
            ),
            "The same filters at initialisation",
        ),
    ]
    return StudyResult(
        numbers={
            "applicable": True,
            "gabor": "not applicable",
            "gabor_reason": reason,
            "layer": layer,
            "shape": list(trained.shape),
            "trained_step": step,
            "relative_change_from_init": change,
        },
        observations=[
            f"Gabor fit of the {shown} filters {reason}. The weights moved {100 * change:.1f}% "
            f"from {_init_words(ctx.rd)} (||W_{step} - W_0|| / ||W_0||)."
        ],
        verdicts={"gabor_like": Verdict("not testable", f"Gabor fit {reason}")},
        figures=figs,
        choices={"source": f"{CITATION}, Sec. 4.1, Fig. 6 (first-layer filters)"},
    )


def gabor_table(d: dict[str, Any]) -> list[Any]:
    """The Gabor summary of trained and initial filters as one report table."""
    from convscope.report.document import Table

    rows = []
    for key, name in (
        ("trained", f"trained (step {d.get('trained_step', '?')})"),
        ("init", "initialisation"),
    ):
        s = d.get(key)
        if not isinstance(s, dict) or "n" not in s:
            continue
        n = max(int(s["n"]), 1)
        rows.append(
            [
                name,
                str(s["n"]),
                f"{s.get('n_above_0.5', '–')} ({100 * s.get('n_above_0.5', 0) / n:.1f}%)",
                f"{s.get('n_above_0.8', '–')} ({100 * s.get('n_above_0.8', 0) / n:.1f}%)",
                f"{float(s.get('median_r2', float('nan'))):.2f}",
            ]
        )
    if not rows:
        return []
    return [
        Table(
            ["filters", "n", "R² > 0.5", "R² > 0.8", "median R²"],
            rows,
            caption=f"2-D Gabor fit of each `{d.get('layer', 'first conv')}` filter (fraction of "
            "variance explained)",
        )
    ]


def _init_words(rd: Any) -> str:
    """What W_0 is: the run's initialisation, or (an import without step-0 weights) a fresh one."""
    if rd.imported() is not None and 0 not in rd.checkpoint_steps():
        return (
            "a fresh initialisation of the architecture (the import has no step-0 weights; "
            "give them with --weights 0=INIT.pt)"
        )
    return "their initial values"
