"""The escapers: a user string shown literally in Markdown or in HTML.

HTML: :func:`html.escape` from the standard library is the one HTML escaper (``quote=True``
inside attribute values); convscope has no wrapper of its own. Markdown: :func:`escape_md`
here, used by the report (:mod:`convscope.report.markdown`) and by the across-sweep study's
``across.md`` (:mod:`convscope.studies.across.summary`, ``backslash_all=True``: the tables it
has always written, kept byte for byte).
"""

from __future__ import annotations

import html
import re

# backslash, backtick, *, [, ], |; "_" unless inside a word (GFM ignores intraword "_"); "!"
# before "["
_SPECIAL = re.compile(r"([\\`*\[\]|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|!(?=\[))")
# what makes a line a block of its own: an ATX heading, a list item (-, +, 1., 1)), a setext
# underline or thematic break (a line of - or =), a ~~~ fence (``` is escaped above, > is &gt;)
_LINE_START = re.compile(
    r"^([ \t]*)(#{1,6}(?=[ \t]|$)|[-+](?=[ \t]|$)|[-=]+[ \t]*$|~{3,}|\d{1,9}[.)](?=[ \t]|$))",
    re.MULTILINE,
)
# every character the across study's tables escaped with a backslash (after the backslash)
_BACKSLASHED = "|*_`[]<>#"


def md_chars(text: str) -> str:
    """``text`` with HTML's ``& < >`` as entities and Markdown's inline specials backslashed."""
    return _SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def _line_start(m: re.Match[str]) -> str:
    lead, mark = m.group(1), m.group(2)
    if mark[0].isdigit():  # "1." starts a list: escape the "." or ")" after the number
        return f"{lead}{mark[:-1]}\\{mark[-1]}"
    return f"{lead}\\{mark}"


def md_line_starts(text: str) -> str:
    """Backslash each line's opening mark that would start a heading, list, fence or rule."""
    return _LINE_START.sub(_line_start, text)


def md_lines(text: str, one_line: bool) -> str:
    """Line breaks normalised to ``\\n``; with ``one_line`` they become spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return " ".join(text.splitlines()) if one_line else text


def escape_md(text: str, one_line: bool = False, *, backslash_all: bool = False) -> str:
    """``text`` shown literally in Markdown: the one Markdown escaper.

    No emphasis, link, raw HTML or table cell (``|``) comes from ``text``, and none of its lines
    starts a heading, list, fence or setext underline. ``one_line``: line breaks become spaces
    (table cells, headings, list items, captions).

    ``backslash_all``: the across study's form (``across.md``): ``str(text)`` with a backslash
    before every backslash and every one of ``| * _ ` [ ] < > #`` (no HTML entities, an
    intraword ``_`` escaped too), each ``\\n`` a space; ``one_line`` is then ignored.
    """
    if backslash_all:
        out = str(text).replace("\\", "\\\\")
        for ch in _BACKSLASHED:
            out = out.replace(ch, "\\" + ch)
        return out.replace("\n", " ")
    return md_line_starts(md_chars(md_lines(text, one_line)))
