"""Render a :class:`~convscope.report.document.Document` as Markdown (GitHub flavour).

Mirrors :mod:`convscope.report.html`: the same sections, tables, claims and figures (relative
image links to the same PNG files).
"""

from __future__ import annotations

from convscope.report.document import (
    Block,
    Bullets,
    Claims,
    Code,
    Details,
    Document,
    Figure,
    Para,
    Section,
    Table,
)
from convscope.report.html import url

_VERDICT_MARK = {"supported": "✅", "not supported": "❌", "not testable": "➖"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> str:
    lines = []
    if t.caption:
        lines.append(f"*{t.caption}*\n")
    lines.append("| " + " | ".join(_cell(h) for h in t.header) + " |")
    lines.append("|" + "|".join("---" for _ in t.header) + "|")
    for r in t.rows:
        lines.append("| " + " | ".join(_cell(c) for c in r) + " |")
    return "\n".join(lines)


def render_block(b: Block) -> str:
    if isinstance(b, Para):
        if b.kind == "warn":
            return f"> **{b.text}**"
        if b.kind in ("note", "missing"):
            return f"> {b.text}"
        return b.text
    if isinstance(b, Bullets):
        title = f"**{b.title}**\n\n" if b.title else ""
        return title + "\n".join(f"- {i}" for i in b.items)
    if isinstance(b, Figure):
        alt = (b.alt or b.caption).replace("]", ")").replace("[", "(")
        return f"![{alt}]({url(b.src)})\n\n*{b.caption}*"
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Claims):
        out = []
        for c in b.claims:
            out.append(
                f"> “{c.quote}” (reference, {c.section})\n>\n"
                f"> {_VERDICT_MARK.get(c.verdict, '')} **{c.verdict}**: {c.evidence}"
            )
        return "\n\n".join(out)
    if isinstance(b, Code):
        return f"```\n{b.text}\n```"
    if isinstance(b, Details):
        return (
            f"<details><summary>{b.summary}</summary>\n\n"
            + "\n".join(f"- {i}" for i in b.items)
            + "\n\n</details>"
        )
    raise TypeError(f"unknown block {type(b).__name__}")


def _section(s: Section, level: int) -> list[str]:
    out = [f'{"#" * min(level, 6)} {s.heading} <a id="{s.id}"></a>']
    out.extend(render_block(b) for b in s.blocks)
    for c in s.children:
        out.extend(_section(c, level + 1))
    return out


def render_markdown(doc: Document) -> str:
    """The whole report as Markdown."""
    parts = [f"# {doc.title}"]
    parts.extend(f"> ⚠️ **{p.text}**" for p in doc.banner)
    parts.append("\n".join(f"- **{k}:** {v}" for k, v in doc.meta))
    toc = []
    for s in doc.sections:
        toc.append(f"- [{s.heading}](#{s.id})")
        toc.extend(f"  - [{c.heading}](#{c.id})" for c in s.children)
    parts.append("**Contents**\n\n" + "\n".join(toc))
    for s in doc.sections:
        parts.extend(_section(s, 2))
    return "\n\n".join(parts) + "\n"
