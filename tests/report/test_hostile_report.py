"""Hostile or unfinished outputs: empty JSON, raw HTML in labels, reading while being written.

Issue 10: bugs 7 and 9, the weak spots "report.md leaks raw HTML" and "report and analyze
while a run is being written".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from conftest import build_handmade
from convscope import io
from convscope.cli import main
from convscope.report.markdown import escape_md
from convscope.runs import RunDir


def err_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0] and "internal error" not in lines[0]
    return lines[0]


def first_run(out: Path) -> Path:
    doc = io.read_json(out / "experiment.json")
    return out / doc["groups"][0]["runs"][0]["dir"]


# --- bug 7: a zero-byte summary.json -----------------------------------------------------------
@pytest.mark.parametrize("name", ["summary.json"])
def test_empty_json_in_out_is_exit_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    out = build_handmade(tmp_path / "out")
    bad = first_run(out) / name
    bad.write_bytes(b"")
    assert main(["report", str(out)]) == 2
    line = err_line(capsys)
    assert str(bad) in line and "empty file" in line


# --- Markdown escaping ------------------------------------------------------------------------
def test_user_strings_are_escaped_in_markdown(tmp_path: Path) -> None:
    out = build_handmade(tmp_path / "out")
    doc = io.read_json(out / "experiment.json")
    evil = "<script>alert(1)</script> *x* [a](http://e.vil) `c` | # _y_"
    doc["groups"][0]["title"] = evil
    doc["groups"][0]["runs"][0]["label"] = evil
    io.write_json(out / "experiment.json", doc)
    assert main(["report", str(out)]) == 0
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert "<script>" not in md and "<script>" not in html
    assert "&lt;script&gt;" in md
    import re

    outside_code = re.sub(r"<code>.*?</code>|`[^`]*`", "", md)
    assert "[a](http://e.vil)" not in outside_code  # no live link from a user string


def test_headings_toc_tables_escape_user_strings() -> None:
    from convscope.report.document import Document, Para, Section, Table
    from convscope.report.markdown import md_inline, render_markdown

    evil = "<img src=x onerror=alert(1)> *x* [a](http://e.vil) | _y_"
    sec = Section("sec-1", "1", evil, blocks=[Para(evil), Table(["run"], [[evil]])])
    md = render_markdown(Document(evil, [("label", evil)], [], [sec]))
    assert "<img" not in md
    assert f"## {md_inline('1 ' + evil)} " in md  # heading
    assert f"- [{md_inline('1 ' + evil)}](#sec-1)" in md  # table of contents
    assert f"| {escape_md(evil)} |" in md  # one table cell: its "|" escaped


def test_escape_md_oracle() -> None:
    assert escape_md("a*b_c`d[e]f<g>&|#!") == r"a\*b_c\`d\[e\]f&lt;g&gt;&amp;\|#!"
    assert escape_md("# _x_ ![i](u)") == r"\# \_x\_ \!\[i\](u)"
    assert escape_md("plain lenet5_adam words 1.5") == "plain lenet5_adam words 1.5"


# --- bug 9: a checkpoint with a malicious pickle ----------------------------------------------
class _Evil:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo pwned",))


def test_malicious_checkpoint_is_one_line_without_advice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = build_handmade(tmp_path / "out")
    run = first_run(out)
    (run / "checkpoints").mkdir(exist_ok=True)
    torch.save({"model": _Evil(), "step": 0}, run / "checkpoints" / "step_0000000.pt")
    from convscope.errors import ConvscopeError

    with pytest.raises(ConvscopeError) as e:
        RunDir(run).load_checkpoint(0)
    msg = str(e.value)
    assert "\n" not in msg and "weights_only=False" not in msg
    assert "refused: it needs posix.system" in msg or "refused: it needs os.system" in msg


def test_a_garbage_checkpoint_says_why_without_pytorchs_advice(tmp_path: Path) -> None:
    """Found by a hand try: bytes that are no checkpoint gave PyTorch's "Please file an issue
    ... WeightsUnpickler error:" line, which blamed PyTorch and hid the reason."""
    out = build_handmade(tmp_path / "out")
    run = first_run(out)
    (run / "checkpoints").mkdir(exist_ok=True)
    (run / "checkpoints" / "step_0000000.pt").write_bytes(b"garbage\n")
    from convscope.errors import ConvscopeError

    with pytest.raises(ConvscopeError) as e:
        RunDir(run).load_checkpoint(0)
    msg = str(e.value)
    assert "\n" not in msg and "file an issue" not in msg and "weights_only" not in msg
    assert "refused: not a weights-only checkpoint (Unsupported operand" in msg


# --- report / analyze while a run is being written --------------------------------------------
def test_report_while_out_is_written_is_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = build_handmade(tmp_path / "out")
    with io.dir_lock(out, what="output directory"):
        assert main(["report", str(out)]) == 4
    assert str(out) in err_line(capsys)
    assert not (out / "report.md").exists()


def test_analyze_while_run_is_written_is_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = first_run(build_handmade(tmp_path / "out"))
    with io.dir_lock(run):
        assert main(["analyze", str(run), "--what", "filters"]) == 4
    assert str(run) in err_line(capsys)


def test_analyze_of_an_unfinished_run_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = first_run(build_handmade(tmp_path / "out"))
    s = RunDir(run).summary() or {}
    io.write_json(run / "summary.json", {**s, "status": "interrupted"})
    assert main(["analyze", str(run), "--what", "filters"]) == 2
    line = err_line(capsys)
    assert str(run) in line and "interrupted" in line and "not finished" in line
