"""Statistics over Gabor fits: how many filters are Gabor-like, trained against the control.

The fits themselves are :mod:`convscope.analysis.gabor` (which re-exports these names); this
module only counts R² values, tests trained against initialisation and says it in one sentence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from convscope.errors import ConvscopeError
from convscope.formatting import pct

THRESHOLDS = (0.5, 0.8)


def summarize_r2(r2: np.ndarray, thresholds: tuple[float, ...] = THRESHOLDS) -> dict[str, Any]:
    """Counts and shares of filters with ``R^2 >`` each threshold (NaN counts as not fit)."""
    r = np.asarray(r2, dtype=np.float64).ravel()
    n = int(r.size)
    if n == 0:
        raise ConvscopeError("Gabor summary: no filters")
    out: dict[str, Any] = {"n": n}
    for t in thresholds:
        c = int(np.sum(np.nan_to_num(r, nan=-np.inf) > t))
        out[f"n_above_{t:g}"] = c
        out[f"share_above_{t:g}"] = c / n
    finite = r[np.isfinite(r)]
    out["median_r2"] = float(np.median(finite)) if finite.size else float("nan")
    out["mean_r2"] = float(np.mean(finite)) if finite.size else float("nan")
    out["r2"] = r.tolist()
    return out


def compare_gabor(
    trained: dict[str, Any], init: dict[str, Any], alpha: float = 0.05, paired: bool = False
) -> dict[str, Any]:
    """Are the trained filters more Gabor-like than at initialisation? From two
    :func:`summarize_r2` dicts.

    One-sided (trained > init) at level ``alpha`` on the filters' R^2 values when the summaries
    carry them: with ``paired`` (filter ``i`` trained is filter ``i`` at initialisation) a
    Wilcoxon signed-rank test on the per-filter differences, else a Mann-Whitney U test.
    Without R^2 lists: a larger share above 0.5.

    Returns:
        ``{"test", "alpha", "p", "better", "median_trained", "median_init", "n_rose", "n"}``
        (``p`` and the medians are None when no test could be made).
    """
    for name, s in (("trained", trained), ("init", init)):
        if "n" not in s or "n_above_0.5" not in s or "n_above_0.8" not in s:
            raise ConvscopeError(
                f"Gabor comparison: {name} summary lacks n / n_above_0.5 / n_above_0.8"
            )
    out: dict[str, Any] = {
        "test": "share above 0.5",
        "alpha": alpha,
        "p": None,
        "better": trained["n_above_0.5"] / trained["n"] > init["n_above_0.5"] / init["n"],
        "median_trained": None,
        "median_init": None,
        "n_rose": None,
        "n": None,
    }
    rt, ri = trained.get("r2"), init.get("r2")
    if rt is None or ri is None:
        return out
    a = np.asarray([np.nan if v is None else v for v in rt], dtype=float)
    b = np.asarray([np.nan if v is None else v for v in ri], dtype=float)
    out["better"] = False
    if paired:
        if a.shape != b.shape:
            raise ConvscopeError(
                f"Gabor comparison: paired comparison needs as many trained as initial "
                f"filters, got {a.size} and {b.size}"
            )
        keep = np.isfinite(a) & np.isfinite(b)
        a, b = a[keep], b[keep]
        d = a - b
        out.update(test="one-sided Wilcoxon signed-rank (paired by filter)", n=int(d.size))
        if d.size and np.any(d != 0):
            out.update(
                p=float(stats.wilcoxon(d, alternative="greater").pvalue), n_rose=int(np.sum(d > 0))
            )
    else:
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        out.update(test="one-sided Mann-Whitney U", n=int(a.size))
        if a.size and b.size:
            out["p"] = float(stats.mannwhitneyu(a, b, alternative="greater").pvalue)
    if out["p"] is not None:
        out.update(
            better=out["p"] < alpha,
            median_trained=float(np.median(a)),
            median_init=float(np.median(b)),
        )
    return out


def gabor_sentence(
    trained: dict[str, Any], init: dict[str, Any], alpha: float = 0.05, paired: bool = False
) -> str:
    """The report's sentence about Gabor-like filters, from :func:`compare_gabor`'s numbers."""
    c = compare_gabor(trained, init, alpha, paired)
    nt, ni = trained["n"], init["n"]
    head = (
        f"After training, {trained['n_above_0.5']} of {nt} first-layer filters "
        f"({pct(trained['n_above_0.5'] / nt)}) are fit by a 2-D Gabor function with R^2 > 0.5 "
        f"({pct(trained['n_above_0.8'] / nt)} above 0.8), against {init['n_above_0.5']} of {ni} "
        f"({pct(init['n_above_0.5'] / ni)}; {pct(init['n_above_0.8'] / ni)} above 0.8) "
        "at initialisation"
    )
    if c["p"] is not None:
        rose = (
            f"; per filter, R^2 rose for {c['n_rose']} of {c['n']}"
            if c["n_rose"] is not None
            else ""
        )
        head += (
            f" (median R^2 {c['median_trained']:.2f} vs {c['median_init']:.2f}{rose}; "
            f"{c['test'].split(' (')[0]} p = {c['p']:.2g})"
        )
    better = c["better"]
    share8 = trained["n_above_0.8"] / nt
    share5 = trained["n_above_0.5"] / nt
    if not better:
        verdict = "the trained filters are no more Gabor-like than random initial weights"
    elif share8 >= 0.5:
        verdict = "the filters are measurably Gabor-like, most of them closely (R^2 > 0.8)"
    elif share5 >= 0.5:
        n8 = trained["n_above_0.8"]
        closely = "none is fit with R^2 > 0.8" if n8 == 0 else f"only {n8} of {nt} with R^2 > 0.8"
        verdict = (
            "the filters are measurably more Gabor-like than at initialisation, but only "
            f"loosely: {closely}"
        )
    else:
        verdict = (
            "training made the filters more Gabor-like than at initialisation, but most are "
            "still not fit by a Gabor function (R^2 <= 0.5)"
        )
    return f"{head}: {verdict}."
