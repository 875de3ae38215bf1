"""Figures for the sanity checks (Adebayo et al. 2018; Petsiuk et al. 2018): arrays in, Figure
out, without pyplot.

* :func:`maps_grid` — image rows, method columns; each map on a diverging scale centred on 0;
* :func:`randomisation_curves` — one panel per method: similarity to the trained map against
  how far down the weights are random, mean over images, band = the seed spread;
* :func:`faithfulness_curves` — deletion and insertion curves per method and a random order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

MEASURE_STYLE = {
    "spearman_abs": ("rank corr. |map|", "C0"),
    "spearman": ("rank corr. signed", "C1"),
    "ssim": ("SSIM", "C2"),
}


def _image(img: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` uint8 or float -> ``(H, W, 3)`` on [0, 1]."""
    img = np.asarray(img, np.float64)
    img = img / 255.0 if img.max() > 1.0 else img
    img = np.clip(img, 0.0, 1.0)
    return np.repeat(img[0][:, :, None], 3, 2) if img.shape[0] == 1 else img.transpose(1, 2, 0)


def maps_grid(
    images: np.ndarray,
    maps: Mapping[str, np.ndarray],
    row_titles: Sequence[str],
    title: str = "",
    notes: Mapping[str, str] | None = None,
) -> Figure:
    """``images`` ``(N, C, H, W)``; ``maps`` per method ``(N, H, W)`` (signed; red positive,
    blue negative, each tile scaled to its own largest absolute value). ``notes``: methods
    not computed, with the reason (an empty column headed "not computed")."""
    from matplotlib import colormaps

    from convscope.plots.table import Cell, image_table

    notes = dict(notes or {})
    cols = ["image", *maps, *notes]
    bwr = colormaps["bwr"]
    rows = []
    for r in range(len(images)):
        row = []
        for name in cols:
            head = name.replace("_", " ") + ("\n(not computed)" if name in notes else "")
            if name == "image":
                row.append(Cell(_image(images[r]), row_titles[r]))
                continue
            img = None
            if name in maps:
                m = np.asarray(maps[name][r], np.float64)
                v = float(np.abs(m).max()) or 1.0
                img = bwr(np.clip((m / v + 1.0) / 2.0, 0.0, 1.0))[..., :3]
            row.append(Cell(img, head if r == 0 else ""))
        rows.append(row)
    return image_table(rows, cell_in=min(1.2, 9.0 / len(cols)), title=title)


def randomisation_curves(
    layers: Sequence[str],
    scores: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]],
    title: str = "",
) -> Figure:
    """``scores[method][order][measure]`` ``(S, L, N)`` with ``layers`` top-down. Solid: the
    cascade (x = the last layer randomised, all above it random too); dotted: each layer
    alone (independent); band: min..max over seeds of the image mean."""
    methods = list(scores)
    ncol = min(4, len(methods))
    nrow = int(np.ceil(len(methods) / ncol))
    fig = Figure(figsize=(2.9 * ncol + 0.3, 2.6 * nrow + 0.9), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    xs = np.arange(len(layers) + 1)
    for ax, m in zip(axes, methods):
        for order, style in (("cascading", "-"), ("independent", ":")):
            if order not in scores[m]:
                continue
            for meas, (label, color) in MEASURE_STYLE.items():
                per_seed = scores[m][order][meas].mean(axis=2)  # (S, L)
                lo, hi, mid = per_seed.min(0), per_seed.max(0), per_seed.mean(0)
                y = np.concatenate([[1.0], mid])
                lab = label if order == "cascading" else None
                ax.plot(xs, y, style, color=color, label=lab, lw=1.4)
                if order == "cascading":
                    ax.fill_between(xs[1:], lo, hi, color=color, alpha=0.25, lw=0)
        ax.axhline(0.0, color="0.6", lw=0.6)
        ax.set_ylim(-0.4, 1.05)
        ax.set_xticks(xs, ["trained", *layers], rotation=45, fontsize=7)
        ax.set_title(m.replace("_", " "), fontsize=9)
    for ax in axes[len(methods) :]:
        ax.set_visible(False)
    axes[0].set_ylabel("similarity to trained map", fontsize=8)
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(
        (title + "\n" if title else "")
        + "solid: cascading from the logits down (band: seed spread); dotted: one layer alone",
        fontsize=8,
    )
    return fig


def faithfulness_curves(
    fractions: np.ndarray,
    deletion: Mapping[str, np.ndarray],
    insertion: Mapping[str, np.ndarray],
    areas: Mapping[str, Mapping[str, float]],
) -> Figure:
    """Mean over images of the target's probability; ``areas[kind][order]`` in the legend."""
    fig = Figure(figsize=(10.0, 3.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, kind, curves in ((axes[0], "deletion", deletion), (axes[1], "insertion", insertion)):
        for i, (name, c) in enumerate(curves.items()):
            style = dict(color="k", ls="--") if name == "random" else dict(color=f"C{i}")
            area = areas[kind][name]
            ax.plot(fractions, c.mean(0), lw=1.4, label=f"{name} ({area:.2f})", **style)
        ax.set_xlabel(f"share of pixels {'removed' if kind == 'deletion' else 'added'}")
        ax.set_ylabel("probability of the true class")
        ax.set_title(f"{kind} (area under the mean curve in brackets)", fontsize=9)
        ax.legend(fontsize=7)
    return fig
