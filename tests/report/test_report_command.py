"""``convscope report OUT`` says once where it wrote and how many figures the report shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import build_handmade
from convscope.cli import main


def test_report_line_once_with_the_figures_the_page_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = build_handmade(tmp_path / "out", analysis=True)
    assert main(["report", str(out)]) == 0
    captured = capsys.readouterr()
    lines = [ln for ln in (captured.out + captured.err).splitlines() if "report" in ln]
    assert len(lines) == 1, lines
    shown = (out / "report.html").read_text().count("<img ")
    assert shown > 4
    assert lines[0].endswith(f"({shown} figures)")
