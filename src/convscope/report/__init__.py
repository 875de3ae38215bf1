"""``convscope report OUT``: report.html and report.md from an experiment's saved results.

Reads ``OUT/experiment.json`` and the run directories it lists (metrics, summaries, analysis
outputs and their figures); never trains. Writes ``OUT/report.html`` (self-contained: inline
CSS, no scripts, no external URLs; figures are relative links to PNGs under ``OUT``),
``OUT/report.md`` (the same content and figures) and the report's own curve figures under
``OUT/figures/``. Every file is written atomically.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from convscope import io

if TYPE_CHECKING:
    from convscope.report.document import Document, Section

log = logging.getLogger(__name__)

__all__ = ["figure_count", "write_report"]


def write_report(out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``OUT/report.html`` and ``OUT/report.md``; return their paths.

    Args:
        out_dir: an experiment output directory (holds ``experiment.json`` and ``runs/``).

    Raises:
        ConvscopeError: ``experiment.json`` is missing or malformed.
    """
    from convscope.report.html import render_html
    from convscope.report.markdown import render_markdown
    from convscope.report.results import load_experiment
    from convscope.report.sections import FigureSink, build_document

    out = Path(out_dir)
    exp = load_experiment(out)
    figs = FigureSink(out)
    doc = build_document(exp, figs, out_label=str(out_dir))
    measure_figures(doc, out)
    html_path, md_path = out / "report.html", out / "report.md"
    io.atomic_write_bytes(html_path, render_html(doc).encode("utf-8"))
    io.atomic_write_bytes(md_path, render_markdown(doc).encode("utf-8"))
    log.debug("report: %s, %s (%d own figures written)", html_path, md_path, len(figs.written))
    return html_path, md_path


def measure_figures(doc: Document, out: Path) -> None:
    """Set each figure's ``width_px`` and ``min_font_px`` from its PNG under ``out``."""
    from PIL import Image

    from convscope.plots.save import read_min_font_px
    from convscope.report.document import Figure, Fold

    def figures(blocks: list) -> list[Figure]:
        found = []
        for b in blocks:
            if isinstance(b, Fold):
                found.extend(figures(b.blocks))
            elif isinstance(b, Figure):
                found.append(b)
        return found

    def walk(sections: list[Section]) -> None:
        for s in sections:
            for b in figures(s.blocks):
                if (out / b.src).is_file():
                    try:
                        with Image.open(out / b.src) as im:
                            b.width_px = im.size[0]
                    except OSError:
                        continue
                    b.min_font_px = read_min_font_px(out / b.src)
            walk(s.children)

    walk(doc.sections)


def figure_count(html_path: str | Path) -> int:
    """How many figures a written report.html shows (its ``<figure>`` elements)."""
    return Path(html_path).read_text(encoding="utf-8").count("<figure>")
