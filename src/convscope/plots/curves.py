"""Training curves: mean over seeds with a spread band, diverged runs marked, curves that
leave a cut axis marked where they leave it, with their value.

Arrays in, :class:`matplotlib.figure.Figure` out; nothing is shown or saved here. The report
(:mod:`convscope.report`) builds the arrays from saved metrics and writes the PNGs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np
from matplotlib.figure import Figure

from convscope.errors import ConvscopeError
from convscope.plots.save import REPORT_DPI

LOG_RATIO = 100.0  # a panel switches to a log y axis when max/min of its values exceeds this


@dataclass(frozen=True)
class Series:
    """One line: ``steps``, ``mean`` and optional band ``low``..``high``, all ``(T,)``.

    ``diverged_step``: the run stopped there because its loss diverged; the line ends with an
    ``x`` marker and the legend says so. Non-finite values are not drawn.
    """

    label: str
    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    diverged_step: int | None = None
    color: str | tuple[float, ...] | None = None
    linestyle: str = "-"


@dataclass(frozen=True)
class Panel:
    """One axes: several :class:`Series`, an optional horizontal reference line."""

    title: str
    ylabel: str
    series: Sequence[Series]
    hline: float | None = None
    hline_label: str = ""
    logy: bool | None = None  # None: log when the values span more than LOG_RATIO


def _check(s: Series) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    steps = np.asarray(s.steps, dtype=np.float64)
    mean = np.asarray(s.mean, dtype=np.float64)
    if steps.ndim != 1 or mean.shape != steps.shape:
        raise ConvscopeError(
            f"curve {s.label!r}: steps and mean must be 1-D of equal length, got "
            f"{steps.shape} and {mean.shape}"
        )
    bands = []
    for name, arr in (("low", s.low), ("high", s.high)):
        if arr is None:
            bands.append(None)
            continue
        a = np.asarray(arr, dtype=np.float64)
        if a.shape != steps.shape:
            raise ConvscopeError(
                f"curve {s.label!r}: {name} must have the shape of steps {steps.shape}, got {a.shape}"
            )
        bands.append(np.where(np.isfinite(a), a, np.nan))
    return steps, np.where(np.isfinite(mean), mean, np.nan), bands[0], bands[1]


def _auto_log(panel: Panel) -> bool:
    """Log scale when the values of the series that did not diverge span > LOG_RATIO."""
    if panel.logy is not None:
        return panel.logy
    vals = [np.asarray(s.mean, dtype=np.float64) for s in panel.series if s.diverged_step is None]
    v = np.concatenate(vals) if vals else np.zeros(0)
    v = v[np.isfinite(v)]
    if v.size == 0 or v.min() <= 0:
        return False
    return bool(v.max() / v.min() > LOG_RATIO)


def _healthy_limits(panel: Panel, log: bool) -> tuple[float, float] | None:
    """y limits that keep the series that did not diverge readable (None: leave autoscale)."""
    healthy, diverged = [], []
    for s in panel.series:
        arrays = [s.mean] + [a for a in (s.low, s.high) if a is not None]
        v = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
        v = v[np.isfinite(v)]
        (diverged if s.diverged_step is not None else healthy).append(v)
    if not healthy or not diverged:
        return None
    h, d = np.concatenate(healthy), np.concatenate(diverged)
    if h.size == 0 or d.size == 0:
        return None
    top = float(h.max())
    if panel.hline is not None and math.isfinite(panel.hline):
        top = max(top, panel.hline)
    lo = float(min(h.min(), d.min()))
    if log:
        top *= 2.0
        return (lo / 1.2, top) if d.max() > top and lo > 0 else None
    top += 0.25 * (top - lo) if top > lo else 1.0
    if d.max() <= top:
        return None
    return lo - 0.04 * (top - lo), top


@dataclass(frozen=True)
class Clipped:
    """A curve that runs above its panel's cut y axis: where it leaves it (``exit_step``, by
    linear interpolation between records) and its first recorded value above the axis."""

    panel: str
    label: str
    exit_step: float
    step: int  # the first record above the axis
    value: float  # its value
    top: float  # where the axis is cut
    peak: float  # the largest value above the axis


def clipped_curves(fig: Figure) -> list[Clipped]:
    """The curves :func:`curves_figure` drew above a cut axis (each has its ``^`` marker)."""
    return list(getattr(fig, "_convscope_clipped", []))


def _mark_clipped(
    ax: Any, panel: Panel, top: float, log: bool, drawn: list[tuple[Series, Any]]
) -> list[Clipped]:
    """A ``^`` on the top edge where each curve leaves the axis, and its value beside it."""
    out = []
    for s, color in drawn:
        steps, mean, _, _ = _check(s)
        above = np.nonzero(np.isfinite(mean) & (mean > top))[0]
        if not above.size:
            continue
        i = int(above[0])
        x = float(steps[i])
        if i > 0 and np.isfinite(mean[i - 1]):
            f = (lambda v: math.log(v)) if log and mean[i - 1] > 0 else (lambda v: v)
            a, b = f(float(mean[i - 1])), f(float(mean[i]))
            if b > a:
                x = float(steps[i - 1]) + (f(top) - a) / (b - a) * float(steps[i] - steps[i - 1])
        ax.plot([x], [top], marker="^", color=color, ms=9, mew=1.5, ls="none", clip_on=False)
        peak = float(np.nanmax(mean[above]))
        text = f"{float(mean[i]):.3g} at {int(steps[i])}"
        if peak > float(mean[i]):
            text += f", max {peak:.3g}"
        ax.annotate(
            text,
            (x, top),
            xytext=(4, -11),
            textcoords="offset points",
            fontsize=8,
            color=color,
            fontweight="bold",
        )
        out.append(Clipped(panel.title, s.label, x, int(steps[i]), float(mean[i]), top, peak))
    return out


# Okabe & Ito's colour-blind-safe palette (https://jfly.uni-koeln.de/color/), yellow last
# (weak on white); past 4 lines the dash changes too, so no two lines differ by colour alone.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
DASHES = ("-", (0, (5, 2)), (0, (1, 1.5)), (0, (5, 2, 1, 2)))


def draw_panel(
    ax: Any, panel: Panel, clipped: list[Clipped] | None = None
) -> list[tuple[Any, str]]:
    """Draw ``panel`` on matplotlib axes ``ax``; return (handle, label) pairs for a legend.

    A diverged series ends in an ``x`` at its last finite value; when it climbs far above the
    other series, the y axis is cut a quarter of their range above their maximum and the
    ``x`` sits on that edge, at the divergence step. Every curve that runs above the cut axis
    gets a ``^`` on the edge where it leaves it, labelled with its first value above it
    (``40 at 200``); ``clipped`` (when given) collects them.
    """
    handles: list[tuple[Any, str]] = []
    markers: list[tuple[float, float, Any]] = []
    drawn: list[tuple[Series, Any]] = []
    for i, s in enumerate(panel.series):
        steps, mean, low, high = _check(s)
        color = s.color if s.color is not None else PALETTE[i % len(PALETTE)]
        style = s.linestyle
        if s.color is None and style == "-":  # colour and dash both differ past 4 lines
            style = DASHES[(i // 4) % len(DASHES)]
        marker = "o" if steps.size <= 30 else None
        (line,) = ax.plot(steps, mean, color=color, linestyle=style, lw=1.8, marker=marker, ms=2.5)
        drawn.append((s, color))
        if low is not None and high is not None:
            ok = np.isfinite(low) & np.isfinite(high)
            if ok.any():
                ax.fill_between(steps, low, high, where=ok, color=color, alpha=0.18, lw=0)
        label = s.label
        if s.diverged_step is not None:
            finite = np.nonzero(np.isfinite(mean) & (steps <= s.diverged_step))[0]
            if finite.size:
                markers.append((float(s.diverged_step), float(mean[finite[-1]]), color))
            label += f" (diverged at {s.diverged_step})"
        handles.append((line, label))
    if panel.hline is not None and math.isfinite(panel.hline):
        h = ax.axhline(panel.hline, color="0.35", lw=1, ls=":")
        if panel.hline_label:
            handles.append((h, panel.hline_label))
    log = _auto_log(panel)
    if log:
        ax.set_yscale("log")
    limits = _healthy_limits(panel, log)
    if limits is not None:
        ax.set_ylim(*limits)
        found = _mark_clipped(ax, panel, limits[1], log, drawn)
        if clipped is not None:
            clipped.extend(found)
    for x, y, color in markers:
        y_shown = min(y, limits[1]) if limits is not None else y
        ax.plot([x], [y_shown], marker="x", color=color, ms=10, mew=2.5, ls="none", clip_on=False)
    ax.set_title(panel.title, fontsize=11)
    ax.set_xlabel("iteration", fontsize=9)
    ax.set_ylabel(panel.ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, alpha=0.3)
    return handles


def curves_figure(
    panels: Sequence[Panel],
    ncols: int = 3,
    panel_size: tuple[float, float] = (4.6, 3.3),
    title: str = "",
    legend_cols: int | None = None,
    sharey: bool | str = False,
) -> Figure:
    """Panels in a grid with one shared legend underneath (entries merged by label).

    Args:
        panels: the axes to draw, row by row.
        ncols: panels per row.
        panel_size: inches per panel (width, height).
        title: figure title.
        legend_cols: columns of the legend (default: up to 4).
        sharey: matplotlib's ``sharey`` (``"row"``: one y scale per row of panels).
    """
    if not panels:
        raise ConvscopeError("curves figure: no panels")
    if ncols <= 0:
        raise ConvscopeError(f"curves figure: ncols must be positive, got {ncols}")
    for p in panels:
        for s in p.series:
            _check(s)
    ncols = min(ncols, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    labels = {s.label for p in panels for s in p.series}
    lcols = legend_cols or max(1, min(4, len(labels) + 1))
    legend_h = 0.25 * math.ceil((len(labels) + 1) / lcols)
    fig = Figure(
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows + legend_h),
        dpi=REPORT_DPI,
        layout="constrained",
    )
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=sharey)
    handles: dict[str, Any] = {}
    clipped: list[Clipped] = []
    for k, p in enumerate(panels):
        for line, label in draw_panel(axes[k // ncols][k % ncols], p, clipped):
            handles.setdefault(label, line)
    fig._convscope_clipped = clipped  # type: ignore[attr-defined]  # read by clipped_curves
    for k in range(len(panels), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    if title:
        fig.suptitle(title, fontsize=12)
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles.keys()),
            loc="outside lower center",
            ncol=lcols,
            fontsize=9,
            frameon=False,
        )
    return fig
