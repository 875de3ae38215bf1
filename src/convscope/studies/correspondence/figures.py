"""The figures of the ``correspondence`` study: arrays in, Figure out (no pyplot, no global state)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from convscope.plots.images import FONT_PT

ArrayLike = np.ndarray


def correspondence_table_figure(
    rows: Sequence[str], columns: Sequence[str], text: Sequence[Sequence[str]], *, title: str = ""
) -> Figure:
    """Table 1 as a figure: ``text[r][c]`` is ``"mean ± std"``."""
    fig = Figure(figsize=(1.6 + 1.5 * len(columns), 0.45 * (len(rows) + 1) + 0.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    table = ax.table(
        cellText=[list(r) for r in text],
        rowLabels=list(rows),
        colLabels=list(columns),
        loc="center",
        cellLoc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(FONT_PT)
    table.scale(1.0, 1.3)
    ax.set_title(
        title or "Delta: mean sign-change distance (lower = more consistent)", fontsize=FONT_PT
    )
    fig.tight_layout()
    return fig
