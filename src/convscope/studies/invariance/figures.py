"""The figures of the ``invariance`` study: arrays in, Figure out (no pyplot, no global state)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from convscope.plots.images import FONT_PT, as_array

ArrayLike = np.ndarray

INVARIANCE_XLABELS = {
    "translate_y": "vertical translation (px)",
    "scale": "scale factor",
    "rotate": "rotation (degrees)",
}


def invariance_figure(
    params: Mapping[str, ArrayLike],
    curves: Mapping[str, Mapping[str, ArrayLike]],
    *,
    low_layer: str,
    high_layer: str,
    relative: bool = True,
    labels: Sequence[int] | None = None,
    classes: Sequence[str] | None = None,
) -> Figure:
    """Fig. 5: rows transformations; columns distance at the low layer, distance at the high
    layer, probability of the true class; one line per image.

    Args:
        params: kind -> ``(P,)`` transformation values.
        curves: kind -> {``dist_low``, ``dist_high``, ``rel_low``, ``rel_high``,
            ``prob_true``: ``(N, P)``}.
        relative: plot distances divided by the original feature norm (else raw).
    """
    kinds = list(params)
    fig = Figure(figsize=(11.0, 2.8 * len(kinds) + 0.4))
    axes = fig.subplots(len(kinds), 3, squeeze=False)
    lo, hi = ("rel_low", "rel_high") if relative else ("dist_low", "dist_high")
    which = "normalised distance" if relative else "Euclidean distance"
    for r, kind in enumerate(kinds):
        p = as_array(params[kind])
        cur = {k: as_array(v) for k, v in curves[kind].items()}
        n = cur[lo].shape[0]
        for i in range(n):
            name = f"image {i}"
            if labels is not None and classes is not None:
                name = f"{i}: {classes[int(labels[i])]}"
            axes[r, 0].plot(p, cur[lo][i], marker=".", lw=1, label=name)
            axes[r, 1].plot(p, cur[hi][i], marker=".", lw=1)
            axes[r, 2].plot(p, cur["prob_true"][i], marker=".", lw=1)
        axes[r, 0].set_ylabel(f"{which}, {low_layer}", fontsize=FONT_PT)
        axes[r, 1].set_ylabel(f"{which}, {high_layer}", fontsize=FONT_PT)
        axes[r, 2].set_ylabel("p(true class)", fontsize=FONT_PT)
        axes[r, 2].set_ylim(-0.02, 1.02)
        for ax in axes[r]:
            ax.set_xlabel(INVARIANCE_XLABELS.get(kind, kind), fontsize=FONT_PT)
            ax.tick_params(labelsize=FONT_PT - 1)
            ax.grid(alpha=0.3)
        if r == 0:
            axes[r, 0].legend(fontsize=FONT_PT - 1)
    fig.suptitle(f"invariance: low layer {low_layer} vs high layer {high_layer}", fontsize=FONT_PT)
    fig.tight_layout()
    return fig
