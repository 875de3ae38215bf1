"""A numbered section sits under its parent number whichever group it comes from: "2.8" (an
analysis of a group without a heading of its own) under the section "2" of another group."""

from __future__ import annotations

import re

from convscope.report.document import Document, Section
from convscope.report.markdown import render_markdown
from convscope.report.sections import _chaptered

CHAPTERS = {"1": "Problem 1", "3": "Problem 3"}


def sec(number: str, children: list[Section] | None = None) -> Section:
    sid = "sec-" + number.replace(".", "-") if number else "sec-x"
    return Section(sid, number, f"title {number}", children=children or [])


def tree(sections: list[Section]) -> list[object]:
    return [(s.number, tree(s.children)) if s.children else s.number for s in sections]


def test_assignment2_layout() -> None:
    zf = sec("2", [sec(f"2.{i}") for i in range(1, 8)])  # group zf: its analyses 2.1-2.7
    units = [sec("1.1"), sec("1.2"), sec("1.3"), sec("1.4"), zf, sec("2.8"), sec("3.1")]
    out = _chaptered(units, CHAPTERS)
    assert tree(out) == [
        ("1", ["1.1", "1.2", "1.3", "1.4"]),
        ("2", [f"2.{i}" for i in range(1, 9)]),
        ("3", ["3.1"]),
    ]
    md = render_markdown(Document("t", [], [], out))
    assert re.search(r"^## 2 title 2 ", md, re.M)
    for i in range(1, 9):  # every 2.x one level below 2
        assert re.search(rf"^### 2\.{i} title 2\.{i} ", md, re.M), i


def test_deeper_numbers_and_unrelated_sections() -> None:
    units = [sec("2"), sec("2.8"), sec("2.8.1"), sec(""), sec("4.1"), sec("5"), sec("2.9")]
    out = _chaptered(units, CHAPTERS)
    # "2.8.1" under "2.8"; no "4" anywhere: "4.1" stays at the top; "2.9" joins "2" late
    assert tree(out) == [("2", [("2.8", ["2.8.1"]), "2.9"]), "", "4.1", "5"]


def test_a_chapter_collects_its_units_even_when_they_are_apart() -> None:
    out = _chaptered([sec("1.1"), sec("2"), sec("1.2")], CHAPTERS)
    assert tree(out) == [("1", ["1.1", "1.2"]), "2"]
    assert [s.id for s in out] == ["sec-1", "sec-2"]  # one chapter, one id
