"""The documents say what the code says: docs/errors.md's exit-code table is
``convscope.errors.EXIT_CODES``, every relative link in README.md and docs/*.md leads to a file
that exists, and the README stays a short front door that starts with its two set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from convscope.errors import EXIT_CODES

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def exit_code_table(text: str) -> dict[int, str]:
    """The rows between the ``exit-codes`` markers of a Markdown file, as ``{code: meaning}``."""
    begin, end = text.index("<!-- exit-codes: begin"), text.index("<!-- exit-codes: end")
    rows: dict[int, str] = {}
    for line in text[begin:end].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].isdigit():
            rows[int(cells[0])] = cells[1]
    return rows


def test_errors_md_table_is_the_code_table() -> None:
    assert exit_code_table((ROOT / "docs" / "errors.md").read_text()) == EXIT_CODES


def test_the_table_reader_sees_a_changed_row() -> None:
    text = (ROOT / "docs" / "errors.md").read_text().replace("| 3 | the run diverged", "| 3 | x")
    assert exit_code_table(text) != EXIT_CODES


def relative_links(md: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", md.read_text(), flags=re.S)  # code blocks hold no links
    targets = [a or b for a, b in LINK.findall(text)]
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def anchors(md: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file: lower case, punctuation dropped, spaces -."""
    text = re.sub(r"```.*?```", "", md.read_text(), flags=re.S)
    heads = re.findall(r"^#+\s+(.+?)\s*$", text, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("md", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(md: Path) -> None:
    missing = [t for t in relative_links(md) if not (md.parent / t.split("#")[0]).exists()]
    assert not missing, f"{md.relative_to(ROOT)}: links to missing files: {missing}"
    bad = []
    for t in relative_links(md):
        path, _, anchor = t.partition("#")
        if anchor and path.endswith(".md") and anchor not in anchors(md.parent / path):
            bad.append(t)
    assert not bad, f"{md.relative_to(ROOT)}: links to missing headings: {bad}"


def test_anchors_follow_github() -> None:
    md = ROOT / "docs" / "performance.md"
    assert {"the-reference-report-end-to-end", "unit-explorer"} <= anchors(md)


def test_link_reader_finds_links(tmp_path: Path) -> None:
    md = tmp_path / "a.md"
    md.write_text(
        "[x](b.md) ![i](img.png) [web](https://x.org) [sec](#top)\n```\n[no](c.md)\n```\n"
    )
    assert relative_links(md) == ["b.md", "img.png"]


def test_readme_is_a_front_door() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.encode()) <= 9000, "README.md over about 8 KB: move detail into docs/"
    first_block = text.split("```", 2)[1]
    assert "make reproduce DATA_ROOT=" in first_block and "make test" in first_block
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), (
        "dated figures belong in docs/performance.md"
    )


@pytest.mark.parametrize("argv", [[], ["train"], ["run"]])
def test_help_prints_the_code_table(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from convscope.cli import main

    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # help wraps lines
    assert "exit codes (docs/errors.md):" in out
    for code, meaning in EXIT_CODES.items():
        assert f"{code} {' '.join(meaning.replace('`', '').split())}" in out
