"""Activation statistics of every layer over training, when each layer settles, and dead units.

The number behind the reference's “the early layers converge very quickly while the fully
connected layers take longer” (Sec. 1.4; cf. Zeiler & Fergus 2014, arXiv 1311.2901, §4 "Feature
Evolution during Training", Fig. 4). Layers are named by module path (``relu1``, ``fc3``); the
TensorBoard tags (``Layer_1_Activations``) are display names, recorded as ``tag``.

Verdict ``early_layers_converge_first`` (one rule, the one the convergence sentence uses,
:func:`convscope.analysis.convergence.compare_settling`): supported when every convolutional
(or recurrent) layer settles at least one record interval before every fully connected layer;
not testable when the output has no such pair of layers, or when no layer settles before the
last :data:`~convscope.analysis.convergence.LATE_FRACTION` of training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from convscope.analysis.convergence import (
    CONVERGENCE_CHOICES,
    LATE_FRACTION,
    compare_settling,
    convergence_sentence,
    convergence_table,
)
from convscope.analysis.hook_points import DEAD_RULES
from convscope.errors import ConvscopeError
from convscope.studies.activations import compute as act
from convscope.studies.base import FigureRef, RunContext, Study, StudyResult, Verdict, register
from convscope.studies.filters import trained_step

log = logging.getLogger(__name__)
CITATION = "Zeiler & Fergus 2014, arXiv 1311.2901"
EARLY, LATE = ("conv", "recurrent"), ("linear", "logits")


@dataclass(frozen=True)
class ActivationsOptions:
    dead_unit_batch: int = 128  # test images per forward pass when looking for dead units


def module_names(points: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Record name (``Layer_1_Activations``) -> module path (``relu1``) of where it was taken."""
    out = {}
    for tag, p in points.items():
        out[tag] = str(p.get("module") or p.get("layer") or tag)
    if len(set(out.values())) < len(out):  # never merge two records under one name
        return {t: t for t in points}
    return out


def early_layers_verdict(table: list[dict[str, Any]], cadence: int) -> Verdict:
    """The 1.4 claim from a convergence table (the rule in the module docstring)."""
    early = [(r["layer"], r["settled_at"]) for r in table if r["kind"] in EARLY]
    late = [(r["layer"], r["settled_at"]) for r in table if r["kind"] in LATE]
    parts = ", ".join(f"{r['layer']}: {r['settled_at']}" for r in table)
    head = (
        "Iteration after which each layer's statistics stay within 5% of their final value — "
        f"{parts}. "
    )
    if not early or not late:
        return Verdict("not testable", head + "The model lacks conv and fully connected layers.")
    last = max(int(r.get("last_step", 0) or 0) for r in table)
    if last and all(r["settled_at"] >= LATE_FRACTION * last for r in table):
        return Verdict(
            "not testable",
            head + f"No layer settles before the last {100 * (1 - LATE_FRACTION):.0f}% of "
            f"training (iteration {last}): training ended before the statistics converged.",
        )
    name = (
        "convolutional"
        if all(r["kind"] == "conv" for r in table if r["kind"] in EARLY)
        else "early"
    )
    code, clause = compare_settling(early, late, cadence if cadence > 0 else 0, name)
    return Verdict(
        "supported" if code == "faster" else "not supported",
        head + clause[0].upper() + clause[1:] + ".",
    )


def _activation_rows(rd: Any) -> tuple[list[dict[str, Any]], str]:
    """The records written during training, else recomputed from the checkpoints; and which."""
    rows = rd.records(act.STREAM)
    if rows:
        return rows, f"{act.STREAM}.jsonl, recorded during training"
    rows = act.activation_rows_over_checkpoints(rd.path)
    source = "recomputed from the checkpoints at steps " + ", ".join(str(r["step"]) for r in rows)
    return rows, source


def _stat_sentence(steps: np.ndarray, final: dict[str, dict[str, float]]) -> str:
    return (
        f"At step {int(steps[-1])}: "
        + "; ".join(
            f"{n} mean {v['mean']:.3g}, std {v['std']:.3g}, {100 * v['zero_fraction']:.1f}% zeros"
            for n, v in final.items()
        )
        + "."
    )


def _convergence(
    arrays: dict[str, Any], layers: list[str], kinds: dict[str, str], cadence: int
) -> tuple[list[dict[str, Any]], str, Verdict]:
    """Convergence table, sentence and verdict; not testable from a single record."""
    if arrays["steps"].size >= 2:
        table = convergence_table(arrays, layers, kinds)
        return table, convergence_sentence(table, cadence), early_layers_verdict(table, cadence)
    sentence = "Only one activation record: convergence cannot be measured."
    return [], sentence, Verdict("not testable", sentence)


def _dead_over_time(
    dead: dict[str, dict[str, Any]], arrays: dict[str, Any]
) -> tuple[dict[str, dict[str, list[int]]], list[str]]:
    """Dead units on the fixed batch at every record (rectifier rule), and when they appeared."""
    steps = arrays["steps"]
    over_time: dict[str, dict[str, list[int]]] = {}
    when = []
    for name in dead:
        key = f"{name}.unit_max"
        if key not in arrays or dead[name].get("dead_rule", "rectifier") != "rectifier":
            continue  # the records keep each unit's maximum: the rectifier rule only
        limit = float(dead[name].get("threshold", 0.0))
        counts = (np.asarray(arrays[key]) <= limit).sum(axis=1).astype(int).tolist()
        over_time[name] = {"steps": steps.tolist(), "n_dead": counts}
        if counts[-1] > 0 and len(counts) > 1:
            i = next(j for j, c in enumerate(counts) if c >= 0.5 * counts[-1])
            when.append(
                f"{name} {counts[i]} at iteration {int(steps[i])} ({counts[-1]} at {int(steps[-1])})"
            )
    return over_time, when


def _dead_sentence(
    step: int, n_test: int, dead: dict[str, dict[str, Any]], when: list[str], n_fixed: Any
) -> str:
    sentence = (
        f"At step {step}, units that never activate on the {n_test} test images: "
        + "; ".join(
            f"{d['n_dead']} of {d['n_units']} in {n} (after {d['after']})" for n, d in dead.items()
        )
        + "."
    )
    if when:
        sentence += (
            f" On the {n_fixed} fixed images, dead units appear early: " + "; ".join(when) + "."
        )
    return sentence


def _activation_figures(
    ctx: RunContext,
    arrays: dict[str, Any],
    layers: list[str],
    kinds: dict[str, str],
    settled: dict[str, Any],
) -> list[FigureRef]:
    from convscope.studies.activations.figures import (
        plot_activation_ridgeline,
        plot_activation_stats,
        plot_recurrent_steps,
    )

    figs = [
        FigureRef(
            ctx.save_figure(
                plot_activation_stats(arrays, layers, settled=settled or None), "activations"
            ),
            "Per layer: mean ± std and fraction of zeros over iterations",
        ),
        FigureRef(
            ctx.save_figure(plot_activation_ridgeline(arrays, layers), "activations_ridgeline"),
            "Per layer: activation histograms over iterations (ridgeline)",
        ),
    ]
    for name in layers:
        if kinds.get(name) == "recurrent":
            figs.append(
                FigureRef(
                    ctx.save_figure(
                        plot_recurrent_steps(arrays, name), f"activations_{name}_per_step"
                    ),
                    f"{name}: statistics per time step",
                )
            )
    return figs


def _choices(source: str) -> dict[str, Any]:
    return {
        "source": source,
        "cites": f"{CITATION}, Sec. 4 and Fig. 4 (feature evolution during training); "
        "Sec. 4.1, Fig. 6(b) (dead first-layer features)",
        **act.STAT_CHOICES,
        **{f"convergence_{k}": v for k, v in CONVERGENCE_CHOICES.items()},
        "dead_unit": "a unit (feature map for conv layers) that is dead on every test "
        "image and position, by the rule of the nonlinearity it is measured after "
        "(dead_units.layers.<name>.dead_rule): "
        + "; ".join(f"{k}: {v}" for k, v in DEAD_RULES.items()),
        "layer_names": "module paths (relu1, fc3); the TensorBoard tags are recorded as "
        "layers.<name>.tag",
    }


def _shared_dead_units(ctx: RunContext, batch_size: int) -> dict[str, dict[str, Any]] | None:
    """:func:`~.compute.dead_units` of the final model on the test images, taken in the pass
    over them that the Zeiler & Fergus analyses share (:meth:`_zf._Context.ride_test_pass`):
    the same model, inputs and batches, on the CPU as our own pass, so the same numbers. None
    where there is no such pass to ride: a model those analyses refuse, another batch size or
    device, or a pass already taken."""
    from convscope.analysis.hook_points import find_hook_points
    from convscope.analysis.zf._common import FORWARD_BATCH
    from convscope.studies._zf import zf_context

    if batch_size != FORWARD_BATCH:
        return None
    try:
        zf = zf_context(ctx)
    except ConvscopeError:
        return None
    if zf.device.type != "cpu":
        return None
    extrema = act.UnitExtrema(zf.chain, find_hook_points(zf.chain))
    if not zf.ride_test_pass(extrema.taps, extrema.update):
        return None
    zf.predictions()  # the shared pass, which the analyses after this one read
    return extrema.dead()


@register
class Activations(Study):
    name = "activations"
    title = "Activation statistics"
    paper_section = "Zeiler & Fergus 2014, §4, Fig. 4"
    description = (
        "Statistics of every layer's activations on a fixed batch of test images over "
        "training, when each layer settles, and units that never activate."
    )
    order = 20
    reads = ("activations.jsonl (else the checkpoints)", "final checkpoint", "test split")
    Options = ActivationsOptions
    verdict_rules = {
        "early_layers_converge_first": "every conv layer's statistics settle (within 5% of "
        "their final value for good) at least one record interval before every fully "
        "connected layer's — the rule of the convergence sentence and table; not testable "
        f"when no layer settles before the last {100 * (1 - LATE_FRACTION):.0f}% of training."
    }

    def run(self, ctx: RunContext, opts: ActivationsOptions) -> StudyResult:
        ctx.require_checkpoint()
        rd = ctx.rd
        rows, source = _activation_rows(rd)
        points = rows[-1].get("points", {})
        names = module_names({t: points.get(t, {}) for t in rows[-1]["layers"]})
        arrays = {
            (names[k.split(".", 1)[0]] + "." + k.split(".", 1)[1] if "." in k else k): v
            for k, v in act.rows_to_arrays(rows).items()
        }
        layers = [names[t] for t in rows[-1]["layers"]]
        kinds = {names[t]: points.get(t, {}).get("kind", "") for t in names}
        ctx.write_npz("activations", **arrays)
        steps = arrays["steps"]
        cadence = int(np.median(np.diff(steps))) if steps.size > 1 else 0
        final = {n: {k: float(arrays[f"{n}.{k}"][-1]) for k in act.SCALAR_STATS} for n in layers}
        stat_sentence = _stat_sentence(steps, final)
        table, conv_sentence, verdict = _convergence(arrays, layers, kinds, cadence)

        dataset, normalize = ctx.data()
        dead = _shared_dead_units(ctx, opts.dead_unit_batch)
        if dead is None:  # no shared pass (not a CNN, another batch size or device): our own
            dead = act.dead_units(
                rd.load_model(None), dataset.test.images, normalize, batch_size=opts.dead_unit_batch
            )
        dead = {names.get(t, t): d for t, d in dead.items()}
        step = trained_step(rd)
        over_time, when = _dead_over_time(dead, arrays)
        dead_sentence = _dead_sentence(
            step, len(dataset.test), dead, when, rows[-1].get("n_images")
        )
        settled = {r["layer"]: r["settled_at"] for r in table}
        figs = _activation_figures(ctx, arrays, layers, kinds, settled)
        log.debug("activations: %s", conv_sentence)  # the CLI prints the observation
        return StudyResult(
            numbers={
                "n_images": rows[-1].get("n_images"),
                "steps": steps.tolist(),
                "cadence": cadence,
                "layers": {n: {**points.get(t, {}), "tag": t} for t, n in names.items()},
                "final": final,
                "convergence": table,
                "dead_units": {
                    "step": step,
                    "n_images": len(dataset.test),
                    "layers": dead,
                    "on_fixed_batch_over_training": over_time,
                },
            },
            observations=[stat_sentence, conv_sentence, dead_sentence],
            verdicts={"early_layers_converge_first": verdict},
            figures=figs,
            choices=_choices(source),
        )

    def render(self, saved: dict[str, Any], view: Any) -> list[Any] | None:
        from convscope.report.document import Bullets
        from convscope.report.wording import dead_units_headline
        from convscope.studies._tables import activations_tables

        n = saved.get("numbers", {})
        blocks = view.default(
            saved,
            extra=activations_tables(n),
            skip={"final", "layers", "convergence", "dead_units", "steps"},
        )
        dead = n.get("dead_units")
        headline = dead_units_headline(dead) if isinstance(dead, dict) else None
        if headline:  # one of the run's most striking numbers, first, in words
            blocks.insert(0, Bullets([f"Run `{view.label}`: {headline}"], "obs", "Dead units"))
        return blocks
