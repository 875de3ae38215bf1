"""Numbers the report is written from: seed aggregates, threshold crossings, learning speed.

Choices (stated in the report's "How the numbers are computed" list, :data:`CHOICES`):

- Spread over seeds: curves show the mean and a band from the minimum to the maximum over
  seeds; tables give mean ± sample standard deviation (``ddof=1``) over seeds.
- At each recorded step the mean is over the seeds that have a finite value there, so a
  diverged seed leaves the mean at its divergence step.
- "Iterations to reach a threshold": the first recorded step whose value is at or above it
  (accuracy) / below it (loss); metrics are recorded every ``eval_every`` iterations, so this
  is exact to that resolution.
- Learning speed: the mean test accuracy over the first ``horizon`` iterations (normalised
  area under the curve, trapezoidal, from the first record; after a run's last record, its
  last value is carried forward). ``horizon`` is the shortest budget among the runs compared.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from convscope.formatting import mean_sd
from convscope.formatting import pct as pct  # re-exported: the report's modules import them here
from convscope.formatting import pp as pp

CHOICES = {
    "spread": "curves: mean over seeds with a min–max band; tables: mean ± sample std "
    "(ddof = 1) over seeds; a single seed shows its value alone",
    "mean_at_step": "at each recorded step the mean is over the seeds with a finite value there",
    "threshold_step": "iterations to reach a threshold = first recorded step at or above it "
    "(below it for the loss); resolution = the run's eval_every",
    "speed": "learning speed = mean test accuracy over the first H iterations (trapezoidal area "
    "under the curve / H, last value carried forward), H = shortest budget of the runs compared",
}


@dataclass(frozen=True)
class Aggregate:
    """A metric over seeds at each step. Every array is ``(T,)``; ``count`` seeds per step."""

    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    std: np.ndarray
    count: np.ndarray


def aggregate(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> Aggregate:
    """Mean, min, max and sample std over seeds at every step any seed recorded.

    Args:
        curves: per seed ``(steps (T_i,), values (T_i,))``; non-finite values are left out.
    """
    all_steps = np.unique(
        np.concatenate([np.zeros(0, np.int64)] + [np.asarray(s, dtype=np.int64) for s, _ in curves])
    )
    if all_steps.size == 0:
        e = np.zeros(0)
        return Aggregate(np.zeros(0, np.int64), e, e, e, e, np.zeros(0, np.int64))
    table = np.full((len(curves), all_steps.size), np.nan)
    for i, (s, v) in enumerate(curves):
        idx = np.searchsorted(all_steps, np.asarray(s, dtype=np.int64))
        table[i, idx] = np.asarray(v, dtype=np.float64)
    table[~np.isfinite(table)] = np.nan
    count = np.sum(np.isfinite(table), axis=0)
    keep = count > 0
    table, steps, count = table[:, keep], all_steps[keep], count[keep]
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(table, axis=0)
        std = np.array(
            [np.nanstd(table[:, j], ddof=1) if count[j] > 1 else 0.0 for j in range(steps.size)]
        )
    return Aggregate(steps, mean, np.nanmin(table, axis=0), np.nanmax(table, axis=0), std, count)


def first_step_at_or_above(steps: np.ndarray, values: np.ndarray, threshold: float) -> int | None:
    """First step whose value is ``>= threshold`` (None if never); ``steps``/``values`` ``(T,)``."""
    v = np.asarray(values, dtype=np.float64)
    hit = np.nonzero(np.isfinite(v) & (v >= threshold))[0]
    return int(np.asarray(steps)[hit[0]]) if hit.size else None


def first_step_below(steps: np.ndarray, values: np.ndarray, threshold: float) -> int | None:
    """First step whose value is ``< threshold`` (None if never); ``steps``/``values`` ``(T,)``."""
    v = np.asarray(values, dtype=np.float64)
    hit = np.nonzero(np.isfinite(v) & (v < threshold))[0]
    return int(np.asarray(steps)[hit[0]]) if hit.size else None


def mean_over_horizon(steps: np.ndarray, values: np.ndarray, horizon: int) -> float:
    """Mean of the piecewise-linear curve over ``[steps[0], horizon]`` (NaN if no finite value).

    Beyond the last finite record the last value is carried forward (np.interp's rule), so a
    run that stopped early (diverged) keeps its last accuracy.
    """
    s = np.asarray(steps, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    s, v = s[ok], v[ok]
    if s.size == 0:
        return math.nan
    start = float(s[0])
    if horizon <= start:
        return float(v[0])
    grid = np.unique(np.concatenate([s[s <= horizon], [float(horizon)]]))
    y = np.interp(grid, s, v)
    area = float(np.sum((y[1:] + y[:-1]) * np.diff(grid) / 2.0))
    return area / (float(horizon) - start)


@dataclass(frozen=True)
class MeanStd:
    """Mean ± sample std of the finite values among ``n_total`` (``n`` finite)."""

    mean: float
    std: float
    n: int
    n_total: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> MeanStd:
        finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        n = len(finite)
        mean = float(np.mean(finite)) if n else math.nan
        std = float(np.std(finite, ddof=1)) if n > 1 else 0.0
        return cls(mean, std, n, len(values))

    @property
    def ok(self) -> bool:
        return self.n > 0


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties); NaN if either side is constant."""
    from scipy import stats

    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.size < 2 or np.all(xa == xa[0]) or np.all(ya == ya[0]):
        return math.nan
    rx, ry = stats.rankdata(xa), stats.rankdata(ya)
    return float(np.corrcoef(rx, ry)[0, 1])


# --- formatting ------------------------------------------------------------------------------
def fmt_ms(m: MeanStd, percent: bool = True, digits: int = 1) -> str:
    """``"41.2 ± 1.3%"`` (or ``"41.2%"`` with one value; ``"–"`` with none)."""
    if not m.ok:
        return "–"
    text = mean_sd(m.mean, m.std, m.n, digits, percent)
    if m.n < m.n_total:
        text += f" ({m.n}/{m.n_total} seeds)"
    return text


def fmt_steps(steps: Sequence[int | None]) -> str:
    """Iterations to a threshold over seeds: ``"1200"``, ``"1200 ± 141"``, ``"1300 (2/3 seeds)"``,
    ``"never"``."""
    hit = [s for s in steps if s is not None]
    if not hit:
        return "never"
    text = f"{np.mean(hit):.0f}"
    if len(hit) > 1:
        text += f" ± {np.std(hit, ddof=1):.0f}"
    if len(hit) < len(steps):
        text += f" ({len(hit)}/{len(steps)} seeds)"
    return text
