"""Seed-dot and over-training figures: one dot per finite seed value, one panel per column."""

from __future__ import annotations

import numpy as np
import pytest

from convscope.errors import ConvscopeError
from convscope.studies.across.figures import plot_over_training, plot_seed_dots


def test_seed_dots_draw_every_finite_seed() -> None:
    panels = [("conv1", [[0.1, 0.2, 0.3], [0.5, None]]), ("fc1", [[0.0], [float("nan"), 1.0]])]
    fig = plot_seed_dots(["a", "b"], panels, "share", percent=True, marked=[[False, True]] * 2)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["conv1", "fc1"]
    dots = [np.concatenate([ln.get_ydata() for ln in ax.lines]) for ax in axes]
    assert sorted(dots[0].tolist()) == pytest.approx([10, 20, 30, 50])
    assert sorted(dots[1].tolist()) == pytest.approx([0, 100])
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["a", "b"]
    with pytest.raises(ConvscopeError, match="expected 2"):
        plot_seed_dots(["a", "b"], [("x", [[1.0]])], "y")


def test_over_training_one_line_per_configuration() -> None:
    s = np.array([0, 10, 20])
    fig = plot_over_training(["a", "b"], [("conv1", [(s, s / 20), (s, s / 40)])], "dead", True)
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and ax.lines[0].get_ydata().tolist() == [0, 50, 100]
