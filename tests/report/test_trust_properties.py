"""Issue 22: user strings cannot add table cells or headings to report.md (cases 20, 21), and, as
properties (Hypothesis), for any group name, label and description: every path convscope writes
lies under OUT, a Markdown table keeps its column count, no line becomes a heading, and the
HTML shows the text unchanged.

The Markdown oracle is markdown-it-py (CommonMark with GFM tables), an independent parser.
"""

from __future__ import annotations

import html as _html
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from convscope import io, paths
from convscope.cli import main
from convscope.errors import ConfigError
from convscope.report.document import Bullets, Document, Para, Section, Table
from convscope.report.html import render_html
from convscope.report.markdown import render_markdown

MD = MarkdownIt("commonmark", {"html": True}).enable("table")
# characters Markdown and HTML read, line breaks, then anything printable
SPECIAL = list("|#\n\r-=+1.)>`*_[]<&!~\\ \t") + ["\u2028", "\x0b"]
TEXT = st.text(st.sampled_from(SPECIAL) | st.characters(exclude_categories=("Cs",)), max_size=40)


def _doc(name: str, label: str, description: str) -> Document:
    # the label heads a column too: a header with a cell too many is no table at all
    table = Table([label, "description", "n"], [[label, description, "1"], ["x", label, "2"]])
    sec = Section("sec-g", "1", name, blocks=[Para(description), table, Bullets([label])])
    return Document(f"report {name}", [("group", name)], [], [sec])


def _tables(tokens: list) -> list[list[int]]:
    """Cells per row of each table (markdown-it tokens)."""
    out: list[list[int]] = []
    for t in tokens:
        if t.type == "table_open":
            out.append([])
        elif t.type == "tr_open":
            out[-1].append(0)
        elif t.type in ("th_open", "td_open"):
            out[-1][-1] += 1
    return out


def _check_markdown(md: str) -> None:
    tokens = MD.parse(md)
    heads = [t for t in tokens if t.type == "heading_open"]
    assert [h.tag for h in heads] == ["h1", "h2"], md  # the title and the section, no other
    assert _tables(tokens) == [[3, 3, 3]], md  # one table; header and both rows: 3 cells


def _plain(text: str) -> bool:
    """No mark of the document's own (code, bold, anchor link) and no NUL (CommonMark shows
    U+FFFD for it; a name with one is refused anyway)."""
    return not re.search(r"`|\*\*|\[[^\]]+\]\(#|\x00", text)


def _one_line(text: str) -> str:
    return " ".join(text.replace("\r\n", "\n").replace("\r", "\n").splitlines()).strip()


@settings(max_examples=300, deadline=None)
@given(name=TEXT, label=TEXT, description=TEXT)
def test_markdown_keeps_its_structure_for_any_strings(
    name: str, label: str, description: str
) -> None:
    md = render_markdown(_doc(name, label, description))
    _check_markdown(md)
    if _plain(label + description):  # each cell shows its own text, nothing more or less
        cells = re.findall(r"<t[dh]>(.*?)</t[dh]>", MD.render(md), re.S)
        want = [label, "description", "n", label, description, "1", "x", label, "2"]
        assert [_html.unescape(c).strip() for c in cells] == [_one_line(w) for w in want], md


@settings(max_examples=200, deadline=None)
@given(label=TEXT, description=TEXT)
def test_html_shows_the_text_unchanged(label: str, description: str) -> None:
    # ``code`` and **bold** are the document's own marks in every renderer
    assume("`" not in label + description and "**" not in label + description)
    assume(not re.search(r"\[[^\]]+\]\(#", label + description))
    page = render_html(_doc("g", label, description))
    cells = re.findall(r"<t[dh]>(.*?)</t[dh]>", page, re.S)
    want = [label, "description", "n", label, description, "1", "x", label, "2"]
    assert [_html.unescape(c) for c in cells] == want
    assert "<script" not in page.lower().replace("&lt;script", "")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=TEXT)
def test_every_path_from_a_group_name_lies_under_out(tmp_path_factory, name: str) -> None:  # noqa: ANN001
    root = tmp_path_factory.mktemp("prop")
    out, outside = root / "out", root / "outside"
    out.mkdir()
    outside.mkdir()
    (out / "groups").mkdir()
    (out / "groups" / "link").symlink_to(outside, target_is_directory=True)
    try:
        paths.check_name(name, "e.toml [groups]", "group name")
    except ConfigError:
        return  # refused when the experiment is loaded, before anything is written
    written = [
        paths.group_dir(out, name) / "analysis" / "across.json",
        paths.under(out, "figures", paths.slug(f"report_{name}") + ".png"),
    ]
    for p in written:
        io.atomic_write_bytes(p, b"x")
        assert p.resolve().is_relative_to(out.resolve()), (name, p)
    assert list(outside.iterdir()) == []  # nothing through the symlink
    assert sorted(p.name for p in root.iterdir()) == ["out", "outside"]


@settings(max_examples=300, deadline=None)
@given(rel=st.text(st.sampled_from(list("./a\\~\x00 ")) | st.characters(), max_size=30))
def test_under_never_leads_out(tmp_path_factory, rel: str) -> None:  # noqa: ANN001
    root = tmp_path_factory.mktemp("under")
    (root / "out").mkdir()
    (root / "out" / "link").symlink_to(root, target_is_directory=True)
    try:
        p = paths.under(root / "out", rel)
    except paths.PathRefused:
        return
    assert p.resolve().is_relative_to((root / "out").resolve())


# --- cases 20 and 21, end to end ---------------------------------------------------------------
def test_a_report_keeps_its_tables_and_headings_with_hostile_strings(tmp_path: Path) -> None:
    from conftest import build_handmade

    out = build_handmade(tmp_path / "out")
    doc = io.read_json(out / "experiment.json")
    g = doc["groups"][1]
    for r in g["runs"]:
        r["label"] = f"adam | {r['label']} `a|b`"  # case 20
    g["description"] = "Seven optimizers.\n# X\n\nthen\n===\n- item"  # case 21
    doc["description"] = "line\n# Y"
    io.write_json(out / "experiment.json", doc)
    assert main(["report", str(out)]) == 0
    md = (out / "report.md").read_text()
    tokens = MD.parse(md)
    texts = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert not any(t in ("X", "Y", "then") for t in texts), texts
    for rows in _tables(tokens):
        assert len(set(rows)) == 1, rows  # every row of a table has the header's cell count
    page = (out / "report.html").read_text()
    assert "adam | " in _html.unescape(page)
    assert "<h1>X</h1>" not in page


@pytest.mark.parametrize("name", ["a\x00b", "g" * 101, "x\u202eevil", "", " "])
def test_check_name_refuses(name: str) -> None:
    with pytest.raises(ConfigError):
        paths.check_name(name, "e.toml [groups]", "group name")


def test_slug_keeps_safe_names_and_separates_others() -> None:
    assert paths.slug("cnn_vs_rnn") == "cnn_vs_rnn"
    assert paths.slug("a/b") != paths.slug("a_b")
    for n in ("..", ".", "../../x", "/etc/passwd", "a" * 300):
        s = paths.slug(n)
        assert "/" not in s and s not in (".", "..") and len(s) <= 90
