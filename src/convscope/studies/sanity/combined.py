"""The combined verdict per method: does the map depend on the weights, on the labels, on both,
or on neither? From the two randomisation tests' verdicts (Adebayo et al. 2018, §3.1 and §3.2),
each a dict of :mod:`convscope.analysis.sanity.verdicts` (``depends`` or ``untestable``).

A test is *testable* when it ran and gave a finite statistic; the label test also needs a twin
that fitted the permuted labels (``sanity_labels`` makes it untestable otherwise). Only when
both are testable is the answer one of the four; otherwise it is "not testable" and the words
say what one test found and why the other decided nothing, so no partial result reads like a
full one.
"""

from __future__ import annotations

import math
from typing import Any

from convscope.analysis.sanity.verdicts import RHO_THRESHOLD, RHO_WHY

ANSWERS = ("weights and labels", "weights only", "labels only", "neither", "not testable")
RULE = (
    f"a map depends on the weights (labels) when its rank correlation with the map of the "
    f"randomised-weights model (the permuted-label twin) is below {RHO_THRESHOLD} for both "
    "|map| and the signed map; the answer needs both tests decided"
)
WORDS = {
    "weights and labels": "depends on the weights and on the labels",
    "weights only": "depends on the weights, not on the labels",
    "labels only": "depends on the labels, not on the weights",
    "neither": "depends on neither the weights nor the labels",
}


def _test(v: dict[str, Any] | None, what: str, missing: str) -> dict[str, Any]:
    if v is None:
        return {"testable": False, "passes": None, "value": None, "words": f"not run: {missing}"}
    value = v.get("value")
    ok = value is not None and math.isfinite(float(value))
    return {
        "testable": ok,
        "passes": bool(v["passes"]) if ok else None,
        "value": float(value) if ok else None,
        "threshold": v.get("threshold", RHO_THRESHOLD),
        "statistic": v.get("statistic"),
        "words": v.get("words") or (f"depends on the {what}" if v["passes"] else "untestable"),
    }


def combined_verdict(
    weights: dict[str, Any] | None,
    labels: dict[str, Any] | None,
    missing_weights: str = "the sanity analysis of the run found no result for this method",
    missing_labels: str = "no label test for this method",
) -> dict[str, Any]:
    """``{"answer": one of ANSWERS, "words", "weights": {...}, "labels": {...}, "rule", "why"}``
    from the two tests' verdict dicts (None: the test was not run; the ``missing_*`` words say
    why)."""
    w = _test(weights, "weights", missing_weights)
    lab = _test(labels, "labels", missing_labels)
    if w["testable"] and lab["testable"]:
        answer = {
            (True, True): "weights and labels",
            (True, False): "weights only",
            (False, True): "labels only",
            (False, False): "neither",
        }[(w["passes"], lab["passes"])]
        words = WORDS[answer]
        why = (
            f"rank correlation with the randomised-weights maps {w['value']:.2f}, with the "
            f"permuted-label twin's {lab['value']:.2f}; threshold < {RHO_THRESHOLD}"
        )
    else:
        answer = "not testable"
        parts = [
            f"weights: {w['words']}" + (f" ({w['value']:.2f})" if w["testable"] else ""),
            f"labels: {lab['words']}" + (f" ({lab['value']:.2f})" if lab["testable"] else ""),
        ]
        words = "not testable (" + "; ".join(parts) + ")"
        why = "a combined answer needs both tests decided"
    return {
        "answer": answer,
        "words": words,
        "evidence": why,
        "weights": w,
        "labels": lab,
        "rule": RULE,
        "why": RHO_WHY,
    }


def combined_table(saved: dict[str, Any]) -> Any:
    """The report's table: one row per method, the two tests' statistics and the answer."""
    from convscope.report.document import Table

    def cell(t: dict[str, Any]) -> str:
        if not t["testable"]:
            return t["words"]
        return f"{t['value']:.2f} ({'depends' if t['passes'] else 'does not depend'})"

    rows = [
        [m, cell(c["weights"]), cell(c["labels"]), c["words"]]
        for m, c in ((saved.get("numbers") or {}).get("combined") or {}).items()
    ]
    header = ["method", "weights: rank corr.", "labels: rank corr.", "combined verdict"]
    caption = (
        "Rank correlation (the larger of |map| and signed, mean over images) of the trained "
        "model's maps with those of the fully randomised model (worst seed) and of the "
        f"permuted-label twin; a map depends on what it is compared against below {RHO_THRESHOLD}."
    )
    return Table(header, rows, caption)
