"""The top-k projections beside the same projections under random weights (Adebayo et al. 2018
on Zeiler & Fergus Fig. 2): arrays in, Figure out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from convscope.plots.images import FONT_PT, image_to_unit, signed_to_unit
from convscope.plots.images import as_array as _np
from convscope.plots.images import to_rgb as _to_rgb


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
    fig = Figure(figsize=(1.3 * 3 * units + 0.4, 2.1 * len(rows) + 0.8), layout="constrained")
    fig.suptitle(
        "Top activation per map: patch, projection with the trained weights, and with every "
        f"layer re-initialised (seed {seed})\nalike = the projection shows the image, not what "
        "was learned (Adebayo et al. 2018)",
        fontsize=FONT_PT,
    )
    subs = fig.subfigures(len(rows), 1, squeeze=False)[:, 0]
    for sub, r in zip(subs, rows):
        sub.suptitle(r.title, fontsize=FONT_PT, x=0.01, ha="left")
        axes = sub.subplots(1, 3 * units, squeeze=False)[0]
        for ax in axes:
            ax.set_axis_off()
        for u in range(len(r.captions)):
            cells = axes[3 * u : 3 * u + 3]
            cells[0].imshow(_to_rgb(image_to_unit(_np(r.patches[u]))), interpolation="nearest")
            cells[1].imshow(_to_rgb(signed_to_unit(_np(r.trained[u]))), interpolation="nearest")
            cells[2].imshow(_to_rgb(signed_to_unit(_np(r.random[u]))), interpolation="nearest")
            for ax, t in zip(cells, (r.captions[u], "trained", "random")):
                ax.set_title(t, fontsize=FONT_PT - 1)
    return fig


def pick_units(values: np.ndarray, n: int = 4) -> list[int]:
    """Rows of ``(M, k)`` top-k values to show: the ``n`` maps with the strongest top entry
    (live ones only)."""
    v = np.asarray(values, np.float64)[:, 0]
    return [int(i) for i in np.argsort(-v, kind="stable")[:n] if v[i] > 0]
