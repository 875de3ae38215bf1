"""Is a difference between configurations more than seed noise? Welch's t and Holm–Bonferroni.

Choices (recorded in :data:`TEST_CHOICES`):

- Two configurations are compared on the values of their seeds with Welch's unequal-variance
  t-test, two-sided. Fewer than two finite values on a side: no test (``p = None``).
- Both sides without spread (every seed equal, e.g. 0 dead units in every seed): equal values
  give ``p = 1``; different values give ``p = 0``, flagged ``exact`` (no spread to test against).
- Each configuration is compared with one reference configuration; the ``k`` comparisons of a
  quantity are one family, corrected with Holm's step-down method (Holm 1979): the ``i``-th
  smallest p-value is multiplied by ``k - i + 1``, made monotone, capped at 1.
- A difference is called significant when the Holm-adjusted p is below ``alpha``.
- Seeds *disagree* about a comparison when some of a configuration's seeds lie above the
  reference's mean and some below it: the seeds do not even agree on the direction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05

TEST_CHOICES = {
    "test": "Welch's unequal-variance t-test, two-sided, on the per-seed values",
    "no_spread": "both sides without spread: p = 1 if the values are equal, else p = 0 (exact)",
    "correction": "Holm-Bonferroni over the comparisons of one quantity with the reference",
    "alpha": f"significant when the Holm-adjusted p < {ALPHA:g}",
    "seeds_disagree": "some seeds of a configuration above the reference mean and some below",
}


@dataclass(frozen=True)
class Welch:
    """Result of :func:`welch`: ``t``, degrees of freedom ``df`` and two-sided ``p``."""

    t: float | None
    df: float | None
    p: float | None
    exact: bool = False


def finite(values: Sequence[float | None]) -> np.ndarray:
    """The finite values of ``values`` as float64 ``(n,)`` (None, NaN, inf left out)."""
    v = np.asarray([math.nan if x is None else float(x) for x in values], dtype=np.float64)
    return v[np.isfinite(v)]


def welch(
    a: Sequence[float | None], b: Sequence[float | None], *, numpy_moments: bool = False
) -> Welch:
    """Two-sided Welch t-test of ``a`` against ``b`` (finite values only): the one Welch test,
    :func:`scipy.stats.ttest_ind` with ``equal_var=False``.

    Args:
        numpy_moments: take the means and variances from numpy (``np.var(ddof=1)``) and ``t``
            and the Welch–Satterthwaite ``df`` from their textbook formulas, the p-value from
            scipy's t distribution. scipy computes the variance as a central moment times
            ``n / (n - 1)``, which differs in the last bit in about one case in ten (relative
            difference under 3e-15); the across-sweep study saves ``t``, ``df`` and ``p`` in its
            JSON and passes True so that those numbers stay what they were, bit for bit.
    """
    from scipy import stats

    x, y = finite(a), finite(b)
    if x.size < 2 or y.size < 2:
        return Welch(None, None, None)
    vx, vy = float(np.var(x, ddof=1)), float(np.var(y, ddof=1))
    if vx == 0.0 and vy == 0.0:
        same = float(np.mean(x)) == float(np.mean(y))
        return Welch(0.0 if same else None, None, 1.0 if same else 0.0, exact=not same)
    if not numpy_moments:
        r = stats.ttest_ind(x, y, equal_var=False)
        return Welch(float(r.statistic), float(r.df), min(float(r.pvalue), 1.0))
    sx, sy = vx / x.size, vy / y.size
    t = (float(np.mean(x)) - float(np.mean(y))) / math.sqrt(sx + sy)
    df = (sx + sy) ** 2 / (sx**2 / (x.size - 1) + sy**2 / (y.size - 1))
    p = float(2.0 * stats.t.sf(abs(t), df))
    return Welch(float(t), float(df), min(p, 1.0))


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm–Bonferroni adjusted p-values, in the input order; None stays None and does not
    count as a comparison."""
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    k = len(idx)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda j: (pvalues[j], j))):
        running = max(running, min(1.0, (k - rank) * float(pvalues[i])))  # type: ignore[arg-type]
        out[i] = running
    return out


def seeds_disagree(
    values: Sequence[float | None],
    reference_mean: float,
    reference_values: Sequence[float | None] | None = None,
) -> bool:
    """Some seeds above ``reference_mean`` and some below it; never when the values are the
    reference's own (e.g. the initialisation, which depends on the seed alone)."""
    v = finite(values)
    if reference_values is not None:
        r = finite(reference_values)
        if v.size == r.size and np.allclose(np.sort(v), np.sort(r), rtol=0, atol=1e-12):
            return False
    return bool(np.any(v > reference_mean) and np.any(v < reference_mean))


@dataclass(frozen=True)
class Comparison:
    """One configuration against the reference on one quantity."""

    label: str
    reference: str
    n: int
    n_reference: int
    mean: float
    mean_reference: float
    difference: float
    t: float | None
    df: float | None
    p: float | None
    p_holm: float | None
    significant: bool
    exact: bool
    seeds_disagree: bool


def compare_to_reference(
    values: dict[str, Sequence[float | None]],
    reference: str,
    alpha: float = ALPHA,
    numpy_moments: bool = False,
) -> list[Comparison]:
    """Every configuration but ``reference`` against it, Holm-corrected as one family.

    Args:
        values: configuration label -> its per-seed values, in display order.
        reference: the label compared against (must be a key of ``values``).
        numpy_moments: passed to :func:`welch` (the across-sweep study's saved numbers).
    """
    if reference not in values:
        raise KeyError(reference)
    ref = finite(values[reference])
    ref_mean = float(np.mean(ref)) if ref.size else math.nan
    others = [k for k in values if k != reference]
    tests = [welch(values[k], values[reference], numpy_moments=numpy_moments) for k in others]
    adjusted = holm([w.p for w in tests])
    out = []
    for k, w, ph in zip(others, tests, adjusted, strict=True):
        v = finite(values[k])
        mean = float(np.mean(v)) if v.size else math.nan
        out.append(
            Comparison(
                label=k,
                reference=reference,
                n=int(v.size),
                n_reference=int(ref.size),
                mean=mean,
                mean_reference=ref_mean,
                difference=mean - ref_mean,
                t=w.t,
                df=w.df,
                p=w.p,
                p_holm=ph,
                significant=ph is not None and ph < alpha,
                exact=w.exact,
                seeds_disagree=(
                    seeds_disagree(values[k], ref_mean, values[reference]) if ref.size else False
                ),
            )
        )
    return out
