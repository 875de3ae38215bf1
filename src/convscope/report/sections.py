"""Assemble the report's sections from an :class:`~convscope.report.results.Experiment`.

Sections follow the reference report (``assignment2-report.md``): 1.1 curves, 1.2 optimizers,
1.3 first-layer filters, 1.4 activation statistics, 2 Zeiler & Fergus analyses, 3.1 the
recurrent sweep, 3.2 CNN against RNN; then a table of every run and how the numbers are
computed. Each section's sentences come from :mod:`convscope.report.observations`.
"""

from __future__ import annotations

import io as _io
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convscope import __version__, io
from convscope.plots.curves import Panel, Series, curves_figure
from convscope.report import observations as obs
from convscope.report import stats
from convscope.report.across import across_section
from convscope.report.analyses import (
    Analysed,
    analysed_runs,
    default_analysis_target,
    figure_blocks,
    json_blocks,
)
from convscope.report.document import (
    Block,
    Bullets,
    Claim,
    Claims,
    Document,
    Figure,
    Para,
    Section,
    Table,
)
from convscope.report.observations import ConfigStats
from convscope.report.results import Experiment, Group
from convscope.report.stats import fmt_ms, fmt_steps, pct

METRIC_TITLES = {
    "test_accuracy": ("test accuracy", "accuracy"),
    "train_accuracy": ("train accuracy", "accuracy"),
    "train_loss": ("train loss", "cross-entropy"),
}
METRIC_ORDER = ("test_accuracy", "train_accuracy", "train_loss")
BAND_NOTE = "lines: mean over seeds; shaded band: min–max over seeds"
FIGURE_DPI = 100


# --- figures ---------------------------------------------------------------------------------
class FigureSink:
    """Writes the report's own figures as PNG under ``OUT/figures`` (atomically)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.written: list[Path] = []

    def save(self, name: str, fig: Any) -> str:
        """Save ``fig`` as ``figures/<name>.png``; return its path relative to OUT."""
        buf = _io.BytesIO()
        fig.savefig(buf, format="png", dpi=FIGURE_DPI)
        path = self.out / "figures" / f"{name}.png"
        io.atomic_write_bytes(path, buf.getvalue())
        self.written.append(path)
        return f"figures/{name}.png"


def series_of(
    c: ConfigStats,
    metric: str,
    label: str | None = None,
    color: Any = None,
    linestyle: str = "-",
) -> Series:
    """A curve of configuration ``c``: seed mean, min–max band (several seeds), divergence."""
    a = c.agg[metric]
    n = len(c.last_steps)
    several = n > 1
    label = label or c.label
    diverged = None
    if c.diverged_steps and len(c.diverged_steps) == n:
        diverged = max(c.diverged_steps)
    elif c.diverged_steps:
        label += f" ({len(c.diverged_steps)}/{n} seeds diverged)"
    if several:
        label += f" [{n} seeds]"
    return Series(
        label=label,
        steps=a.steps,
        mean=a.mean,
        low=a.low if several else None,
        high=a.high if several else None,
        diverged_step=diverged,
        color=color,
        linestyle=linestyle,
    )


def metric_panels(
    cs: Sequence[ConfigStats],
    threshold: float | None = None,
    label: Callable[[ConfigStats], str] | None = None,
    color: Callable[[int, ConfigStats], Any] | None = None,
    prefix: str = "",
) -> list[Panel]:
    """Three panels (test accuracy, train accuracy, train loss) with one line per config."""
    panels = []
    for m in METRIC_ORDER:
        title, ylabel = METRIC_TITLES[m]
        panels.append(
            Panel(
                title=f"{prefix}{title}",
                ylabel=ylabel,
                series=[
                    series_of(
                        c,
                        m,
                        label(c) if label else None,
                        color(i, c) if color else None,
                    )
                    for i, c in enumerate(cs)
                    if c.agg[m].steps.size
                ],
                hline=threshold if m == "test_accuracy" else None,
                hline_label=f"threshold {pct(threshold, 0)}" if threshold is not None else "",
            )
        )
    return panels


# --- per-group numbers -----------------------------------------------------------------------
@dataclass
class GroupNumbers:
    group: Group
    dataset: str
    n_classes: int
    threshold: float
    threshold_note: str
    horizon: int
    stats: list[ConfigStats]

    @property
    def present(self) -> list[ConfigStats]:
        return [c for c in self.stats if c.last_steps]


def group_numbers(g: Group) -> GroupNumbers:
    runs = [r for r in g.runs if r.data_info is not None]
    dataset = runs[0].dataset_name if runs else (g.runs[0].dataset_name if g.runs else "?")
    n_classes = len(runs[0].data_info.get("classes", [])) if runs and runs[0].data_info else 10
    bests = [r.best_test_accuracy for r in g.runs if r.best_test_accuracy is not None]
    threshold, note = obs.accuracy_threshold(dataset, n_classes or 10, max(bests, default=None))
    h = obs.horizon(g.configs)
    return GroupNumbers(
        group=g,
        dataset=dataset,
        n_classes=n_classes,
        threshold=threshold,
        threshold_note=note,
        horizon=h,
        stats=[obs.config_stats(c, threshold, h) for c in g.configs],
    )


def status_text(c: ConfigStats) -> str:
    counts = Counter(c.statuses)
    parts = []
    for st, n in counts.items():
        text = st
        if st == "diverged" and c.diverged_steps:
            text += f" at {', '.join(map(str, c.diverged_steps))}"
        parts.append(text if n == len(c.statuses) else f"{n}× {text}")
    return ", ".join(parts)


def config_table(
    gn: GroupNumbers, extra: Sequence[tuple[str, Callable[[ConfigStats], str]]] = ()
) -> Table:
    header = ["configuration", *[h for h, _ in extra], "seeds", "best test acc.", "final test acc."]
    header += [
        f"iterations to {pct(gn.threshold, 0)}",
        f"speed (mean acc., first {gn.horizon} it.)",
    ]
    header += ["status"]
    rows = []
    for c in gn.stats:
        rows.append(
            [f"`{c.label}`"]
            + [f(c) for _, f in extra]
            + [
                str(len(c.statuses)),
                fmt_ms(c.best_ms),
                fmt_ms(c.final_ms),
                fmt_steps(c.to_threshold) if c.last_steps else "–",
                fmt_ms(c.speed_ms),
                status_text(c),
            ]
        )
    return Table(header, rows, caption="mean ± sample std over seeds")


def _no_runs(g: Group | None, name: str, out_label: str) -> Para:
    if g is None:
        return Para(
            f"This output has no `{name}` group, so this section is empty. The experiment file "
            "`experiments/assignment2.toml` defines it.",
            "missing",
        )
    statuses = Counter(r.status for r in g.runs)
    summary = ", ".join(f"{n} {s}" for s, n in statuses.items()) or "no runs listed"
    return Para(
        f"No run of the `{name}` group has recorded metrics yet ({summary}). "
        f"`convscope run EXPERIMENT --out {out_label}` completes it.",
        "missing",
    )


def _data_line(gn: GroupNumbers, with_threshold: bool = True) -> str:
    c = gn.stats[0].config if gn.stats else {}
    t = c.get("train", {})
    budget = (
        f"{t.get('iterations')} iterations"
        if t.get("iterations") is not None
        else f"{t.get('epochs')} epochs"
    )
    seeds = sorted({len(s.statuses) for s in gn.stats})
    return (
        f"Data: **{gn.dataset}**; budget {budget}, batch size {t.get('batch_size')}, metrics "
        f"every {t.get('eval_every')} iterations; {'/'.join(map(str, seeds))} seed(s) per "
        "configuration."
        + (f' Threshold for "iterations to reach": {gn.threshold_note}.' if with_threshold else "")
    )


# --- 1.1 ---------------------------------------------------------------------------------------
def section_1_1(exp: Experiment, figs: FigureSink, out_label: str) -> tuple[Section, list[Claim]]:
    s = Section("sec-1-1", "1.1", "Train and test accuracy and train loss curves")
    g = exp.group("cnn")
    if g is None or not any(r.curve.steps.size for r in g.runs):
        s.blocks.append(_no_runs(g, "cnn", out_label))
        return s, []
    gn = group_numbers(g)
    cs = gn.present
    c0 = cs[0].config
    s.blocks.append(
        Para(
            f"{g.title}: {c0.get('model', {}).get('model')} trained with "
            f"{c0.get('optim', {}).get('optimizer')} (lr {c0.get('optim', {}).get('lr'):g}). "
            + _data_line(gn)
        )
    )
    src = figs.save("report_1-1_cnn", curves_figure(metric_panels(cs, gn.threshold)))
    s.blocks.append(Figure(src, f"Test accuracy, train accuracy and train loss ({BAND_NOTE})."))
    items: list[str] = []
    for c in cs:
        sents = obs.single_run_sentences(c, gn.threshold, gn.threshold_note)
        items.extend(sents if len(cs) == 1 else [f"`{c.label}`: {x}" for x in sents])
    s.blocks.append(Bullets(items, "obs", "Observations"))
    s.blocks.append(config_table(gn))
    return s, []


# --- 1.2 ---------------------------------------------------------------------------------------
def _opt_label(c: ConfigStats) -> str:
    return c.label


def section_1_2(exp: Experiment, figs: FigureSink, out_label: str) -> tuple[Section, list[Claim]]:
    s = Section("sec-1-2", "1.2", "Testing with different hyperparameters (optimizers)")
    g = exp.group("optimizers")
    if g is None or not any(r.curve.steps.size for r in g.runs):
        s.blocks.append(_no_runs(g, "optimizers", out_label))
        claims = [
            obs.claim_adam_lr([], 0, 0.0),
            obs.claim_rmsprop_extremes([]),
            obs.claim_rmsprop_vs_adam([]),
        ]
        s.blocks.append(Claims(claims))
        return s, claims
    gn = group_numbers(g)
    cs = gn.present
    s.blocks.append(Para(f"{g.title}. " + _data_line(gn)))
    src = figs.save(
        "report_1-2_optimizers",
        curves_figure(metric_panels(cs, gn.threshold), panel_size=(4.8, 3.6)),
    )
    s.blocks.append(
        Figure(src, f"All optimizer configurations overlaid ({BAND_NOTE}; × = diverged).")
    )
    s.blocks.append(
        config_table(
            gn,
            extra=[
                ("optimizer", lambda c: c.optimizer),
                ("lr", lambda c: f"{c.lr:g}"),
                ("momentum", lambda c: f"{c.momentum:g}" if c.optimizer != "adam" else "–"),
            ],
        )
    )
    items = obs.ranking_sentences(cs)
    items.append(obs.threshold_sentence(cs, gn.threshold))
    items.append(obs.divergence_sentence(cs))
    s.blocks.append(Bullets(items, "obs", "Observations"))
    claims = [
        obs.claim_adam_lr(cs, gn.horizon, gn.threshold),
        obs.claim_rmsprop_extremes(cs),
        obs.claim_rmsprop_vs_adam(cs),
    ]
    s.blocks.append(Claims(claims))
    inside = across_section(exp, "optimizers")
    if inside is not None:
        s.children.append(inside)
    return s, claims


# --- analysis outputs (1.3, 1.4, 2) -----------------------------------------------------------
def _hint(out_label: str, rel: str, what: str) -> str:
    return f"`convscope analyze {out_label.rstrip('/')}/{rel} --what {what}`"


def _analysis_part(
    exp: Experiment,
    analysed: list[Analysed],
    out_label: str,
    what: str,
    json_patterns: Sequence[str],
    fig_patterns: Sequence[str],
) -> tuple[list[Block], list[tuple[Analysed, list[Path]]]]:
    """Blocks for one analysis kind across analysed runs, and the JSON files found per run."""
    blocks: list[Block] = []
    found: list[tuple[Analysed, list[Path]]] = []
    for a in analysed:
        jsons = a.json(json_patterns)
        pngs = a.figures(fig_patterns)
        if not jsons and not pngs:
            if what in a.what and a.status == "failed":
                blocks.append(
                    Para(
                        f"The analyses of run `{a.label}` failed during `convscope run` (its log "
                        f"says why). Retry with {_hint(out_label, a.rel, what)}.",
                        "warn",
                    )
                )
            elif what in a.what:
                blocks.append(
                    Para(
                        f"`{what}` was requested for run `{a.label}` but has written nothing yet. "
                        f"Fill it with {_hint(out_label, a.rel, what)}.",
                        "missing",
                    )
                )
            continue
        found.append((a, jsons))
        if len(analysed) > 1:
            blocks.append(Para(f"Run `{a.label}` (`{a.rel}`):", "note"))
        blocks.extend(figure_blocks(a, pngs, exp.out))
        for j in jsons:
            blocks.extend(json_blocks(j, exp.out))
    if not found and not blocks:
        target = default_analysis_target(exp)
        blocks.append(
            Para(
                f"The `{what}` analysis has not been run for this output. Fill it with "
                f"{_hint(out_label, target, what)}, then `convscope report {out_label}`.",
                "missing",
            )
        )
    return blocks, found


def section_1_3(
    exp: Experiment, analysed: list[Analysed], out_label: str
) -> tuple[Section, list[Claim]]:
    s = Section("sec-1-3", "1.3", "First convolutional layer weights (Gabor filters)")
    s.blocks.append(
        Para(
            "The first convolutional layer's filters, and how well a 2-D Gabor function fits each "
            "one (fraction of variance explained, R²), against the same network at "
            "initialisation as a control (Zeiler & Fergus 2014, arXiv 1311.2901, §4.1, Fig. 6).",
            "note",
        )
    )
    blocks, found = _analysis_part(
        exp, analysed, out_label, "filters", ["filters*", "gabor*"], ["filters*", "gabor*"]
    )
    s.blocks.extend(blocks)
    data = _first_json(found, obs.gabor_summaries)
    claim = obs.claim_gabor(data, "no filters JSON with Gabor summaries in any analysed run")
    s.blocks.append(Claims([claim]))
    return s, [claim]


def _first_json(found: list[Any], wanted: Callable[[Any], Any]) -> Any:
    """The first readable JSON among the analyses' outputs for which ``wanted`` is truthy."""
    for _, jsons in found:
        for j in jsons:
            try:
                d = io.read_json(j)
            except (ValueError, OSError):
                continue
            if wanted(d):
                return d
    return None


def section_1_4(
    exp: Experiment, analysed: list[Analysed], out_label: str
) -> tuple[Section, list[Claim]]:
    s = Section("sec-1-4", "1.4", "Activation statistics")
    s.blocks.append(
        Para(
            "Statistics of every layer's activations on a fixed batch of test images over "
            "training, when each layer settles, and units that never activate.",
            "note",
        )
    )
    blocks, found = _analysis_part(
        exp,
        analysed,
        out_label,
        "activations",
        ["activations*", "*convergence*", "dead*"],
        ["activations*", "activation_*", "*convergence*", "dead*", "*ridgeline*"],
    )
    s.blocks.extend(blocks)
    conv = _first_json(found, obs.convergence_layers)
    claim = obs.claim_early_layers(conv, "no convergence table in any analysed run")
    s.blocks.append(Claims([claim]))
    return s, [claim]


ZF_PARTS = [
    (
        "deconv",
        "Deconvnet projections",
        "§2.1, Fig. 1",
        "Single activations projected back to pixel space: unpool with the forward pass's "
        "switches, rectify, filter with the transposed weights, down to the input.",
    ),
    (
        "topk",
        "Top-9 activations per feature map",
        "§4, Fig. 2",
        "For each feature map, the 9 strongest activations over the test split (9 distinct "
        "images), each with its projection and the image patch of its receptive field.",
    ),
    (
        "evolution",
        "Feature evolution during training",
        "§4, Fig. 4",
        "The strongest activation of each map, projected, at several checkpoints of training.",
    ),
    (
        "occlusion",
        "Occlusion sensitivity",
        "§4.2, Fig. 7",
        "A grey square slid over the image: the strongest map's total activation, the "
        "probability of the true class, and the most probable class at each position.",
    ),
    (
        "invariance",
        "Invariance to translation, scale and rotation",
        "§4, Fig. 5",
        "Distance between the feature vectors of original and transformed images at a low and a "
        "high layer, and the true-class probability, as the transformation grows.",
    ),
    (
        "correspondence",
        "Correspondence analysis",
        "§4.3, Table 1",
        "Masking the same part in several images of one class against random regions: Δ, the "
        "mean normalised Hamming distance between signs of feature differences (lower = more "
        "consistent correspondence).",
    ),
]


def section_2(exp: Experiment, analysed: list[Analysed], out_label: str) -> Section:
    s = Section("sec-2", "2", "Zeiler & Fergus: visualizing and understanding convnets")
    s.blocks.append(
        Para(
            "Zeiler & Fergus 2014 (arXiv 1311.2901) map activations back to pixel space with a "
            "deconvnet and use it to study what each layer responds to, how features evolve, "
            "what the classifier depends on (occlusion), how invariant layers are, and whether "
            "parts correspond across images. Each analysis below runs on this output's trained "
            "CNN; every sentence under a figure is computed from the saved numbers.",
            "note",
        )
    )
    for i, (what, title, ref, desc) in enumerate(ZF_PARTS, start=1):
        sub = Section(f"sec-2-{i}", f"2.{i}", f"{title} ({ref})")
        sub.blocks.append(Para(desc, "note"))
        blocks, _ = _analysis_part(exp, analysed, out_label, what, [f"zf_{what}*"], [f"zf_{what}*"])
        sub.blocks.extend(blocks)
        s.children.append(sub)
    return s


# --- 3.1 ---------------------------------------------------------------------------------------
CELL_ORDER = {"rnn": 0, "lstm": 1, "gru": 2}


def _size_colors(sizes: Sequence[int]) -> dict[int, Any]:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    n = max(len(sizes) - 1, 1)
    return {h: cmap(0.1 + 0.75 * i / n) for i, h in enumerate(sorted(sizes))}


def section_3_1(exp: Experiment, figs: FigureSink, out_label: str) -> tuple[Section, list[Claim]]:
    s = Section("sec-3-1", "3.1", "Recurrent models: cells × hidden sizes")
    g = exp.group("rnn")
    if g is None or not any(r.curve.steps.size for r in g.runs):
        s.blocks.append(_no_runs(g, "rnn", out_label))
        claims = [
            obs.claim_hidden_units([], 0),
            obs.claim_gru_beats_lstm([]),
            obs.claim_gru_lstm_variation([]),
        ]
        s.blocks.append(Claims(claims))
        return s, claims
    gn = group_numbers(g)
    cs = [c for c in gn.present if c.is_recurrent] or gn.present
    s.blocks.append(
        Para(f"{g.title}. Each image is read row by row (28 steps of 28 pixels). " + _data_line(gn))
    )
    cells = sorted({c.model for c in cs}, key=lambda m: (CELL_ORDER.get(m, 9), m))
    colors = _size_colors(sorted({c.hidden_size for c in cs}))
    panels = []
    for m in METRIC_ORDER:
        for cell in cells:
            sub = sorted((c for c in cs if c.model == cell), key=lambda c: c.hidden_size)
            title, ylabel = METRIC_TITLES[m]
            panels.append(
                Panel(
                    title=f"{cell.upper()} — {title}",
                    ylabel=ylabel,
                    series=[
                        series_of(c, m, f"hidden {c.hidden_size}", colors[c.hidden_size])
                        for c in sub
                        if c.agg[m].steps.size
                    ],
                    hline=gn.threshold if m == "test_accuracy" else None,
                )
            )
    fig = curves_figure(panels, ncols=len(cells), panel_size=(4.4, 3.0), sharey="row")
    src = figs.save("report_3-1_rnn", fig)
    s.blocks.append(Figure(src, f"Rows: metric; columns: cell; colour: hidden size ({BAND_NOTE})."))
    sizes = sorted({c.hidden_size for c in cs})
    pivot = []
    for h in sizes:
        row = [str(h)]
        for cell in cells:
            c = next((c for c in cs if c.model == cell and c.hidden_size == h), None)
            row.append(fmt_ms(c.final_ms, digits=2) if c else "–")
        pivot.append(row)
    s.blocks.append(
        Table(
            ["hidden units", *[c.upper() for c in cells]],
            pivot,
            caption="final test accuracy, mean ± sample std over seeds",
        )
    )
    sub_gn = GroupNumbers(
        gn.group, gn.dataset, gn.n_classes, gn.threshold, gn.threshold_note, gn.horizon, cs
    )
    s.blocks.append(
        config_table(
            sub_gn,
            extra=[("cell", lambda c: c.model.upper()), ("hidden", lambda c: str(c.hidden_size))],
        )
    )
    items = obs.ranking_sentences(cs)
    items.extend(obs.hidden_size_sentences(cs))
    items.append(obs.threshold_sentence(cs, gn.threshold))
    items.append(obs.divergence_sentence(cs))
    s.blocks.append(Bullets(items, "obs", "Observations"))
    claims = [
        obs.claim_hidden_units(cs, gn.horizon),
        obs.claim_gru_beats_lstm(cs),
        obs.claim_gru_lstm_variation(cs),
    ]
    s.blocks.append(Claims(claims))
    return s, claims


# --- 3.2 ---------------------------------------------------------------------------------------
def section_3_2(exp: Experiment, figs: FigureSink, out_label: str) -> tuple[Section, list[Claim]]:
    s = Section("sec-3-2", "3.2", "CNN against RNN")
    g = exp.group("cnn_vs_rnn")
    if g is None or not any(r.curve.steps.size for r in g.runs):
        s.blocks.append(_no_runs(g, "cnn_vs_rnn", out_label))
        claims = [
            obs.claim_cnn_rnn_no_difference([], "?"),
            obs.claim_near_perfect_by_1000([], "?"),
            obs.claim_loss_below([], "?"),
        ]
        s.blocks.append(Claims(claims))
        return s, claims
    gn = group_numbers(g)
    cs = gn.present
    s.blocks.append(
        Para(
            f"{g.title}. All models on the same iteration axis. "
            + _data_line(gn, with_threshold=False)
            + f" Milestones: test accuracy {pct(obs.NEAR_PERFECT, 0)} (the reference's "
            f'"almost perfect") and train loss {obs.LOSS_LEVEL:g}.'
        )
    )
    src = figs.save(
        "report_3-2_cnn_vs_rnn",
        curves_figure(metric_panels(cs, obs.NEAR_PERFECT), panel_size=(4.8, 3.6)),
    )
    s.blocks.append(
        Figure(
            src,
            f"CNN and recurrent models on one iteration axis ({BAND_NOTE}; dotted line: "
            f"{pct(obs.NEAR_PERFECT, 0)}).",
        )
    )
    rows = []
    for c in cs:
        first = c.first_step("test_accuracy", obs.NEAR_PERFECT)
        lo = c.first_step("train_loss", obs.LOSS_LEVEL, below=True)
        rows.append(
            [
                f"`{c.label}`",
                c.model,
                str(len(c.statuses)),
                fmt_ms(c.best_ms, digits=2),
                fmt_ms(c.final_ms, digits=2),
                str(first) if first is not None else "never",
                str(lo) if lo is not None else "never",
                status_text(c),
            ]
        )
    s.blocks.append(
        Table(
            [
                "configuration",
                "model",
                "seeds",
                "best test acc.",
                "final test acc.",
                f"first iteration ≥ {pct(obs.NEAR_PERFECT, 0)}",
                f"first iteration loss < {obs.LOSS_LEVEL:g}",
                "status",
            ],
            rows,
            caption="mean ± sample std over seeds; first iterations from the seed-mean curves",
        )
    )
    items = obs.ranking_sentences(cs, "model")
    items.extend(obs.first_pass_sentences(cs))
    s.blocks.append(Bullets(items, "obs", "Observations"))
    claims = [
        obs.claim_cnn_rnn_no_difference(cs, gn.dataset),
        obs.claim_near_perfect_by_1000(cs, gn.dataset),
        obs.claim_loss_below(cs, gn.dataset),
    ]
    s.blocks.append(Claims(claims))
    return s, claims


# --- other groups, runs, method ------------------------------------------------------------------
KNOWN_GROUPS = ("cnn", "optimizers", "rnn", "cnn_vs_rnn")


def section_other(exp: Experiment, figs: FigureSink) -> Section | None:
    others = [g for n, g in exp.groups.items() if n not in KNOWN_GROUPS]
    if not others:
        return None
    s = Section("sec-other", "", "Other groups")
    for i, g in enumerate(others, start=1):
        sub = Section(f"sec-other-{i}", "", f"{g.title} (`{g.name}`)")
        if not any(r.curve.steps.size for r in g.runs):
            sub.blocks.append(_no_runs(g, g.name, str(exp.out)))
        else:
            gn = group_numbers(g)
            sub.blocks.append(Para(_data_line(gn)))
            src = figs.save(
                f"report_other_{i}", curves_figure(metric_panels(gn.present, gn.threshold))
            )
            sub.blocks.append(Figure(src, f"{g.title} ({BAND_NOTE})."))
            sub.blocks.append(config_table(gn))
            sub.blocks.append(Bullets(obs.ranking_sentences(gn.present), "obs", "Observations"))
        s.children.append(sub)
    return s


def _f(v: Any, fmt: str) -> str:
    if v is None:
        return "–"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    return format(x, fmt) if math.isfinite(x) else str(x)


def section_runs(exp: Experiment, out_label: str) -> Section:
    s = Section("sec-runs", "", "All runs")
    rows = []
    for r, groups in exp.all_runs():
        sm = r.summary or {}
        status = r.status
        if r.diverged and r.diverged_step is not None:
            status += f" at {r.diverged_step}"
        if r.error and r.status in ("diverged", "failed"):
            status += f" ({r.error})"
        best = r.best_test_accuracy
        best_step = sm.get("best_step")
        rows.append(
            [
                f"`{r.label}`",
                ", ".join(groups),
                "–" if r.seed is None else str(r.seed),
                status,
                f"{sm.get('step', r.last_step)}/{sm.get('total_steps', '?')}",
                pct(best)
                + (f" @{best_step}" if best is not None and best_step is not None else ""),
                pct(r.final_test_accuracy),
                _f(sm.get("wall_time_s"), ".1f"),
                _f(sm.get("images_per_second"), ".0f"),
                f"`{r.dir}`",
            ]
        )
    s.blocks.append(
        Table(
            [
                "run",
                "group",
                "seed",
                "status",
                "iterations",
                "best test acc. @iteration",
                "final test acc.",
                "wall time (s)",
                "images/s",
                "directory",
            ],
            rows,
        )
    )
    s.blocks.append(
        Para(
            f"`tensorboard --logdir {out_label}` shows every run (scalars `train_loss`, "
            "`train_accuracy`, `test_accuracy`, activation histograms where recorded) with its "
            "hyperparameters in the HPARAMS tab."
        )
    )
    return s


def section_method(groups: Sequence[GroupNumbers]) -> Section:
    s = Section("sec-method", "", "How the numbers are computed")
    items = list(stats.CHOICES.values())
    for gn in groups:
        items.append(
            f"`{gn.group.name}`: threshold {gn.threshold_note}; speed horizon {gn.horizon} "
            "iterations."
        )
    s.blocks.append(Bullets(items, "text", "Aggregation and thresholds"))
    s.blocks.append(Bullets(list(obs.CLAIM_RULES), "text", "How a reference claim is tested"))
    s.blocks.append(
        Para(
            "Every number in this report is read from the run directories under this output "
            "(metrics.jsonl, summary.json, analysis/*.json); the report never trains. Rerun "
            "`convscope report OUT` after more runs or analyses finish.",
            "note",
        )
    )
    return s


def section_summary(claims: Sequence[Claim]) -> Section:
    s = Section("sec-summary", "", "The reference's claims at a glance")
    counts = Counter(c.verdict for c in claims)
    s.blocks.append(
        Para(
            f"{counts.get('supported', 0)} supported, {counts.get('not supported', 0)} not "
            f"supported, {counts.get('not testable', 0)} not testable with this output. Each "
            "verdict links to its section, where the numbers are."
        )
    )
    rows = [
        [f"[{c.section}](#sec-{c.section.replace('.', '-')})", f"“{c.quote}”", f"**{c.verdict}**"]
        for c in sorted(claims, key=lambda c: c.section)
    ]
    s.blocks.append(Table(["section", "claim (reference report)", "this output"], rows))
    return s


# --- the document ------------------------------------------------------------------------------
def _is_builtin_digits(exp: Experiment) -> bool:
    names = [n.lower() for n in exp.dataset_names()]
    note = exp.data_note.lower()
    return any(n == "digits" for n in names) or "built-in" in note or "builtin" in note


def build_document(exp: Experiment, figs: FigureSink, out_label: str) -> Document:
    """The whole report for ``exp``; report figures are written through ``figs``."""
    analysed = analysed_runs(exp)
    s11, c11 = section_1_1(exp, figs, out_label)
    s12, c12 = section_1_2(exp, figs, out_label)
    s13, c13 = section_1_3(exp, analysed, out_label)
    s14, c14 = section_1_4(exp, analysed, out_label)
    s1 = Section(
        "sec-1",
        "1",
        "Problem 1: a convolutional network (reference: LeNet-5 on CIFAR-10)",
        children=[s11, s12, s13, s14],
    )
    s2 = section_2(exp, analysed, out_label)
    s31, c31 = section_3_1(exp, figs, out_label)
    s32, c32 = section_3_2(exp, figs, out_label)
    s3 = Section(
        "sec-3", "3", "Problem 3: recurrent networks (reference: MNIST)", children=[s31, s32]
    )
    claims = c11 + c12 + c13 + c14 + c31 + c32
    sections = [section_summary(claims), s1, s2, s3]
    other = section_other(exp, figs)
    if other is not None:
        sections.append(other)
    sections.append(section_runs(exp, out_label))
    gns = [group_numbers(g) for g in exp.groups.values() if any(r.curve.steps.size for r in g.runs)]
    sections.append(section_method(gns))

    runs = [r for r, _ in exp.all_runs()]
    status = Counter(r.status for r in runs)
    banner = []
    if _is_builtin_digits(exp):
        banner.append(
            Para(
                "The built-in scikit-learn digits replaced the reference data (CIFAR-10 / MNIST) "
                "in this output: the numbers below are not comparable to the reference report. "
                "Pass --data-root with the reference data to reproduce it.",
                "warn",
            )
        )
    unfinished = len(runs) - status.get("completed", 0) - status.get("diverged", 0)
    if unfinished:
        banner.append(
            Para(
                f"{unfinished} of {len(runs)} runs are not finished ("
                + ", ".join(
                    f"{n} {s}" for s, n in status.items() if s not in ("completed", "diverged")
                )
                + "): sections built from them are partial.",
                "warn",
            )
        )
    meta = [
        ("Experiment", f"{exp.name}" + (f" (`{exp.file}`)" if exp.file else "")),
        ("Profile", exp.profile),
        ("Data", exp.data_note or "(no data note recorded)"),
        ("Data sets used", ", ".join(exp.dataset_names()) or "–"),
        ("Runs", f"{len(runs)}: " + ", ".join(f"{n} {s}" for s, n in status.items())),
        ("Output", f"`{out_label}`"),
        ("TensorBoard", f"`tensorboard --logdir {out_label}`"),
        ("Written by", f"convscope {__version__} (`convscope report {out_label}`)"),
    ]
    return Document(
        title=f"convscope report: {exp.name}",
        meta=meta,
        banner=banner,
        sections=sections,
    )
