"""The top-k projections beside the same projections under random weights (Adebayo et al. 2018
on Zeiler & Fergus Fig. 2): arrays in, Figure out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from convscope.plots.zf import FONT_PT, _np, _to_rgb, image_to_unit, signed_to_unit


@dataclass
class LayerRow:
    """One layer's row: ``U`` units, each its strongest entry.

    Attributes:
        title: the layer as a reader sees it, with its similarity.
        patches, trained, random: ``(U, C, ph, pw)`` image patch, trained projection and
            random-weights projection of each unit's strongest test image.
        captions: ``U`` short captions (e.g. ``"map 3, rho 0.12"``).
    """

    title: str
    patches: np.ndarray
    trained: np.ndarray
    random: np.ndarray
    captions: Sequence[str]


def random_weights_figure(rows: Sequence[LayerRow], seed: int) -> Figure:
    """Rows layers; per unit three columns: the patch, its projection with the trained weights
    and with every layer re-initialised (grey = 0)."""
    if not rows:
        raise ValueError("random_weights_figure: no layer to show")
    units = max(len(r.captions) for r in rows)
    fig = Figure(figsize=(1.35 * 3 * units + 0.4, 1.75 * len(rows) + 0.7))
    axes = fig.subplots(len(rows), 3 * units, squeeze=False)
    for i, r in enumerate(rows):
        for u in range(units):
            cells = axes[i, 3 * u : 3 * u + 3]
            for ax in cells:
                ax.set_axis_off()
            if u >= len(r.captions):
                continue
            cells[0].imshow(_to_rgb(image_to_unit(_np(r.patches[u]))), interpolation="nearest")
            cells[1].imshow(_to_rgb(signed_to_unit(_np(r.trained[u]))), interpolation="nearest")
            cells[2].imshow(_to_rgb(signed_to_unit(_np(r.random[u]))), interpolation="nearest")
            cells[0].set_title(r.captions[u], fontsize=FONT_PT - 1, loc="left")
            cells[1].set_title("trained", fontsize=FONT_PT - 1)
            cells[2].set_title("random", fontsize=FONT_PT - 1)
        axes[i, 0].text(
            0.0, 1.45, r.title, transform=axes[i, 0].transAxes, fontsize=FONT_PT - 1, va="bottom"
        )
    fig.suptitle(
        "Top activation per map: patch, projection with the trained weights, and with every "
        f"layer re-initialised (seed {seed})\nalike = the projection shows the image, not what "
        "was learned (Adebayo et al. 2018)",
        fontsize=FONT_PT - 1,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.93), h_pad=2.2)
    return fig


def pick_units(values: np.ndarray, n: int = 4) -> list[int]:
    """Rows of ``(M, k)`` top-k values to show: the ``n`` maps with the strongest top entry
    (live ones only)."""
    v = np.asarray(values, np.float64)[:, 0]
    return [int(i) for i in np.argsort(-v, kind="stable")[:n] if v[i] > 0]
