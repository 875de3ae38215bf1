"""Render a :class:`~convscope.report.document.Document` as one self-contained HTML page.

The page opens from the file system with no server: inline CSS, no scripts, no external URLs;
images are relative links to PNG files under ``OUT``.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from convscope.report.document import (
    NOT_SUPPORTED,
    NOT_TESTABLE,
    SUPPORTED,
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

CSS = """
:root { --fg: #1d2430; --muted: #5b6472; --line: #d9dee5; --bg: #ffffff; --soft: #f5f7fa;
        --ok: #1f7a3a; --bad: #b42318; --na: #6b7280; --warn-bg: #fff4e5; --warn: #9a4d00; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 15px/1.55 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 28px; margin: 8px 0 4px; }
h2 { font-size: 22px; margin: 40px 0 8px; padding-top: 8px; border-top: 2px solid var(--line); }
h3 { font-size: 18px; margin: 28px 0 6px; }
h4 { font-size: 16px; margin: 20px 0 4px; }
code { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
       background: var(--soft); padding: 1px 4px; border-radius: 3px; }
pre { background: var(--soft); padding: 10px 12px; border-radius: 4px; overflow-x: auto; }
pre code { background: none; padding: 0; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px;
          margin: 10px 0 16px; color: var(--muted); }
dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; }
.banner { background: var(--warn-bg); color: var(--warn); border-left: 5px solid #f79009;
          padding: 10px 14px; margin: 12px 0; font-weight: 600; }
.note { color: var(--muted); }
.missing { background: var(--soft); border-left: 4px solid var(--na); padding: 8px 12px; }
.warn { background: var(--warn-bg); border-left: 4px solid #f79009; padding: 8px 12px; }
nav.toc { background: var(--soft); padding: 10px 18px; border-radius: 6px; margin: 16px 0; }
nav.toc ul { margin: 4px 0; padding-left: 18px; } nav.toc li { margin: 1px 0; }
nav.toc > ul { columns: 2 360px; column-gap: 28px; } nav.toc > ul > li { break-inside: avoid; }
nav.toc a { color: var(--fg); text-decoration: none; } nav.toc a:hover { text-decoration: underline; }
ul.obs { border-left: 4px solid #2e90fa; padding: 6px 10px 6px 30px; background: #f0f7ff; }
ul.obs li { margin: 3px 0; }
p.listtitle { margin: 12px 0 2px; font-weight: 600; }
figure { margin: 14px 0 18px; }
figure img { max-width: 100%; height: auto; display: block;
             border: 1px solid var(--line); border-radius: 4px; background: #fff; }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 4px; }
.tablewrap { overflow-x: auto; margin: 10px 0 16px; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 4px 9px; text-align: left; vertical-align: top; }
th { background: var(--soft); }
td code { white-space: nowrap; }
td:last-child code { white-space: normal; overflow-wrap: anywhere; }
main { overflow-wrap: break-word; }
tbody tr:nth-child(even) td { background: #fafbfc; }
caption { caption-side: top; text-align: left; color: var(--muted); padding-bottom: 4px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
         font-size: 12.5px; font-weight: 600; white-space: nowrap; }
.badge.supported { background: var(--ok); } .badge.not-supported { background: var(--bad); }
.badge.not-testable { background: var(--na); }
.claim { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin: 10px 0; }
.claim blockquote { margin: 0 0 4px; font-style: italic; }
.claim p { margin: 4px 0 0; }
details { margin: 8px 0; } details summary { cursor: pointer; color: var(--muted); }
details.fold > summary { color: var(--fg); }
details.fold[open] { border-left: 3px solid var(--line); padding-left: 10px; }
"""

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ANCHOR = re.compile(r"\[([^\]]+)\]\((#[A-Za-z0-9_-]+)\)")


def inline(text: str) -> str:
    """Escape ``text`` and turn ```code```, ``**bold**`` and ``[text](#anchor)`` into HTML."""
    parts = _CODE.split(text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{html.escape(part)}</code>")
        else:
            text = _BOLD.sub(r"<strong>\1</strong>", html.escape(part, quote=False))
            out.append(_ANCHOR.sub(r'<a href="\2">\1</a>', text))
    return "".join(out)


def _verdict_class(v: str) -> str:
    return {SUPPORTED: "supported", NOT_SUPPORTED: "not-supported", NOT_TESTABLE: "not-testable"}[v]


def badge(verdict: str) -> str:
    return f'<span class="badge {_verdict_class(verdict)}">{html.escape(verdict)}</span>'


def url(src: str) -> str:
    """A relative file path as a URL (each segment percent-encoded)."""
    return quote(src, safe="/")


FIGURE_TEXT_PX = 11.0  # a figure is shown no larger than makes its smallest text this size


def shown_width(f: Figure) -> int:
    """The width a figure is shown at: its own, or less where its smallest text would be
    larger than :data:`FIGURE_TEXT_PX` (large pixel grids shrink; every text stays readable;
    the text column may make it narrower still)."""
    w = int(f.width_px or 0)
    if f.min_font_px and f.min_font_px > FIGURE_TEXT_PX:
        return max(1, round(w * FIGURE_TEXT_PX / f.min_font_px))
    return w


def _table(t: Table, raw_cells: bool = False) -> str:
    cell = (lambda c: c) if raw_cells else inline
    head = "".join(f"<th>{inline(h)}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in t.rows)
    cap = f"<caption>{inline(t.caption)}</caption>" if t.caption else ""
    return (
        f'<div class="tablewrap"><table>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def render_block(b: Block) -> str:
    if isinstance(b, Para):
        cls = {"text": "", "note": "note", "warn": "warn", "missing": "missing"}.get(b.kind, "")
        return f'<p class="{cls}">{inline(b.text)}</p>' if cls else f"<p>{inline(b.text)}</p>"
    if isinstance(b, Bullets):
        title = f'<p class="listtitle">{inline(b.title)}</p>' if b.title else ""
        cls = ' class="obs"' if b.kind == "obs" else ""
        items = "".join(f"<li>{inline(i)}</li>" for i in b.items)
        return f"{title}<ul{cls}>{items}</ul>"
    if isinstance(b, Links):
        title = f'<p class="listtitle">{inline(b.title)}</p>' if b.title else ""
        items = "".join(
            f'<li><a href="{html.escape(url(h), quote=True)}">{html.escape(t)}</a></li>'
            for t, h in b.items
        )
        return f"{title}<ul>{items}</ul>"
    if isinstance(b, Figure):
        alt = html.escape(b.alt or b.caption, quote=True)
        size = f' width="{shown_width(b)}"' if b.width_px else ""
        if b.min_font_px is not None:
            size += f' data-min-font-px="{b.min_font_px:.2f}"'
        return (
            f'<figure><img src="{html.escape(url(b.src), quote=True)}" alt="{alt}"{size}>'
            f"<figcaption>{inline(b.caption)}</figcaption></figure>"
        )
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Claims):
        parts = []
        for c in b.claims:
            parts.append(
                f'<div class="claim"><blockquote>“{inline(c.quote)}” '
                f'<span class="note">(reference, {inline(c.section)})</span></blockquote>'
                f"{badge(c.verdict)}<p>{inline(c.evidence)}</p></div>"
            )
        return "".join(parts)
    if isinstance(b, Code):
        return f"<pre><code>{html.escape(b.text)}</code></pre>"
    if isinstance(b, Details):
        items = "".join(f"<li>{inline(i)}</li>" for i in b.items)
        return f"<details><summary>{inline(b.summary)}</summary><ul>{items}</ul></details>"
    if isinstance(b, Fold):
        inner = "".join(render_block(x) for x in b.blocks)
        return f'<details class="fold"><summary>{inline(b.summary)}</summary>{inner}</details>'
    raise TypeError(f"unknown block {type(b).__name__}")


def _section(s: Section, level: int) -> str:
    h = min(level, 4)
    parts = [f'<section id="{html.escape(s.id, quote=True)}">']
    parts.append(f"<h{h}>{inline(s.heading)}</h{h}>")
    parts.extend(render_block(b) for b in s.blocks)
    parts.extend(_section(c, level + 1) for c in s.children)
    parts.append("</section>")
    return "\n".join(parts)


def _toc(sections: list[Section]) -> str:
    def items(ss: list[Section]) -> str:
        out = []
        for s in ss:
            sub = f"<ul>{items(s.children)}</ul>" if s.children else ""
            out.append(
                f'<li><a href="#{html.escape(s.id, quote=True)}">{inline(s.heading)}</a>{sub}</li>'
            )
        return "".join(out)

    return f'<nav class="toc"><strong>Contents</strong><ul>{items(sections)}</ul></nav>'


def render_html(doc: Document) -> str:
    """The whole page as a string."""
    meta = "".join(f"<dt>{inline(k)}</dt><dd>{inline(v)}</dd>" for k, v in doc.meta)
    banner = "".join(f'<div class="banner">{inline(p.text)}</div>' for p in doc.banner)
    body = "\n".join(_section(s, 2) for s in doc.sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{html.escape(doc.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<h1>{inline(doc.title)}</h1>\n{banner}\n<dl class="meta">{meta}</dl>\n'
        f"{_toc(doc.sections)}\n{body}\n</main>\n</body>\n</html>\n"
    )
