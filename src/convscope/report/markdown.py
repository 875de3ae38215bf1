"""Render a :class:`~convscope.report.document.Document` as Markdown (GitHub flavour).

Mirrors :mod:`convscope.report.html`: the same sections, tables, claims and figures (relative
image links to the same PNG files).
"""

from __future__ import annotations

import html
import re

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


# backslash, backtick, *, [, ], |; "_" unless inside a word (GFM ignores intraword "_"); "!"
# before "["; "#" at the start (a heading)
_SPECIAL = re.compile(r"([\\`*\[\]|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|!(?=\[)|^#)")
_HTMLISH = re.compile(r"[<>&|]")
_MARKS = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|\[([^\]]+)\]\((#[A-Za-z0-9_-]+)\)")


def escape_md(text: str) -> str:
    """``text`` shown literally in Markdown: no emphasis, link, heading, table cell or raw HTML."""
    return _SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def md_inline(text: str) -> str:
    """Escape ``text`` but keep the document's three inline marks (see document.py).

    ```code```, ``**bold**`` and ``[text](#anchor)`` stay marks (their text escaped); every other
    character that Markdown or HTML would interpret is escaped, so a user string (a label, a
    title) cannot add markup, links or HTML to the report.
    """
    out, pos = [], 0
    for m in _MARKS.finditer(text):
        out.append(escape_md(text[pos : m.start()]))
        code, bold, label, anchor = m.groups()
        if code is not None:  # as HTML when it holds what HTML reads (and `` ` `` cannot)
            out.append(
                f"<code>{html.escape(code)}</code>" if _HTMLISH.search(code) else f"`{code}`"
            )
        elif bold is not None:
            out.append(f"**{escape_md(bold)}**")
        else:
            out.append(f"[{escape_md(label)}]({anchor})")
        pos = m.end()
    out.append(escape_md(text[pos:]))
    return "".join(out)


def _cell(text: str) -> str:
    return md_inline(text).replace("\n", " ")


def _table(t: Table) -> str:
    lines = []
    if t.caption:
        lines.append(f"*{md_inline(t.caption)}*\n")
    lines.append("| " + " | ".join(_cell(h) for h in t.header) + " |")
    lines.append("|" + "|".join("---" for _ in t.header) + "|")
    for r in t.rows:
        lines.append("| " + " | ".join(_cell(c) for c in r) + " |")
    return "\n".join(lines)


def render_block(b: Block) -> str:
    if isinstance(b, Para):
        if b.kind == "warn":
            return f"> **{md_inline(b.text)}**"
        if b.kind in ("note", "missing"):
            return f"> {md_inline(b.text)}"
        return md_inline(b.text)
    if isinstance(b, Bullets):
        title = f"**{md_inline(b.title)}**\n\n" if b.title else ""
        return title + "\n".join(f"- {md_inline(i)}" for i in b.items)
    if isinstance(b, Links):
        title = f"**{md_inline(b.title)}**\n\n" if b.title else ""
        return title + "\n".join(f"- [{escape_md(t)}](<{url(h)}>)" for t, h in b.items)
    if isinstance(b, Figure):
        alt = escape_md(b.alt or b.caption)
        return f"![{alt}]({url(b.src)})\n\n*{md_inline(b.caption)}*"
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Claims):
        out = []
        for c in b.claims:
            out.append(
                f"> “{md_inline(c.quote)}” (reference, {md_inline(c.section)})\n>\n"
                f"> {_VERDICT_MARK.get(c.verdict, '')} **{c.verdict}**: {md_inline(c.evidence)}"
            )
        return "\n\n".join(out)
    if isinstance(b, Code):
        return f"```\n{b.text}\n```"
    if isinstance(b, Details):
        return (
            f"<details><summary>{html.escape(b.summary)}</summary>\n\n"
            + "\n".join(f"- {md_inline(i)}" for i in b.items)
            + "\n\n</details>"
        )
    if isinstance(b, Fold):
        inner = "\n\n".join(render_block(x) for x in b.blocks)
        return f"<details><summary>{html.escape(b.summary)}</summary>\n\n{inner}\n\n</details>"
    raise TypeError(f"unknown block {type(b).__name__}")


def _section(s: Section, level: int) -> list[str]:
    out = [f'{"#" * min(level, 6)} {md_inline(s.heading)} <a id="{html.escape(s.id)}"></a>']
    out.extend(render_block(b) for b in s.blocks)
    for c in s.children:
        out.extend(_section(c, level + 1))
    return out


def render_markdown(doc: Document) -> str:
    """The whole report as Markdown."""
    parts = [f"# {md_inline(doc.title)}"]
    parts.extend(f"> ⚠️ **{md_inline(p.text)}**" for p in doc.banner)
    parts.append("\n".join(f"- **{md_inline(k)}:** {md_inline(v)}" for k, v in doc.meta))
    toc = []
    for s in doc.sections:
        toc.append(f"- [{md_inline(s.heading)}](#{s.id})")
        toc.extend(f"  - [{md_inline(c.heading)}](#{c.id})" for c in s.children)
    parts.append("**Contents**\n\n" + "\n".join(toc))
    for s in doc.sections:
        parts.extend(_section(s, 2))
    return "\n\n".join(parts) + "\n"
