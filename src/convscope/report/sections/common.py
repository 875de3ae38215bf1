"""What every group section uses: the report's figure sink, curves of configurations, and the
per-group numbers (threshold, horizon, per-configuration statistics) with their tables."""

from __future__ import annotations

import io as _io
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convscope import io
from convscope.paths import slug, under
from convscope.plots.curves import Panel, Series
from convscope.report import observations as obs
from convscope.report.document import Para, Table
from convscope.report.observations import ConfigStats
from convscope.report.results import Group
from convscope.report.stats import fmt_ms, fmt_steps, pct

METRIC_TITLES = {
    "test_accuracy": ("test accuracy", "accuracy"),
    "train_accuracy": ("train accuracy", "accuracy"),
    "train_loss": ("train loss", "cross-entropy"),
}
METRIC_ORDER = ("test_accuracy", "train_accuracy", "train_loss")


# --- what a figure or table aggregates --------------------------------------------------------
def _seed_counts(cs: Sequence[ConfigStats]) -> list[int]:
    return [len(c.last_steps) for c in cs if c.last_steps]


def band_note(cs: Sequence[ConfigStats]) -> str:
    """What the lines and bands of curves of ``cs`` are (one seed: the run itself, no band)."""
    n = _seed_counts(cs)
    if not n or max(n) < 2:
        return "one seed per configuration: each line is that run, no band"
    if min(n) >= 2:
        k = f"{n[0]} seeds" if len(set(n)) == 1 else "its seeds"
        return f"lines: mean over {k}; shaded band: min–max over seeds"
    return (
        "lines: mean over a configuration's seeds (the legend says how many where there are "
        "several); shaded band: min–max over seeds, only where there are several"
    )


def spread_note(cs: Sequence[ConfigStats]) -> str:
    """What a table's cells of ``cs`` are: mean ± sample std, or single runs."""
    n = _seed_counts(cs)
    if not n or max(n) < 2:
        return "one seed per configuration: each value is that run's (no spread)"
    if min(n) >= 2:
        return "mean ± sample std over seeds"
    return "mean ± sample std over seeds where a configuration has several; one seed: its value"


def clip_note(fig: Any) -> str:
    """A caption sentence for the curves of ``fig`` that leave its cut y axis ("" if none)."""
    from convscope.plots.curves import clipped_curves

    cs = clipped_curves(fig)
    if not cs:
        return ""
    parts = "; ".join(
        f"`{c.label}` ({c.panel}) at iteration {c.exit_step:.0f}, {c.value:.3g} at {c.step}"
        + (f" (max {c.peak:.3g})" if c.peak > c.value else "")
        for c in cs
    )
    return f" ▲ = where a curve leaves the cut y axis, with its first value above it: {parts}."


# --- figures ---------------------------------------------------------------------------------
class FigureSink:
    """Writes the report's own figures as PNG under ``OUT/figures`` (atomically)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.written: list[Path] = []

    def save(self, name: str, fig: Any) -> str:
        """Save ``fig`` as ``figures/<name>.png``; return its path relative to OUT."""
        buf = _io.BytesIO()
        from convscope.plots.save import REPORT_DPI, save_png

        save_png(fig, buf, dpi=REPORT_DPI)
        rel = f"figures/{slug(name)}.png"
        path = under(self.out, rel)
        io.atomic_write_bytes(path, buf.getvalue())
        self.written.append(path)
        return rel


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
    return Table(
        header,
        rows,
        caption=f"every configuration: accuracy, speed, status; {spread_note(gn.present)}",
    )


def no_runs(g: Group, out_label: str) -> Para:
    statuses = Counter(r.status for r in g.runs)
    summary = ", ".join(f"{n} {s}" for s, n in statuses.items()) or "no runs listed"
    return Para(
        f"No run of the `{g.name}` group has recorded metrics yet ({summary}). "
        f"`convscope run EXPERIMENT --out {out_label}` completes it.",
        "missing",
    )


def _values(gn: GroupNumbers, section: str, key: str) -> list[Any]:
    """Distinct values of one config key over every configuration of the group, in order."""
    out: list[Any] = []
    for s in gn.stats:
        v = s.config.get(section, {}).get(key)
        if v not in out:
            out.append(v)
    return out


def _resolved(gn: GroupNumbers, key: str) -> list[Any]:
    """Distinct values of a resolved default (``summary.json``) over the group's runs."""
    out: list[Any] = []
    for r in gn.group.runs:
        v = (r.summary or {}).get(key)
        if v is not None and v not in out:
            out.append(v)
    return out


def _subsample_note(gn: GroupNumbers) -> str:
    """Where records before the last evaluated a test subsample: how many images of how many."""
    pairs: list[tuple[int, int]] = []
    for r in gn.group.runs:
        n_sub = (r.summary or {}).get("test_eval_size")
        n_all = (r.data_info or {}).get("test_size")
        if (
            n_sub is not None
            and n_all is not None
            and n_sub < n_all
            and (n_sub, n_all) not in pairs
        ):
            pairs.append((n_sub, n_all))
    if not pairs:
        return ""
    parts = ", ".join(f"{a} of {b}" for a, b in pairs)
    return f" (test accuracy before the last record on {parts} test images; the last on all)"


def _joined(values: list[Any]) -> str:
    return ", ".join(
        "–" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in values
    )


def data_line(gn: GroupNumbers, with_threshold: bool = True) -> str:
    """Data, budget, batch size and metric cadence of the whole group (every value it uses)."""
    iters = [v for v in _values(gn, "train", "iterations") if v is not None]
    epochs = [v for v in _values(gn, "train", "epochs") if v is not None]
    budget = (
        " / ".join(
            [
                *([f"{_joined(iters)} iterations"] if iters else []),
                *([f"{_joined(epochs)} epochs"] if epochs else []),
            ]
        )
        or "?"
    )
    batch = _values(gn, "train", "batch_size")
    every = _resolved(gn, "eval_every") or _values(gn, "train", "eval_every")
    seeds = sorted({len(s.statuses) for s in gn.stats})
    return (
        f"Data: **{gn.dataset}**; budget {budget}, batch size{'s' if len(batch) > 1 else ''} "
        f"{_joined(batch)}, metrics every {_joined(every)} iterations{_subsample_note(gn)}; "
        + (
            "one seed per configuration."
            if seeds == [1]
            else f"{'/'.join(map(str, seeds))} seeds per configuration."
        )
        + (f' Threshold for "iterations to reach": {gn.threshold_note}.' if with_threshold else "")
    )


def varied_keys(gn: GroupNumbers) -> list[tuple[str, str]]:
    """``(section, key)`` of the config keys whose value differs between configurations."""
    if len(gn.stats) < 2:
        return []
    out = []
    first = gn.stats[0].config
    for section in ("model", "optim", "train", "data"):
        keys = dict.fromkeys(k for s in gn.stats for k in s.config.get(section, {}))
        for k in keys:
            if section == "train" and k in ("seed",):
                continue
            if section == "data" and k in ("data",):
                continue
            vals = [repr(s.config.get(section, {}).get(k)) for s in gn.stats]
            if len(set(vals)) > 1 and not (section == "model" and k == "name"):
                out.append((section, k))
    del first
    return out


def key_value(c: ConfigStats, section: str, key: str) -> str:
    v = c.config.get(section, {}).get(key)
    return "–" if v is None else f"{v:g}" if isinstance(v, float) else str(v)
