"""Per-configuration numbers of a group and the sentences computed from them (nothing canned).

:class:`ConfigStats` holds one configuration's numbers over its seeds; the functions here turn
them into observation sentences. Claims and the rules that test them are in
:mod:`convscope.report.claims`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convscope.models.registry import KINDS
from convscope.report import stats, wording
from convscope.report.results import Configuration
from convscope.report.stats import MeanStd, fmt_ms, fmt_steps, pct, pp

RECURRENT = tuple(k for k, v in KINDS.items() if v.recurrent)  # the model registry says


# --- per-configuration numbers ---------------------------------------------------------------
@dataclass
class ConfigStats:
    """Numbers of one configuration over its seeds (lists are per seed, in run order)."""

    label: str
    config: dict[str, Any]
    n_runs: int
    best: list[float | None]
    final: list[float | None]
    to_threshold: list[int | None]
    speed: list[float]
    diverged_steps: list[int]
    last_steps: list[int]
    agg: dict[str, stats.Aggregate] = field(default_factory=dict)
    statuses: list[str] = field(default_factory=list)  # every listed run, present or not

    @property
    def best_ms(self) -> MeanStd:
        return MeanStd.of(self.best)

    @property
    def final_ms(self) -> MeanStd:
        return MeanStd.of(self.final)

    @property
    def speed_ms(self) -> MeanStd:
        return MeanStd.of(self.speed)

    @property
    def final_mean(self) -> float:
        return self.final_ms.mean

    @property
    def model(self) -> str:
        return str(self.config.get("model", {}).get("model", "?"))

    @property
    def hidden_size(self) -> int:
        return int(self.config.get("model", {}).get("hidden_size") or 0)

    @property
    def optimizer(self) -> str:
        return str(self.config.get("optim", {}).get("optimizer", "?"))

    @property
    def lr(self) -> float:
        return float(self.config.get("optim", {}).get("lr", math.nan))

    @property
    def momentum(self) -> float:
        return float(self.config.get("optim", {}).get("momentum", 0.0))

    @property
    def is_recurrent(self) -> bool:
        return self.model in RECURRENT

    def first_step(self, metric: str, threshold: float, below: bool = False) -> int | None:
        """First step where the seed-mean curve of ``metric`` reaches ``threshold``."""
        a = self.agg.get(metric)
        if a is None or a.steps.size == 0:
            return None
        if below:
            return stats.first_step_below(a.steps, a.mean, threshold)
        return stats.first_step_at_or_above(a.steps, a.mean, threshold)

    @property
    def max_step(self) -> int:
        return max(self.last_steps) if self.last_steps else 0


def horizon(configs: Sequence[Configuration]) -> int:
    """The shortest budget among the compared runs that did not diverge (iterations)."""
    ends = [r.last_step for c in configs for r in c.present if not r.diverged]
    if not ends:
        ends = [r.last_step for c in configs for r in c.present]
    return min(ends) if ends else 0


def config_stats(c: Configuration, threshold: float, horizon_steps: int) -> ConfigStats:
    """Numbers of configuration ``c``: accuracies, iterations to ``threshold``, learning speed."""
    present = c.present
    to_thr, speed = [], []
    for r in present:
        acc = r.curve.values["test_accuracy"]
        to_thr.append(stats.first_step_at_or_above(r.curve.steps, acc, threshold))
        speed.append(stats.mean_over_horizon(r.curve.steps, acc, horizon_steps))
    agg = {
        m: stats.aggregate([(r.curve.steps, r.curve.values[m]) for r in present])
        for m in ("test_accuracy", "train_accuracy", "train_loss")
    }
    return ConfigStats(
        label=c.label,
        config=c.first.config,
        n_runs=len(c.runs),
        best=[r.best_test_accuracy for r in present],
        final=[r.final_test_accuracy for r in present],
        to_threshold=to_thr,
        speed=speed,
        diverged_steps=[int(r.diverged_step) for r in present if r.diverged_step is not None],
        last_steps=[r.last_step for r in present],
        agg=agg,
        statuses=[r.status for r in c.runs],
    )


# --- thresholds ------------------------------------------------------------------------------
KNOWN_THRESHOLDS = {"cifar": 0.40, "mnist": 0.95}


def accuracy_threshold(
    dataset: str, n_classes: int, best_accuracy: float | None
) -> tuple[float, str]:
    """The accuracy for "iterations to reach a threshold", and why.

    CIFAR-10: 40% (four times chance, where the reference's curves separate); MNIST: 95% (the
    reference's "almost perfect"). Other data: half-way from chance to the best accuracy any
    compared configuration reached, rounded down to 5%.
    """
    name = dataset.lower()
    for key, thr in KNOWN_THRESHOLDS.items():
        if key in name:
            return thr, f"{pct(thr, 0)} (fixed for {dataset})"
    chance = 1.0 / max(n_classes, 1)
    best = best_accuracy if best_accuracy is not None and math.isfinite(best_accuracy) else chance
    thr = math.floor(20 * (chance + max(best - chance, 0.0) / 2)) / 20
    thr = max(thr, round(chance + 0.05, 2))
    return thr, (
        f"{pct(thr, 0)} (half-way from chance {pct(chance, 0)} to the best accuracy reached, "
        f"{pct(best)}, rounded down to 5%; {dataset} has no fixed threshold)"
    )


# --- general sentences -----------------------------------------------------------------------
def ranking_sentences(cs: Sequence[ConfigStats], what: str = "configuration") -> list[str]:
    """Best and worst by final test accuracy, with margins."""
    ok = [c for c in cs if c.final_ms.ok]
    if not ok:
        return [f"No {what} has a recorded test accuracy yet."]
    ranked = sorted(ok, key=lambda c: c.final_mean, reverse=True)
    top = ranked[0]
    out = []
    if len(ranked) == 1:
        out.append(
            f"`{top.label}` ended at {fmt_ms(top.final_ms)} test accuracy "
            f"(best {fmt_ms(top.best_ms)})."
        )
        return out
    second = ranked[1]
    out.append(
        f"Best {what}: `{top.label}` with {fmt_ms(top.final_ms)} final test accuracy, "
        f"{pp(top.final_mean - second.final_mean)} ahead of `{second.label}` "
        f"({fmt_ms(second.final_ms)})."
    )
    worst = ranked[-1]
    out.append(
        f"Worst: `{worst.label}` with {fmt_ms(worst.final_ms)}, "
        f"{pp(worst.final_mean - top.final_mean)} below the best."
    )
    return out


def divergence_sentence(cs: Sequence[ConfigStats]) -> str:
    div = [c for c in cs if c.diverged_steps]
    if not div:
        return "No run diverged."
    parts = [
        f"`{c.label}` ({len(c.diverged_steps)}/{len(c.last_steps)} seeds, at iteration "
        f"{', '.join(map(str, c.diverged_steps))})"
        for c in div
    ]
    return "Diverged: " + "; ".join(parts) + "."


def threshold_sentence(cs: Sequence[ConfigStats], threshold: float) -> str:
    reached = [(c, [s for s in c.to_threshold if s is not None]) for c in cs]
    hit = [(c.label, float(np.mean(s)), fmt_steps(c.to_threshold)) for c, s in reached if s]
    never = [c.label for c, s in reached if not s]
    return wording.fastest_slowest(pct(threshold, 0), hit, never)


def single_run_sentences(c: ConfigStats, threshold: float, threshold_note: str) -> list[str]:
    """Section 1.1: what one configuration's curves show."""
    out = []
    a = c.agg
    ta = a["test_accuracy"]
    if ta.steps.size == 0:
        return [f"`{c.label}` has no recorded metrics yet."]
    j = int(np.nanargmax(ta.mean))
    seeds = f"mean over {c.n_runs} seeds" if c.n_runs > 1 else "one seed"
    if j == ta.steps.size - 1:
        head = (
            f"Test accuracy ({seeds}) was highest at the last record, {pct(ta.mean[j])} at "
            f"iteration {int(ta.steps[j])}"
        )
    else:
        head = (
            f"Test accuracy ({seeds}) peaked at {pct(ta.mean[j])} at iteration "
            f"{int(ta.steps[j])} and ended at {pct(ta.mean[-1])} at iteration {int(ta.steps[-1])}"
        )
    out.append(f"{head}; final {fmt_ms(c.final_ms)}, best {fmt_ms(c.best_ms)}.")
    tr = a["train_accuracy"]
    if tr.steps.size:
        gap = tr.mean[-1] - ta.mean[-1]
        verdict = (
            "the network overfits (train accuracy well above test)"
            if gap > 0.05
            else "train and test accuracy are close (little overfitting)"
        )
        out.append(f"Train accuracy ended at {pct(tr.mean[-1])}, {pp(gap)} above test: {verdict}.")
    lo = a["train_loss"]
    fin = np.isfinite(lo.mean)
    if fin.any():
        first, last = lo.mean[fin][0], lo.mean[fin][-1]
        k = int(np.nanargmin(np.where(fin, lo.mean, np.nan)))
        out.append(
            f"Train loss fell from {first:.3f} (first record) to {last:.3f} (lowest "
            f"{lo.mean[k]:.3f} at iteration {int(lo.steps[k])})."
            if last < first
            else f"Train loss did not fall: {first:.3f} at the first record, {last:.3f} at the last."
        )
    out.append(f"Iterations to reach {threshold_note}: {fmt_steps(c.to_threshold)}.")
    if ta.steps.size >= 4:
        # did test accuracy still improve in the last quarter of training?
        q = ta.steps[-1] - (ta.steps[-1] - ta.steps[0]) / 4
        earlier = ta.mean[ta.steps <= q]
        if earlier.size:
            gain = ta.mean[-1] - np.nanmax(earlier)
            out.append(
                f"In the last quarter of training test accuracy changed by {pp(gain)} over its "
                f"earlier best: " + ("still improving." if gain > 0.005 else "it had levelled off.")
            )
    return out


def by_cell(cs: Sequence[ConfigStats]) -> dict[str, list[ConfigStats]]:
    """Recurrent configurations with a final accuracy, per cell type, by hidden size."""
    out: dict[str, list[ConfigStats]] = {}
    for c in cs:
        if c.is_recurrent and c.final_ms.ok:
            out.setdefault(c.model, []).append(c)
    for v in out.values():
        v.sort(key=lambda c: c.hidden_size)
    return out


def hidden_size_sentences(cs: Sequence[ConfigStats]) -> list[str]:
    """Per hidden size, which cell won; per cell, which size won."""
    cells = by_cell(cs)
    out = []
    sizes = sorted({c.hidden_size for v in cells.values() for c in v})
    for h in sizes:
        at = sorted(
            (c for v in cells.values() for c in v if c.hidden_size == h),
            key=lambda c: c.final_mean,
            reverse=True,
        )
        if len(at) >= 2:
            out.append(
                f"h={h}: "
                + " > ".join(f"{c.model.upper()} {pct(c.final_mean)}" for c in at)
                + f" (spread {100 * (at[0].final_mean - at[-1].final_mean):.1f} pp)."
            )
    for cell, v in cells.items():
        if len(v) >= 2:
            best = max(v, key=lambda c: c.final_mean)
            out.append(
                f"{cell.upper()}: best hidden size {best.hidden_size} "
                f"({pct(best.final_mean)}); range over sizes "
                f"{100 * (max(c.final_mean for c in v) - min(c.final_mean for c in v)):.1f} pp."
            )
    return out


def milestone_step(c: ConfigStats, metric: str, level: float) -> int | None:
    """First iteration the seed-mean ``metric`` reaches ``level`` (losses: falls below it)."""
    return c.first_step(metric, level, below=metric.endswith("loss"))


def milestone_text(metric: str, level: float) -> str:
    name = metric.replace("_", " ")
    return (
        f"{name} first < {level:g}"
        if metric.endswith("loss")
        else f"{name} first ≥ {pct(level, 0)}"
    )


def first_pass_sentences(cs: Sequence[ConfigStats], milestones: dict[str, float]) -> list[str]:
    """Per configuration, when each milestone (metric -> level) is first reached."""
    out = []
    for c in cs:
        parts = []
        for metric, level in milestones.items():
            s = milestone_step(c, metric, level)
            if s is not None:
                at = f"iteration {s}"
            else:
                at = f"no iteration (ran {c.max_step})" if not parts else "no iteration"
            parts.append(f"{milestone_text(metric, level)} at {at}")
        out.append(
            f"`{c.label}`: " + "; ".join(parts) + f"; final test accuracy {fmt_ms(c.final_ms)}."
        )
    return out
