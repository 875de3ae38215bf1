"""Figures comparing configurations of a group, one dot per seed (arrays in, Figure out)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure

from convscope.errors import ConvscopeError


def _jitter(n: int, width: float = 0.22) -> np.ndarray:
    """Deterministic horizontal offsets for ``n`` dots around 0."""
    if n <= 1:
        return np.zeros(max(n, 0))
    return np.linspace(-width / 2, width / 2, n)


def plot_seed_dots(
    labels: Sequence[str],
    panels: Sequence[tuple[str, Sequence[Sequence[float]]]],
    ylabel: str,
    percent: bool = False,
    marked: Sequence[Sequence[bool]] | None = None,
    title: str | None = None,
) -> Figure:
    """One panel per column (e.g. per layer): configurations on x, one dot per seed, a bar at
    the mean.

    Args:
        labels: ``K`` configuration labels.
        panels: ``(panel title, K lists of per-seed values)``; non-finite values are skipped.
        percent: values are shares in [0, 1], shown in percent.
        marked: per panel, ``K`` flags; a flagged configuration gets a dagger (e.g. "differs
            from the reference after Holm correction").
    """
    if not labels or not panels:
        raise ConvscopeError("seed-dot plot: no configurations or no panels")
    k = len(labels)
    n = len(panels)
    fig = Figure(figsize=(min(3.2 + 0.45 * k, 7.5) * min(n, 3) / 1.6, 3.6 * ((n + 2) // 3)))
    fig.set_layout_engine("constrained")
    axes = np.atleast_1d(fig.subplots((n + 2) // 3, min(n, 3), squeeze=False)).ravel()
    scale = 100.0 if percent else 1.0
    for j, (name, per_label) in enumerate(panels):
        if len(per_label) != k:
            raise ConvscopeError(
                f"seed-dot plot: panel {name!r} has {len(per_label)} configurations, expected {k}"
            )
        ax = axes[j]
        for i, vals in enumerate(per_label):
            v = np.asarray([x for x in vals if x is not None], dtype=np.float64)
            v = v[np.isfinite(v)] * scale
            if v.size:
                ax.plot(i + _jitter(v.size), v, "o", color=f"C{i % 10}", ms=5, alpha=0.85)
                ax.hlines(v.mean(), i - 0.3, i + 0.3, color="k", lw=1.2)
                if marked is not None and marked[j][i]:
                    ax.annotate("†", (i, v.max()), ha="center", va="bottom", fontsize=12)
        ax.set_xticks(range(k))
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
        ax.set_xlim(-0.6, k - 0.4)
        if percent:
            ax.set_ylim(-4, 104)
        ax.set_title(name, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        if j % 3 == 0:
            ax.set_ylabel(ylabel + (" (%)" if percent else ""))
    for ax in axes[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_over_training(
    labels: Sequence[str],
    panels: Sequence[tuple[str, Sequence[tuple[np.ndarray, np.ndarray]]]],
    ylabel: str,
    percent: bool = False,
    title: str | None = None,
) -> Figure:
    """One panel per layer: a quantity over training, one line per configuration.

    Args:
        panels: ``(panel title, K pairs (steps (S,), values (S,)))`` -- e.g. the mean over seeds.
    """
    if not labels or not panels:
        raise ConvscopeError("over-training plot: no configurations or no panels")
    n = len(panels)
    fig = Figure(figsize=(3.2 * min(n, 3), 3.2 * ((n + 2) // 3)))
    fig.set_layout_engine("constrained")
    axes = np.atleast_1d(fig.subplots((n + 2) // 3, min(n, 3), squeeze=False)).ravel()
    scale = 100.0 if percent else 1.0
    for j, (name, curves) in enumerate(panels):
        ax = axes[j]
        for i, (steps, values) in enumerate(curves):
            ax.plot(
                np.asarray(steps),
                np.asarray(values) * scale,
                marker=".",
                ms=3,
                color=f"C{i % 10}",
                label=labels[i],
            )
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        if j % 3 == 0:
            ax.set_ylabel(ylabel + (" (%)" if percent else ""))
    axes[0].legend(fontsize=6)
    for ax in axes[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
