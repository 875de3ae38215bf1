"""Curve figures: arrays in, Figure out; bands, divergence marks, axis choices."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from convscope.errors import ConvscopeError
from convscope.plots.curves import Clipped, Panel, Series, clipped_curves, curves_figure

STEPS = np.arange(1, 11) * 100


def test_one_line_per_series_and_a_band_only_with_spread() -> None:
    a = Series("a", STEPS, np.linspace(0.1, 0.5, 10), STEPS * 0 + 0.05, STEPS * 0 + 0.6)
    b = Series("b", STEPS, np.linspace(0.2, 0.4, 10))
    fig = curves_figure([Panel("test accuracy", "accuracy", [a, b], hline=0.4, hline_label="40%")])
    ax = fig.axes[0]
    plotted = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 10]
    assert len(plotted) == 2
    np.testing.assert_allclose(plotted[0].get_ydata(), np.linspace(0.1, 0.5, 10))
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["a", "b", "40%"]


def test_diverged_series_is_marked_and_does_not_flatten_the_others() -> None:
    healthy = Series("ok", STEPS, np.linspace(2.0, 1.0, 10))
    div_steps = np.array([100, 200, 300])
    div = Series("bad", div_steps, np.array([1.8, 40.0, np.inf]), diverged_step=300)
    fig = curves_figure([Panel("train loss", "loss", [healthy, div])])
    ax = fig.axes[0]
    crosses = [ln for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert len(crosses) == 1
    assert crosses[0].get_xdata()[0] == 300
    lo, hi = ax.get_ylim()
    assert 2.0 <= hi < 40.0  # cut above the healthy curve, not stretched to 40
    assert crosses[0].get_ydata()[0] == pytest.approx(hi)  # the mark sits on the edge
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "bad (diverged at 300)" in labels
    assert ax.get_yscale() == "linear"
    # the curve leaves the cut axis between its records 1.8 (step 100) and 40 (step 200): a
    # "^" on the edge there, by linear interpolation, and its value beside it
    exit_x = 100 + (hi - 1.8) / (40.0 - 1.8) * 100
    ups = [ln for ln in ax.get_lines() if ln.get_marker() == "^"]
    assert len(ups) == 1
    assert ups[0].get_xdata()[0] == pytest.approx(exit_x)
    assert ups[0].get_ydata()[0] == pytest.approx(hi) and not ups[0].get_clip_on()
    assert "40 at 200" in [t.get_text() for t in ax.texts]
    assert clipped_curves(fig) == [Clipped("train loss", "bad", exit_x, 200, 40.0, hi, 40.0)]


def test_no_marker_when_nothing_leaves_the_axis() -> None:
    ok = Series("ok", STEPS, np.linspace(2.0, 1.0, 10))
    fig = curves_figure([Panel("train loss", "loss", [ok])])
    assert clipped_curves(fig) == []
    assert not [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "^"]


def test_log_axis_when_values_span_orders_of_magnitude() -> None:
    wide = Series("w", STEPS, np.geomspace(2.3, 0.002, 10))
    fig = curves_figure([Panel("loss", "loss", [wide]), Panel("loss", "loss", [wide], logy=False)])
    assert fig.axes[0].get_yscale() == "log"
    assert fig.axes[1].get_yscale() == "linear"


def test_legend_entries_merge_across_panels_and_grid_shape() -> None:
    s = [Series(f"h={h}", STEPS, np.linspace(0, 1, 10)) for h in (32, 64)]
    panels = [Panel(f"p{i}", "y", s) for i in range(5)]
    fig = curves_figure(panels, ncols=3)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 5
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["h=32", "h=64"]


def test_bad_input_names_the_curve() -> None:
    with pytest.raises(ConvscopeError, match="curve 'x'"):
        curves_figure([Panel("t", "y", [Series("x", STEPS, np.zeros(3))])])
    with pytest.raises(ConvscopeError, match="low must have the shape"):
        curves_figure([Panel("t", "y", [Series("x", STEPS, np.zeros(10), np.zeros(2), None)])])
    with pytest.raises(ConvscopeError, match="no panels"):
        curves_figure([])


def test_sharey_row_gives_one_scale_per_row() -> None:
    lo = Series("a", STEPS, np.linspace(0.1, 0.2, 10))
    hi = Series("a", STEPS, np.linspace(0.5, 0.9, 10))
    fig = curves_figure([Panel("l", "y", [lo]), Panel("h", "y", [hi])], ncols=2, sharey="row")
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()
    fig = curves_figure([Panel("l", "y", [lo]), Panel("h", "y", [hi])], ncols=2)
    assert fig.axes[0].get_ylim() != fig.axes[1].get_ylim()
