"""The report as a small tree of blocks, rendered to HTML and Markdown by the same walk.

Text in blocks is plain text with three inline marks both renderers understand: ```code```,
``**bold**`` and links to sections, ``[1.2](#sec-1-2)``. Figure paths are relative to ``OUT`` (POSIX separators), where both report files
live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
NOT_TESTABLE = "not testable"
Verdict = Literal["supported", "not supported", "not testable"]


@dataclass
class Para:
    """A paragraph. ``kind``: ``text``, ``note`` (grey), ``warn`` (highlighted), ``missing``."""

    text: str
    kind: str = "text"


@dataclass
class Bullets:
    """A list of sentences; ``kind="obs"`` marks observations computed from the data."""

    items: list[str]
    kind: str = "text"
    title: str = ""


@dataclass
class Links:
    """Links to files next to the report (``href`` relative to ``OUT``, POSIX separators), e.g.
    a run's unit explorer; text and paths are escaped by both renderers."""

    items: list[tuple[str, str]]  # (text, href)
    title: str = ""


@dataclass
class Figure:
    src: str  # relative to OUT, POSIX separators
    caption: str
    alt: str = ""
    width_px: int | None = None  # the PNG's own width (set by write_report from the file)
    min_font_px: float | None = None  # its smallest text in file px (convscope.plots.save)


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Claim:
    """A claim of the reference report and whether this output supports it."""

    section: str
    quote: str
    verdict: Verdict
    evidence: str


@dataclass
class Claims:
    claims: list[Claim]


@dataclass
class Code:
    text: str


@dataclass
class Details:
    """Secondary material (recorded choices); collapsed in HTML."""

    summary: str
    items: list[str]


@dataclass
class Fold:
    """Blocks folded under a one-line summary (HTML ``<details>``, closed): long tables and
    secondary figures, so that the page shows the argument and keeps the rest one click away."""

    summary: str
    blocks: list[Block]


Block = Para | Bullets | Figure | Table | Claims | Code | Details | Links | Fold
FOLD_ROWS = 8  # a table with more rows than this is folded (except the claims at a glance)


def fold_long_tables(blocks: list[Block]) -> list[Block]:
    """``blocks`` with every table of more than :data:`FOLD_ROWS` rows folded under its caption."""
    out: list[Block] = []
    for b in blocks:
        if isinstance(b, Table) and len(b.rows) > FOLD_ROWS:
            what = b.caption.rstrip(".") or ", ".join(b.header[:4])
            out.append(Fold(f"Table: {what} ({len(b.rows)} rows)", [b]))
        else:
            out.append(b)
    return out


@dataclass
class Section:
    id: str  # HTML anchor, e.g. "sec-1-2"
    number: str  # "1.2" ("" for unnumbered)
    title: str
    blocks: list[Block] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)

    @property
    def heading(self) -> str:
        return f"{self.number} {self.title}".strip()

    def walk(self) -> list[Section]:
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out


@dataclass
class Document:
    title: str
    meta: list[tuple[str, str]]  # (key, value) lines under the title
    banner: list[Para]  # shown prominently above everything (e.g. data substitution)
    sections: list[Section]

    def all_sections(self) -> list[Section]:
        out: list[Section] = []
        for s in self.sections:
            out.extend(s.walk())
        return out


def verdict_bullets(saved: dict[str, Any]) -> Bullets | None:
    """The verdicts a study saved, as one bullet list (None when it saved none)."""
    verdicts = saved.get("verdicts") or {}
    if not verdicts:
        return None
    return Bullets(
        [
            f"`{k}`: **{v.get('verdict', '?')}** — {v.get('evidence', '')}"
            for k, v in verdicts.items()
            if isinstance(v, dict)
        ],
        "obs",
        "Verdicts (computed by the analysis)",
    )
