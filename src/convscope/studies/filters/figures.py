"""Figures of first-layer filters (Zeiler & Fergus 2014, arXiv 1311.2901, Fig. 6 style).

Arrays in, :class:`matplotlib.figure.Figure` out; nothing is shown or saved here.

Display choices: a 3-channel filter is one RGB image; a 1-channel filter is a grey image; any
other channel count is shown as its principal channel map
(:func:`convscope.analysis.filters.reduce_channels`). ``normalize="per_filter"`` stretches each
filter to its own min..max (shapes visible, magnitudes lost); ``normalize="shared"`` uses one
scale symmetric about 0 for all filters, with a diverging colour map (grey filters) or mid-grey
= 0 (RGB filters), and a colour bar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure

from convscope.analysis.filters import check_filters, reduce_channels
from convscope.errors import ConvscopeError

Normalization = Literal["per_filter", "shared"]
DIVERGING = "RdBu_r"


def _displayable(w: np.ndarray) -> np.ndarray:
    """``(F, C, kh, kw)`` -> ``(F, kh, kw)`` (grey) or ``(F, kh, kw, 3)`` (RGB)."""
    if w.shape[1] == 3:
        return w.transpose(0, 2, 3, 1)
    if w.shape[1] == 1:
        return w[:, 0]
    return reduce_channels(w, "principal")[0]


def _scale(img: np.ndarray, lo: float, hi: float) -> np.ndarray:
    if hi <= lo:
        return np.full_like(img, 0.5)
    return np.clip((img - lo) / (hi - lo), 0.0, 1.0)


def _check_norm(normalize: str) -> None:
    if normalize not in ("per_filter", "shared"):
        raise ConvscopeError(
            f"filter plot: normalize must be 'per_filter' or 'shared', got {normalize!r}"
        )


def plot_filter_grid(
    weights: np.ndarray,
    normalize: Normalization = "per_filter",
    ncols: int | None = None,
    title: str | None = None,
    labels: Sequence[str] | None = None,
) -> Figure:
    """A grid of filters.

    Args:
        weights: ``(F, C, kh, kw)``.
        normalize: ``"per_filter"`` or ``"shared"`` (with a colour bar).
        ncols: columns (default: 8, fewer when there are fewer filters).
        labels: one short caption per filter (e.g. Gabor R^2), or None.
    """
    w = check_filters(weights, "filter plot")
    _check_norm(normalize)
    f = w.shape[0]
    if labels is not None and len(labels) != f:
        raise ConvscopeError(f"filter plot: {len(labels)} labels for {f} filters")
    imgs = _displayable(w)
    rgb = imgs.ndim == 4
    ncols = ncols or min(8, f)  # rows of 8: wide and short, as the report column is
    nrows = math.ceil(f / ncols)
    fig = Figure(figsize=(1.2 * ncols + (0.8 if normalize == "shared" else 0), 1.25 * nrows + 0.5))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    vmax = float(np.abs(imgs).max()) or 1.0
    im = None
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= f:
            ax.set_axis_off()
            continue
        img = imgs[i]
        if normalize == "per_filter":
            shown = _scale(img, float(img.min()), float(img.max()))
            im = ax.imshow(
                shown, cmap=None if rgb else "gray", vmin=0, vmax=1, interpolation="nearest"
            )
        elif rgb:
            shown = _scale(img, -vmax, vmax)
            im = ax.imshow(shown, interpolation="nearest")
        else:
            im = ax.imshow(img, cmap=DIVERGING, vmin=-vmax, vmax=vmax, interpolation="nearest")
        if labels is not None:
            ax.set_title(labels[i], fontsize=7, pad=2)
    if normalize == "shared" and im is not None:
        if rgb:
            from matplotlib.cm import ScalarMappable
            from matplotlib.colors import Normalize

            sm = ScalarMappable(norm=Normalize(-vmax, vmax), cmap="gray")
            fig.colorbar(
                sm, ax=axes.ravel().tolist(), shrink=0.8, label="channel weight (grey = 0)"
            )
        else:
            fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="weight")
    note = {"per_filter": "each filter scaled to its own range", "shared": "one scale for all"}[
        normalize
    ]
    fig.suptitle(f"{title or 'First-layer filters'} ({note})", fontsize=9)
    return fig


def _ranges(values: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"#0-#2, #5"``."""
    out, vs, i = [], sorted(values), 0
    while i < len(vs):
        j = i
        while j + 1 < len(vs) and vs[j + 1] == vs[j] + 1:
            j += 1
        out.append(f"#{vs[i]}" if i == j else f"#{vs[i]}-#{vs[j]}")
        i = j + 1
    return ", ".join(out)


def plot_filter_strip(
    weights_by_step: Sequence[np.ndarray],
    steps: Sequence[int],
    filters: Sequence[int] | None = None,
    normalize: Literal["per_row", "per_image"] = "per_row",
    title: str | None = None,
) -> Figure:
    """The same filters at several training steps: rows are filters, columns are steps.

    Args:
        weights_by_step: one ``(F, C, kh, kw)`` array per step (same shape).
        steps: the step of each array.
        filters: which filters (rows); default the first ``min(F, 8)``.
        normalize: ``"per_row"`` (one scale per filter across steps, so growth is visible) or
            ``"per_image"``.
    """
    if len(weights_by_step) != len(steps) or not steps:
        raise ConvscopeError(
            f"filter strip: expected one weight array per step, got {len(weights_by_step)} arrays "
            f"and {len(steps)} steps"
        )
    if normalize not in ("per_row", "per_image"):
        raise ConvscopeError(
            f"filter strip: normalize must be 'per_row' or 'per_image', got {normalize!r}"
        )
    ws = [check_filters(w, f"filter strip (step {s})") for w, s in zip(weights_by_step, steps)]
    if any(w.shape != ws[0].shape for w in ws):
        raise ConvscopeError(
            f"filter strip: weight arrays differ in shape: {[w.shape for w in ws]}"
        )
    f = ws[0].shape[0]
    rows = list(filters) if filters is not None else list(range(min(f, 8)))
    if not rows or any(not 0 <= r < f for r in rows):
        raise ConvscopeError(f"filter strip: filter indices must be in [0, {f}), got {rows}")
    imgs = [_displayable(w) for w in ws]  # each (F, kh, kw[, 3])
    fig = Figure(figsize=(1.1 * len(steps) + 0.8, 1.1 * len(rows) + 0.6))
    axes = fig.subplots(len(rows), len(steps), squeeze=False)
    for r, fi in enumerate(rows):
        row_lo = min(float(im[fi].min()) for im in imgs)
        row_hi = max(float(im[fi].max()) for im in imgs)
        for c, im in enumerate(imgs):
            ax = axes[r, c]
            img = im[fi]
            lo, hi = (
                (row_lo, row_hi) if normalize == "per_row" else (float(img.min()), float(img.max()))
            )
            shown = _scale(img, lo, hi)
            ax.imshow(
                shown,
                cmap=None if shown.ndim == 3 else "gray",
                vmin=0,
                vmax=1,
                interpolation="nearest",
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"step {steps[c]}", fontsize=7)
            if c == 0:
                ax.set_ylabel(f"#{fi}", fontsize=7)
    note = "one scale per filter across steps" if normalize == "per_row" else "each image own range"
    shown = f"filters {_ranges(rows)} of {f}" if len(rows) < f else f"all {f} filters"
    fig.suptitle(
        f"{title or 'First-layer filters over training'}: {shown} ({note})", fontsize=9, wrap=True
    )
    return fig


def plot_gabor_fits(
    maps: np.ndarray,
    fitted: np.ndarray,
    r2: np.ndarray,
    max_filters: int = 16,
    title: str | None = None,
) -> Figure:
    """Filters (top row of each pair) and their Gabor fits (bottom), with R^2.

    Args:
        maps: ``(F, kh, kw)`` the maps that were fit.
        fitted: ``(F, kh, kw)`` the fitted Gabor functions.
        r2: ``(F,)``.
        max_filters: show at most this many (the order given).
    """
    m = np.asarray(maps, dtype=np.float64)
    g = np.asarray(fitted, dtype=np.float64)
    r = np.asarray(r2, dtype=np.float64)
    if m.ndim != 3 or g.shape != m.shape or r.shape != (m.shape[0],):
        raise ConvscopeError(
            f"Gabor plot: expected maps and fitted (F, kh, kw) and r2 (F,), got {m.shape}, {g.shape}, {r.shape}"
        )
    n = min(m.shape[0], max_filters)
    ncols = min(8, n)
    pairs = math.ceil(n / ncols)
    fig = Figure(figsize=(1.1 * ncols, 2.2 * pairs + 0.5))
    axes = fig.subplots(2 * pairs, ncols, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_axis_off()
    for i in range(n):
        pr, c = divmod(i, ncols)
        v = float(max(np.abs(m[i]).max(), np.abs(g[i]).max())) or 1.0
        for k, img in enumerate((m[i], g[i])):
            ax = axes[2 * pr + k, c]
            ax.set_axis_on()
            ax.imshow(img, cmap=DIVERGING, vmin=-v, vmax=v, interpolation="nearest")
        axes[2 * pr, c].set_title(f"R²={r[i]:.2f}", fontsize=7, pad=2)
    fig.suptitle(title or "Filters (upper) and their least-squares Gabor fits (lower)", fontsize=9)
    return fig
