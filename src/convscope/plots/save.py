"""Save a figure as PNG so that its text stays readable where the report shows it.

The report shows a figure at its natural size, or scaled down to the text column
(:data:`COLUMN_PX`, the column at a 1000 px wide window). Scaling shrinks text with it, so
:func:`save_png` first raises every text smaller than :data:`MIN_TEXT_PX` *as shown* (tick
labels, titles, legends, annotations) to that size, lays the figure out again, then writes the
PNG with its smallest text size in pixels as PNG text metadata (:data:`FONT_KEY`). The report
copies it into ``data-min-font-px`` and a browser test checks the rendered size against it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

COLUMN_PX = 944  # the report's text column at a 1000 px window (1000 - 2 x 28 px padding)
MIN_TEXT_PX = 9.5  # the smallest text as shown in the report, in CSS px (>= 9 asked)
FONT_KEY = "convscope:min-font-px"  # PNG tEXt key: the smallest text in the file, in px
MARGIN_PX = 8  # background kept around what a figure draws (the rest of its margin is cut)

# Figure resolutions, in dots per inch: the only place they are set. Three values, because
# the figures were sized for them and changing one would change the PNGs the report shows.
REPORT_DPI = 100  # the report's own figures (training curves, group charts: report/sections)
STUDY_DPI = 120  # a study's figures (studies/base.py): small text on image grids stays legible
ACROSS_DPI = 110  # the across-sweep study's figures (studies/across/files.py, plain savefig)


def _texts(fig: Figure) -> list[Text]:
    return [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.figure is not None
    ]


def readable_pt(width_in: float, dpi: float) -> float:
    """The smallest font size in points that stays readable (:data:`MIN_TEXT_PX`) where the
    report shows a figure ``width_in`` inches wide saved at ``dpi``."""
    return MIN_TEXT_PX / min(1.0, COLUMN_PX / (width_in * dpi)) * 72.0 / dpi


def min_font_px(fig: Figure, dpi: float) -> float:
    """The smallest visible text of ``fig`` in file pixels at ``dpi`` (after a draw)."""
    FigureCanvasAgg(fig).draw()
    sizes = [t.get_fontsize() for t in _texts(fig)]
    return min(sizes) * dpi / 72.0 if sizes else float("inf")


def enforce_min_text(fig: Figure, dpi: float) -> float:
    """Raise every text of ``fig`` to at least :data:`MIN_TEXT_PX` as the report shows it;
    return the smallest text size in file pixels afterwards."""
    canvas = FigureCanvasAgg(fig)
    _raise_small_text(fig, dpi)
    canvas.draw()  # texts a draw creates (ticks of a rescaled axis) are checked again
    _raise_small_text(fig, dpi)
    return _smallest_px(fig, dpi)


def _raise_small_text(fig: Figure, dpi: float) -> bool:
    """Set every text below the minimum to it; True when one changed. No draw is needed:
    ``get_ticklabels`` places the ticks and formats their labels from the view limits."""
    need_pt = readable_pt(fig.get_figwidth(), dpi)
    changed = False
    for ax in fig.axes:
        for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            labels = [t for t in axis.get_ticklabels() if t.get_text()]
            if labels and min(t.get_fontsize() for t in labels) < need_pt:
                ax.tick_params(axis=name, labelsize=need_pt)  # also ticks made later
                changed = True
    for t in _texts(fig):
        if t.get_fontsize() < need_pt:
            t.set_fontsize(need_pt)
            changed = True
    if changed and fig.get_layout_engine() is None:
        fig.tight_layout()
    return changed


def _smallest_px(fig: Figure, dpi: float) -> float:
    sizes = [t.get_fontsize() for t in _texts(fig)]
    return min(sizes) * dpi / 72.0 if sizes else float("inf")


def save_png(fig: Figure, target: str | Path | io.BytesIO, dpi: float) -> float:
    """Write ``fig`` as PNG to ``target`` (a path or a buffer) with readable text; return
    the smallest text size in file pixels (also written into the PNG as :data:`FONT_KEY`).

    Small texts are raised before the figure is drawn, so it is drawn once at ``dpi`` (again
    only if that draw made a text that is still too small), and the PNG is that drawing's
    pixels (:func:`trim_margins` cuts their empty border): what ``savefig`` would write after
    two or three draws of its own, with ``bbox_inches="tight"``.
    """
    import matplotlib.image

    old_dpi = fig.get_dpi()
    fig.set_dpi(dpi)
    try:
        canvas = FigureCanvasAgg(fig)
        _raise_small_text(fig, dpi)
        canvas.draw()
        if _raise_small_text(fig, dpi):
            canvas.draw()
        smallest = _smallest_px(fig, dpi)
        matplotlib.image.imsave(
            target,
            trim_margins(np.asarray(canvas.buffer_rgba()), fig.get_facecolor()),
            format="png",
            origin="upper",
            dpi=dpi,
            metadata={FONT_KEY: f"{smallest:.2f}"},
        )
    finally:
        fig.set_dpi(old_dpi)
    return smallest


def trim_margins(rgba: np.ndarray, face: tuple[float, ...], keep: int = MARGIN_PX) -> np.ndarray:
    """``(H, W, 4)`` pixels without the empty border of the figure's background colour
    ``face`` (RGBA in 0..1), keeping ``keep`` px of it on each side (all when nothing is drawn).

    A grid of small images in a figure of fixed size leaves wide white margins; the report
    shows the PNG at its own size, so they would only push the text apart.
    """
    bg = np.round(np.asarray(face, dtype=np.float64) * 255).astype(np.int16)
    drawn = np.any(np.abs(rgba.astype(np.int16) - bg) > 2, axis=2)
    rows, cols = np.nonzero(drawn.any(axis=1))[0], np.nonzero(drawn.any(axis=0))[0]
    if rows.size == 0:
        return rgba
    y0, y1 = max(0, rows[0] - keep), min(rgba.shape[0], rows[-1] + 1 + keep)
    x0, x1 = max(0, cols[0] - keep), min(rgba.shape[1], cols[-1] + 1 + keep)
    return np.ascontiguousarray(rgba[y0:y1, x0:x1])


def read_min_font_px(path: str | Path) -> float | None:
    """:data:`FONT_KEY` of a PNG written by :func:`save_png`; None for any other file."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            value = im.info.get(FONT_KEY)
            return float(value) if value is not None else None
    except (OSError, ValueError):
        return None
