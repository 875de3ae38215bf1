"""Figures of activation statistics over training (reference report Sec. 1.4; TensorBoard-like).

Arrays in (as :func:`convscope.studies.activations.compute.rows_to_arrays` stacks them), Figure out.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from convscope.errors import ConvscopeError


def _get(arrays: dict[str, np.ndarray], layer: str, stat: str) -> np.ndarray:
    key = f"{layer}.{stat}"
    if key not in arrays:
        raise ConvscopeError(f"activation plot: arrays lack {key!r}")
    return np.asarray(arrays[key])


def plot_activation_stats(
    arrays: dict[str, np.ndarray],
    layers: Sequence[str],
    settled: dict[str, int] | None = None,
    title: str | None = None,
) -> Figure:
    """Per layer (columns): mean ± std (top) and fraction of exact zeros (bottom) over steps.

    Args:
        arrays: ``steps (S,)``, ``"<layer>.mean"``, ``".std"``, ``".zero_fraction"`` ``(S,)``.
        layers: which layers, in order.
        settled: optional layer -> settling step, drawn as a dashed vertical line.
    """
    if not layers:
        raise ConvscopeError("activation plot: no layers")
    steps = np.asarray(arrays["steps"])
    n = len(layers)
    fig = Figure(figsize=(3.0 * n, 4.6), layout="constrained")
    axes = fig.subplots(2, n, squeeze=False, sharex=True)
    for j, layer in enumerate(layers):
        mean, std = _get(arrays, layer, "mean"), _get(arrays, layer, "std")
        zf = _get(arrays, layer, "zero_fraction")
        top, bottom = axes[0, j], axes[1, j]
        top.plot(steps, mean, color="C0", marker=".", ms=3, label="mean")
        top.fill_between(steps, mean - std, mean + std, color="C0", alpha=0.25, label="± std")
        top.set_title(layer, fontsize=9)
        bottom.plot(steps, zf, color="C3", marker=".", ms=3)
        bottom.set_ylim(-0.02, 1.02)
        bottom.set_xlabel("iteration")
        if settled and layer in settled:
            for ax in (top, bottom):
                ax.axvline(
                    settled[layer],
                    color="k",
                    ls="--",
                    lw=0.9,
                    label="settles: stats stay near final",
                )
        if j == 0:
            top.set_ylabel("activation")
            bottom.set_ylabel("fraction of zeros")
    handles: dict[str, Any] = {}
    for ax in axes.flat:  # one legend for the figure, the dashed "settles" line included
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles.keys()),
            loc="outside lower center",
            ncol=len(handles),
            fontsize=9,
            frameon=False,
        )
    fig.suptitle(title or "Activation statistics on fixed test images over training", fontsize=10)
    return fig


def drop_exact_zeros(edges: np.ndarray, counts: np.ndarray, zero_fraction: float) -> np.ndarray:
    """Counts ``(bins,)`` without the exact zeros (``zero_fraction`` of all values), taken out
    of the bin that holds 0 (numpy.histogram's rule: the last bin is closed)."""
    out = np.asarray(counts, dtype=np.float64).copy()
    e = np.asarray(edges, dtype=np.float64)
    zeros = round(zero_fraction * out.sum())
    if zeros <= 0 or not e[0] <= 0.0 <= e[-1]:
        return out
    i = min(int(np.searchsorted(e, 0.0, side="right")) - 1, out.size - 1)
    out[i] = max(out[i] - zeros, 0.0)
    return out


def plot_activation_ridgeline(
    arrays: dict[str, np.ndarray],
    layers: Sequence[str],
    max_curves: int = 20,
    overlap: float = 1.8,
    drop_zeros: bool = True,
    title: str | None = None,
) -> Figure:
    """Per layer (columns): histograms at successive steps stacked as a ridgeline, like
    TensorBoard's histogram view (earliest at the top, latest at the bottom, in front).

    Each curve is the density of one record's values scaled to its own peak (the shape is what
    is compared; the spread is on the x axis).

    Args:
        arrays: ``steps (S,)``, ``"<layer>.hist_edges" (S, bins+1)``, ``".hist_counts" (S, bins)``
            and, with ``drop_zeros``, ``".zero_fraction" (S,)``.
        max_curves: at most this many steps (evenly chosen, always with first and last).
        overlap: curve height in units of the vertical spacing.
        drop_zeros: leave the exact zeros out (a ReLU layer's spike at 0 would flatten everything
            else; their share is in :func:`plot_activation_stats`).
    """
    if not layers:
        raise ConvscopeError("activation plot: no layers")
    steps = np.asarray(arrays["steps"])
    s = steps.size
    pick = np.unique(np.round(np.linspace(0, s - 1, min(max_curves, s))).astype(int))
    n = len(layers)
    fig = Figure(figsize=(3.0 * n, 0.25 * len(pick) + 2.4), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    cmap = matplotlib.colormaps["viridis"]
    for j, layer in enumerate(layers):
        edges = _get(arrays, layer, "hist_edges")
        counts = _get(arrays, layer, "hist_counts").astype(np.float64)
        zf = _get(arrays, layer, "zero_fraction") if drop_zeros else np.zeros(s)
        ax = axes[j]
        for rank, i in enumerate(pick):
            c = drop_exact_zeros(edges[i], counts[i], float(zf[i]))
            width = np.diff(edges[i])
            d = c / np.where(width > 0, width, 1.0)
            d = d / (float(d.max()) or 1.0)
            base = len(pick) - 1 - rank  # latest step at the bottom, drawn last (in front)
            centres = 0.5 * (edges[i][:-1] + edges[i][1:])
            y = base + overlap * d
            colour = cmap(rank / max(len(pick) - 1, 1))
            ax.fill_between(centres, base, y, color=colour, alpha=0.7, lw=0, zorder=rank)
            ax.plot(centres, y, color="k", lw=0.5, zorder=rank + 0.5)
        ax.set_yticks(range(len(pick)))
        ax.set_yticklabels([str(int(steps[i])) for i in pick[::-1]], fontsize=6)
        ax.set_title(layer, fontsize=9)
        ax.set_xlabel("activation")
        if j == 0:
            ax.set_ylabel("iteration")
    what = "exact zeros left out, " if drop_zeros else ""
    fig.suptitle(
        title or f"Activation histograms over training ({what}each curve scaled to its peak)",
        fontsize=10,
    )
    return fig


def plot_recurrent_steps(
    arrays: dict[str, np.ndarray], layer: str, max_curves: int = 6, title: str | None = None
) -> Figure:
    """Hidden-state statistics per time step (x) for a few training steps (curves): mean ± std
    and fraction of zeros.

    Args:
        arrays: ``steps (S,)``, ``"<layer>.step_mean"``, ``".step_std"``,
            ``".step_zero_fraction"`` ``(S, T)``.
    """
    steps = np.asarray(arrays["steps"])
    mean = _get(arrays, layer, "step_mean")
    std = _get(arrays, layer, "step_std")
    zf = _get(arrays, layer, "step_zero_fraction")
    if mean.ndim != 2:
        raise ConvscopeError(f"activation plot: {layer}.step_mean must be (S, T), got {mean.shape}")
    pick = np.unique(
        np.round(np.linspace(0, steps.size - 1, min(max_curves, steps.size))).astype(int)
    )
    t = np.arange(mean.shape[1])
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    a, b, c = fig.subplots(1, 3)
    cmap = matplotlib.colormaps["viridis"]
    for rank, i in enumerate(pick):
        col = cmap(rank / max(len(pick) - 1, 1))
        a.plot(t, mean[i], color=col, label=f"iter {int(steps[i])}")
        b.plot(t, std[i], color=col)
        c.plot(t, zf[i], color=col)
    a.set_title("mean", fontsize=9)
    b.set_title("std", fontsize=9)
    c.set_title("fraction of zeros", fontsize=9)
    for ax in (a, b, c):
        ax.set_xlabel("time step (image row)")
    a.legend(fontsize=6)
    fig.suptitle(title or f"{layer}: hidden state per time step over training", fontsize=10)
    return fig
