"""Verdicts in words from the sanity checks' numbers, each with its statistic, threshold and
the reason for that threshold (recorded next to the numbers).

* weights (Adebayo et al. 2018, §3.1): the Spearman rank correlations of |map| and of the
  signed map between the trained model and the fully randomised one (the cascade's end),
  each averaged over the images, the larger of the two, for the *worst* seed (the largest).
  Below :data:`RHO_THRESHOLD` the map depends on the weights. Both orderings count: guided
  backprop can lose the order of its magnitudes yet keep the sign pattern of the image's
  edges.
* labels (§3.2): the same statistic between the trained model and its twin trained on
  permuted labels, testable only when the twin fitted them (its training accuracy reached
  the target): a twin that learned nothing has trivially different (often constant) maps.
* faithfulness (Petsiuk et al. 2018): per image, the method's area minus the random order's;
  the order beats random when a one-sided Wilcoxon signed-rank test over the images gives
  p < :data:`P_THRESHOLD` (deletion lower, insertion higher).
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
P_THRESHOLD = 0.05
P_WHY = (
    "a one-sided Wilcoxon signed-rank test of the paired per-image differences: no normality "
    "assumed and robust to the one image whose class probability stays high under any order; "
    "p < 0.05 gives about a 5% chance that an order no better than random passes"
)
STAT_WEIGHTS = (
    "mean over images of Spearman rho between trained and fully randomised maps, the larger "
    "of |map| and signed map, largest over seeds"
)
STAT_LABELS = (
    "mean over images of Spearman rho between the maps of the model and of its permuted-label "
    "twin, the larger of |map| and signed map"
)


def depends(stat: float, what: str) -> dict[str, Any]:
    """``what`` is "weights" or "labels"; the verdict on one method from its statistic (NaN:
    the trained maps are constant, nothing to compare)."""
    ok = bool(stat < RHO_THRESHOLD)
    return {
        "statistic": STAT_WEIGHTS if what == "weights" else STAT_LABELS,
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
    from scipy.stats import wilcoxon

    d = np.asarray(method_area, np.float64) - np.asarray(random_area, np.float64)
    alternative = "less" if kind == "deletion" else "greater"
    decided = len(d) > 0 and not np.all(d == 0)
    p = float(wilcoxon(d, alternative=alternative).pvalue) if decided else 1.0
    ok = bool(p < P_THRESHOLD)
    return {
        "statistic": f"per image: {kind} area of the method - of a random order; one-sided "
        f"Wilcoxon signed-rank p ({'method lower' if kind == 'deletion' else 'method higher'})",
        "value": float(d.mean()) if len(d) else float("nan"),
        "p": p,
        "images_better": int((d < 0).sum() if kind == "deletion" else (d > 0).sum()),
        "images": len(d),
        "threshold": f"p < {P_THRESHOLD}",
        "why": P_WHY,
        "passes": ok,
        "words": "beats a random order" if ok else "no better than a random order",
    }


def untestable(why: str) -> dict[str, Any]:
    """A test that could not be decided, and why."""
    return {
        "statistic": None,
        "value": None,
        "threshold": RHO_THRESHOLD,
        "why": RHO_WHY,
        "passes": False,
        "words": f"untestable: {why}",
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
