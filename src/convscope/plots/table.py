"""A table of small images with a caption over each, drawn as one picture: arrays in, Figure out.

The image grids of the studies (deconvnet projections per layer, the random-weights
comparison, the sanity checks' attribution maps) used one matplotlib ``Axes`` per cell, and
laying out and drawing dozens of axes took about a second per figure. Here the cells are
pasted into one RGB canvas at the resolution the figure is saved at (so nothing is resampled
when it is written) and their captions are text on that one ``Axes``: the same content, drawn
in a tenth of the time. No pyplot, no global state.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from convscope.plots.images import FONT_PT, resize_nearest
from convscope.plots.save import STUDY_DPI, readable_pt

GAP_PX = 6  # white between cells
EMPTY = (0.92, 0.92, 0.92)  # a cell with nothing to show (e.g. "not computed")


@dataclass(frozen=True)
class Cell:
    """One cell: ``image`` ``(h, w, 3)`` on [0, 1] (None: an empty grey tile) and the caption
    over it (may have several lines)."""

    image: np.ndarray | None
    caption: str = ""


def fit_nearest(img: np.ndarray, side: int) -> np.ndarray:
    """``(h, w, 3)`` scaled by nearest neighbour to fit a ``side`` x ``side`` square (aspect
    kept, centred on white); pixels stay visible as blocks."""
    h, w = img.shape[:2]
    s = side / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    out = np.ones((side, side, 3))
    y0, x0 = (side - nh) // 2, (side - nw) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = np.clip(resize_nearest(img[..., :3], nh, nw), 0.0, 1.0)
    return out


def image_table(
    rows: Sequence[Sequence[Cell | None]],
    *,
    cell_in: float = 1.3,
    title: str = "",
    row_titles: Sequence[str] | None = None,
    dpi: float = STUDY_DPI,
) -> Figure:
    """Rows of cells (``None``: nothing there), each image scaled to ``cell_in`` inches square,
    its caption above it; ``row_titles``: a heading above each row, left-aligned; ``title``:
    the figure's title. Captions are at least :data:`FONT_PT` - 1 and raised to what stays
    readable where the report shows the figure (:func:`convscope.plots.save.readable_pt`)."""
    if not rows or not any(rows):
        raise ValueError("image_table: no cell to draw")
    ncols = max(len(r) for r in rows)
    side = max(8, round(cell_in * dpi))
    width_px = ncols * side + (ncols - 1) * GAP_PX
    pt = max(FONT_PT - 1, readable_pt(width_px / dpi, dpi))
    line_px = pt / 72.0 * dpi * 1.3

    per_line = max(4, int(side / (0.6 * pt / 72.0 * dpi)))  # characters that fit a cell
    rows = [[_wrapped(c, per_line) for c in r] for r in rows]

    def lines(text: str) -> int:
        return text.count("\n") + 1 if text else 0

    def height(n: int) -> int:  # n lines of text and 4 px to spare; nothing without text
        return math.ceil(n * line_px) + 4 if n else 0

    bands = [height(max([lines(c.caption) for c in r if c] + [0])) for r in rows]
    heads = [height(lines(t)) for t in (row_titles or [""] * len(rows))]
    tops, y = [], 0
    for band, head in zip(bands, heads):
        tops.append(y)
        y += head + band + side + GAP_PX
    canvas = np.ones((y - GAP_PX, width_px, 3))
    fig = Figure(figsize=(width_px / dpi, (canvas.shape[0] + _title_px(title, pt, dpi)) / dpi))
    ax = fig.add_axes((0.0, 0.0, 1.0, canvas.shape[0] / (fig.get_figheight() * dpi)))
    for r, (row, top) in enumerate(zip(rows, tops)):
        if row_titles and row_titles[r]:
            ax.text(0, top, row_titles[r], fontsize=pt, va="top", ha="left")
        y0 = top + heads[r] + bands[r]
        for c, cell in enumerate(row):
            if cell is None:
                continue
            x0 = c * (side + GAP_PX)
            tile = np.array(EMPTY) if cell.image is None else fit_nearest(cell.image, side)
            canvas[y0 : y0 + side, x0 : x0 + side] = tile
            if cell.caption:
                ax.text(x0 + side / 2, y0 - 2, cell.caption, fontsize=pt, ha="center", va="bottom")
    ax.imshow(canvas, interpolation="nearest", aspect="auto")
    ax.set_xlim(-0.5, width_px - 0.5)
    ax.set_ylim(canvas.shape[0] - 0.5, -0.5)
    ax.set_axis_off()
    ax.set_xticks([])  # no hidden tick labels for save_png to raise (and lay out again for)
    ax.set_yticks([])
    if title:
        top = 1.0 - 4 / (fig.get_figheight() * dpi)
        fig.text(0.5, top, title, fontsize=pt, ha="center", va="top", wrap=True)
    return fig


def _wrapped(cell: Cell | None, width: int) -> Cell | None:
    """The cell with each caption line wrapped at spaces to ``width`` characters."""
    if cell is None or not cell.caption:
        return cell
    parts = [
        textwrap.fill(line, width, break_long_words=False) for line in cell.caption.split("\n")
    ]
    return Cell(cell.image, "\n".join(parts))


def _title_px(title: str, pt: float, dpi: float) -> int:
    return 0 if not title else math.ceil((title.count("\n") + 1) * pt / 72.0 * dpi * 1.3) + 10
