"""The combined verdict (weights / labels / both / neither / not testable) from hand-set
verdicts of the two randomisation tests."""

from __future__ import annotations

import json
import math

import pytest

from convscope.analysis.sanity import verdicts as V
from convscope.studies.sanity.combined import ANSWERS, combined_table, combined_verdict


@pytest.mark.parametrize(
    ("w", "lab", "answer"),
    [
        (0.1, 0.2, "weights and labels"),
        (0.1, 0.8, "weights only"),
        (0.9, 0.2, "labels only"),
        (0.9, 0.8, "neither"),
        (V.RHO_THRESHOLD, 0.1, "labels only"),  # at the threshold: does not depend
    ],
)
def test_the_four_answers(w: float, lab: float, answer: str) -> None:
    c = combined_verdict(V.depends(w, "weights"), V.depends(lab, "labels"))
    assert c["answer"] == answer
    assert c["weights"] == {
        "testable": True,
        "passes": w < V.RHO_THRESHOLD,
        "value": w,
        "threshold": V.RHO_THRESHOLD,
        "statistic": V.STAT_WEIGHTS,
        "words": V.depends(w, "weights")["words"],
    }
    assert c["labels"]["value"] == lab and c["labels"]["statistic"] == V.STAT_LABELS
    assert f"{w:.2f}" in c["evidence"] and f"{lab:.2f}" in c["evidence"]
    assert str(V.RHO_THRESHOLD) in c["rule"] and c["why"] == V.RHO_WHY
    json.dumps(c, allow_nan=False)  # what the study writes


def test_one_undecided_test_makes_it_not_testable_and_says_what_is_known() -> None:
    twin = V.untestable("the twin did not fit the permuted labels")
    c = combined_verdict(V.depends(0.1, "weights"), twin)
    assert c["answer"] == "not testable"
    assert c["labels"]["testable"] is False and c["labels"]["passes"] is None
    assert "weights: depends on the weights (0.10)" in c["words"]
    assert "labels: untestable: the twin did not fit" in c["words"]
    # a constant trained map (NaN statistic) decides nothing either
    c = combined_verdict(V.depends(math.nan, "weights"), V.depends(0.1, "labels"))
    assert c["answer"] == "not testable" and c["weights"]["value"] is None
    assert "labels: depends on the labels (0.10)" in c["words"]


def test_a_test_not_run_is_named() -> None:
    c = combined_verdict(None, V.depends(0.1, "labels"), missing_weights="no sanity.json")
    assert c["answer"] == "not testable" and "weights: not run: no sanity.json" in c["words"]
    c = combined_verdict(V.depends(0.1, "weights"), None)
    assert c["answer"] == "not testable" and "labels: not run" in c["words"]


def test_every_answer_is_listed_and_the_table_has_one_row_per_method() -> None:
    saved = {
        "numbers": {
            "combined": {
                "saliency": combined_verdict(V.depends(0.1, "weights"), V.depends(0.2, "labels")),
                "deconvnet": combined_verdict(V.depends(0.9, "weights"), None),
            }
        }
    }
    assert {c["answer"] for c in saved["numbers"]["combined"].values()} <= set(ANSWERS)
    t = combined_table(saved)
    assert [r[0] for r in t.rows] == ["saliency", "deconvnet"]
    assert t.rows[0][1:] == [
        "0.10 (depends)",
        "0.20 (depends)",
        "depends on the weights and on the labels",
    ]
    assert t.rows[1][1] == "0.90 (does not depend)" and t.rows[1][2].startswith("not run")
