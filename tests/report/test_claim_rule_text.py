"""The text of a claim's ``<study>.<verdict>`` rule comes from the analysis's saved JSON (issue
24: the report reads only saved results), never from the study's class."""

from __future__ import annotations

from convscope.report.claims import ClaimRule, rule_text, saved_rule
from convscope.report.document import SUPPORTED, Bullets, Claim, Fold
from convscope.report.sections.runs import section_method

# a rule text that no study class has: found only if it is read from the saved doc
TEXT = "the frobnication index stays below 0.25 (a rule no class in convscope states)"


def _doc(rules: dict[str, str] | None) -> dict[str, object]:
    d: dict[str, object] = {"schema": "convscope.study/1", "study": "sanity", "verdicts": {}}
    if rules is not None:
        d["verdict_rules"] = rules
    return d


def test_rule_text_reads_the_saved_json() -> None:
    docs = {"sanity": [_doc({"saliency.weights": TEXT})]}
    got = rule_text("sanity.saliency.weights", {}, docs)
    assert got == f"the `saliency.weights` verdict that the `sanity` analysis saved: {TEXT}"
    # the class's own text for this key is not used
    assert "cascading randomisation" not in got


def test_rule_text_fills_a_pattern_key_and_prefers_the_exact_one() -> None:
    doc = _doc({"<method>.labels": "pattern", "gradcam.labels": "exact"})
    assert saved_rule([doc], "saliency.labels") == "pattern"
    assert saved_rule([doc], "gradcam.labels") == "exact"
    assert saved_rule([doc], "saliency.weights") == ""
    assert saved_rule([_doc(None), doc], "occlusion.labels") == "pattern"  # an older doc first


def test_rule_text_without_a_saved_result_says_so() -> None:
    none = rule_text("sanity.saliency.weights", {}, {})
    assert none.startswith("the `saliency.weights` verdict that the `sanity` analysis saved")
    assert "saved no result yet" in none
    old = rule_text("sanity.saliency.weights", {}, {"sanity": [_doc(None)]})
    assert "does not record the rule" in old
    assert rule_text("sanity.saliency.weights", {}) == none  # no docs given at all
    assert rule_text("nodot", {}) == "(unknown rule)"
    curve = {"r": ClaimRule("r", "curve text", lambda g: Claim("1", "q", SUPPORTED, ""))}
    assert rule_text("r", curve, {}) == "curve text"


def test_method_section_prints_the_saved_rule_of_each_claims_group() -> None:
    studies = {"g1": {"sanity": [_doc({"saliency.weights": TEXT})]}, "g2": {}}
    rules = [("q1", "sanity.saliency.weights", "g1"), ("q2", "sanity.saliency.weights", "g2")]
    s = section_method([], rules, None, studies)
    (fold,) = [b for b in s.blocks if isinstance(b, Fold)]
    (bullets,) = [b for b in fold.blocks if isinstance(b, Bullets)]
    assert TEXT in bullets.items[0] and bullets.items[0].startswith("“q1”: ")
    assert TEXT not in bullets.items[1] and "saved no result yet" in bullets.items[1]
