"""Render a :class:`~convscope.report.document.Document` as Markdown (GitHub flavour).

Mirrors :mod:`convscope.report.html`: the same sections, tables, claims and figures (relative
image links to the same PNG files).
"""

from __future__ import annotations

import html
import re

from convscope.escape import escape_md, md_chars, md_line_starts, md_lines
from convscope.report.document import (
    Block,
    Bullets,
    Claims,
    Code,
    Details,
    Document,
    Figure,
    Fold,
    Links,
    Para,
    Section,
    Table,
)
from convscope.report.html import url

_VERDICT_MARK = {"supported": "✅", "not supported": "❌", "not testable": "➖"}


_HTMLISH = re.compile(r"[<>&|]")
_MARKS = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|\[([^\]]+)\]\((#[A-Za-z0-9_-]+)\)")


def md_inline(text: str, one_line: bool = False) -> str:
    """Escape ``text`` (as :func:`escape_md`) but keep the document's three inline marks.

    ```code```, ``**bold**`` and ``[text](#anchor)`` stay marks (their text escaped); every other
    character that Markdown or HTML would interpret is escaped, so a user string (a label, a
    title) cannot add markup, links, headings, table cells or HTML to the report.
    """
    text = md_lines(text, one_line)
    out, pos = [], 0
    for m in _MARKS.finditer(text):
        out.append(md_chars(text[pos : m.start()]))
        code, bold, label, anchor = m.groups()
        if code is not None:  # as HTML when it holds what HTML reads (and `` ` `` cannot)
            code = " ".join(code.splitlines())  # a code span never carries a line start
            out.append(
                f"<code>{html.escape(code).replace('|', '&#124;')}</code>"
                if _HTMLISH.search(code)
                else f"`{code}`"
            )
        elif bold is not None:
            out.append(f"**{md_chars(bold)}**")
        else:
            out.append(f"[{md_chars(label)}]({anchor})")
        pos = m.end()
    out.append(md_chars(text[pos:]))
    return md_line_starts("".join(out))


def _one(text: str) -> str:
    """:func:`md_inline` for a table cell, heading, list item, caption or quote: one line."""
    return md_inline(text, one_line=True)


def _table(t: Table) -> str:
    lines = []
    if t.caption:
        lines.append(f"*{_one(t.caption)}*\n")
    lines.append("| " + " | ".join(_one(h) for h in t.header) + " |")
    lines.append("|" + "|".join("---" for _ in t.header) + "|")
    for r in t.rows:
        lines.append("| " + " | ".join(_one(c) for c in r) + " |")
    return "\n".join(lines)


def render_block(b: Block) -> str:
    if isinstance(b, Para):
        if b.kind == "warn":
            return f"> **{_one(b.text)}**"
        if b.kind in ("note", "missing"):
            return f"> {_one(b.text)}"
        return md_inline(b.text)  # paragraphs keep their lines
    if isinstance(b, Bullets):
        title = f"**{_one(b.title)}**\n\n" if b.title else ""
        return title + "\n".join(f"- {_one(i)}" for i in b.items)
    if isinstance(b, Links):
        title = f"**{_one(b.title)}**\n\n" if b.title else ""
        return title + "\n".join(
            f"- [{escape_md(t, one_line=True)}](<{url(h)}>)" for t, h in b.items
        )
    if isinstance(b, Figure):
        alt = escape_md(b.alt or b.caption, one_line=True)
        return f"![{alt}]({url(b.src)})\n\n*{_one(b.caption)}*"
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Claims):
        out = []
        for c in b.claims:
            out.append(
                f"> “{_one(c.quote)}” (reference, {_one(c.section)})\n>\n"
                f"> {_VERDICT_MARK.get(c.verdict, '')} **{c.verdict}**: {_one(c.evidence)}"
            )
        return "\n\n".join(out)
    if isinstance(b, Code):  # a fence longer than any run of backticks in the text
        fence = "`" * max(3, 1 + max((len(r) for r in re.findall("`+", b.text)), default=0))
        return f"{fence}\n{b.text}\n{fence}"
    if isinstance(b, Details):
        return (
            f"<details><summary>{html.escape(b.summary)}</summary>\n\n"
            + "\n".join(f"- {_one(i)}" for i in b.items)
            + "\n\n</details>"
        )
    if isinstance(b, Fold):
        inner = "\n\n".join(render_block(x) for x in b.blocks)
        return f"<details><summary>{html.escape(b.summary)}</summary>\n\n{inner}\n\n</details>"
    raise TypeError(f"unknown block {type(b).__name__}")


def _section(s: Section, level: int) -> list[str]:
    out = [f'{"#" * min(level, 6)} {_one(s.heading)} <a id="{html.escape(s.id)}"></a>']
    out.extend(render_block(b) for b in s.blocks)
    for c in s.children:
        out.extend(_section(c, level + 1))
    return out


def render_markdown(doc: Document) -> str:
    """The whole report as Markdown."""
    parts = [f"# {_one(doc.title)}"]
    parts.extend(f"> ⚠️ **{_one(p.text)}**" for p in doc.banner)
    parts.append("\n".join(f"- **{_one(k)}:** {_one(v)}" for k, v in doc.meta))
    toc = []
    for s in doc.sections:
        toc.append(f"- [{_one(s.heading)}](#{s.id})")
        toc.extend(f"  - [{_one(c.heading)}](#{c.id})" for c in s.children)
    parts.append("**Contents**\n\n" + "\n".join(toc))
    for s in doc.sections:
        parts.extend(_section(s, 2))
    return "\n\n".join(parts) + "\n"
