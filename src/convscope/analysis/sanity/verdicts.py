"""Verdicts in words from the sanity checks' numbers, each with its statistic, threshold and
the reason for that threshold (recorded next to the numbers).

* weights (Adebayo et al. 2018, §3.1): the Spearman rank correlation of |map| between the
  trained model and the fully randomised one (the cascade's end), averaged over the images,
  for the *worst* seed (the largest). Below :data:`RHO_THRESHOLD` the map depends on the
  weights.
* labels (§3.2): the same statistic between the trained model and its twin trained on
  permuted labels (one twin: no seed spread).
* faithfulness (Petsiuk et al. 2018): the per-image difference between the method's area and
  the random order's; the order beats random when the mean difference is more than
  :data:`SE_THRESHOLD` standard errors on the right side (deletion lower, insertion higher).
"""

from __future__ import annotations

from typing import Any

import numpy as np

RHO_THRESHOLD = 0.5
RHO_WHY = (
    "a rank correlation of 0.5 shares a quarter of the rank variance (rho^2 = 0.25); at or "
    "above it the map keeps most of its pixel ordering when the weights (or labels) it should "
    "reflect are destroyed, the failure Adebayo et al. 2018 show for guided backprop"
)
SE_THRESHOLD = 2.0
SE_WHY = (
    "two standard errors of the mean paired difference over the images: about a 5% chance "
    "that an order no better than random passes"
)


def depends(stat: float, what: str) -> dict[str, Any]:
    """``what`` is "weights" or "labels"; the verdict on one method from its statistic (NaN:
    the trained maps are constant, nothing to compare)."""
    ok = bool(stat < RHO_THRESHOLD)
    return {
        "statistic": "mean over images of Spearman rho(|trained map|, |randomised map|)"
        + (", largest over seeds" if what == "weights" else ""),
        "value": float(stat),
        "threshold": RHO_THRESHOLD,
        "why": RHO_WHY,
        "passes": ok,
        "words": f"depends on the {what}"
        if ok
        else "untestable: the trained maps are constant"
        if np.isnan(stat)
        else f"does not depend on the {what}",
    }


def faithful(method_area: np.ndarray, random_area: np.ndarray, kind: str) -> dict[str, Any]:
    """``kind`` "deletion" (lower is better) or "insertion" (higher is better); ``(N,)`` each."""
    d = np.asarray(method_area, np.float64) - np.asarray(random_area, np.float64)
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("inf")
    mean = float(d.mean())
    sign = -1.0 if kind == "deletion" else 1.0
    ok = bool(se > 0 and sign * mean > SE_THRESHOLD * se) or bool(se == 0 and sign * mean > 0)
    return {
        "statistic": f"mean over images of ({kind} area of the method - of a random order)",
        "value": mean,
        "standard_error": se,
        "threshold": f"{'below -' if sign < 0 else 'above '}{SE_THRESHOLD:g} standard errors",
        "why": SE_WHY,
        "passes": ok,
        "words": "beats a random order" if ok else "no better than a random order",
    }


def summary_words(weights: dict[str, Any] | None, labels: dict[str, Any] | None) -> str:
    """ "depends on the weights and the labels" / "on the weights" / "on the labels" /
    "neither"; a test not run is said so."""
    if labels is None:
        return "" if weights is None else weights["words"] + " (the label test was not run)"
    w = weights is not None and weights["passes"]
    lab = labels["passes"]
    if w and lab:
        return "depends on the weights and on the labels"
    if w:
        return "depends on the weights, not on the labels"
    if lab:
        return "depends on the labels, not on the weights"
    return "neither"
