"""Filter and activation figures: arrays in, Figure out, what is drawn matches the arrays."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from convscope.errors import ConvscopeError
from convscope.studies.activations.figures import (
    drop_exact_zeros,
    plot_activation_ridgeline,
    plot_activation_stats,
    plot_recurrent_steps,
)
from convscope.studies.filters.figures import plot_filter_grid, plot_filter_strip, plot_gabor_fits


def _images(fig: Figure) -> list:
    return [im for ax in fig.axes for im in ax.get_images()]


def test_grid_per_filter_grey() -> None:
    w = np.random.default_rng(0).standard_normal((10, 1, 5, 5))
    fig = plot_filter_grid(w, "per_filter")
    imgs = _images(fig)
    assert len(imgs) == 10
    a = imgs[3].get_array()
    assert a.shape == (5, 5) and float(a.min()) == 0.0 and float(a.max()) == 1.0
    # same pattern as the filter: a monotone stretch of its values
    np.testing.assert_allclose(a, (w[3, 0] - w[3, 0].min()) / np.ptp(w[3, 0]))


def test_grid_shared_grey_has_a_colour_bar_and_symmetric_scale() -> None:
    w = np.random.default_rng(1).standard_normal((6, 1, 3, 3))
    fig = plot_filter_grid(w, "shared", ncols=3)
    imgs = _images(fig)
    vmax = np.abs(w).max()
    assert imgs[0].get_clim() == pytest.approx((-vmax, vmax))
    assert imgs[0].get_cmap().name == "RdBu_r"
    assert len(fig.axes) == 6 + 1  # six filters and the colour bar


def test_grid_rgb_filters() -> None:
    w = np.random.default_rng(2).standard_normal((4, 3, 5, 5))
    for norm in ("per_filter", "shared"):
        fig = plot_filter_grid(w, norm)  # type: ignore[arg-type]
        imgs = _images(fig)
        assert imgs[0].get_array().shape == (5, 5, 3)
    # shared: 0 weight is mid-grey
    w0 = np.zeros((1, 3, 2, 2))
    w0[0, 0, 0, 0] = 1.0
    a = _images(plot_filter_grid(w0, "shared"))[0].get_array()
    assert a[1, 1].tolist() == [0.5, 0.5, 0.5] and a[0, 0, 0] == 1.0


def test_grid_labels_and_errors() -> None:
    w = np.zeros((2, 1, 3, 3))
    fig = plot_filter_grid(w, labels=["a", "b"])
    assert [ax.get_title() for ax in fig.axes[:2]] == ["a", "b"]
    with pytest.raises(ConvscopeError, match="2 labels for 3 filters"):
        plot_filter_grid(np.zeros((3, 1, 3, 3)), labels=["a", "b"])
    with pytest.raises(ConvscopeError, match="normalize"):
        plot_filter_grid(w, "global")  # type: ignore[arg-type]


def test_strip_rows_are_filters_columns_are_steps() -> None:
    rng = np.random.default_rng(3)
    ws = [rng.standard_normal((6, 1, 5, 5)) * s for s in (0.1, 0.5, 1.0)]
    fig = plot_filter_strip(ws, [0, 100, 200], filters=[1, 4])
    imgs = _images(fig)
    assert len(imgs) == 2 * 3
    assert [ax.get_title() for ax in fig.axes[:3]] == ["step 0", "step 100", "step 200"]
    # per_row: one scale across steps, so the small step-0 filter uses a narrow band
    assert np.ptp(imgs[0].get_array()) < np.ptp(imgs[2].get_array())
    with pytest.raises(ConvscopeError, match="one weight array per step"):
        plot_filter_strip(ws, [0, 1])
    with pytest.raises(ConvscopeError, match="filter indices"):
        plot_filter_strip(ws, [0, 1, 2], filters=[6])


def test_gabor_fit_figure() -> None:
    m = np.random.default_rng(4).standard_normal((3, 5, 5))
    fig = plot_gabor_fits(m, m * 0.9, np.array([0.1, 0.5, 0.9]))
    assert len(_images(fig)) == 6
    with pytest.raises(ConvscopeError, match="expected maps"):
        plot_gabor_fits(m, m[:2], np.zeros(3))


def activation_arrays(s: int = 5, bins: int = 4) -> dict[str, np.ndarray]:
    steps = np.arange(s) * 100
    arr: dict[str, np.ndarray] = {"steps": steps}
    for layer in ("Layer_1_Activations", "Logits"):
        arr[f"{layer}.mean"] = np.linspace(0, 1, s)
        arr[f"{layer}.std"] = np.full(s, 0.2)
        arr[f"{layer}.zero_fraction"] = np.linspace(0.5, 0.7, s)
        arr[f"{layer}.hist_edges"] = np.tile(np.linspace(0, 2, bins + 1), (s, 1))
        arr[f"{layer}.hist_counts"] = np.tile(np.arange(1, bins + 1), (s, 1))
    arr["Layer_1_Activations.step_mean"] = np.zeros((s, 7))
    arr["Layer_1_Activations.step_std"] = np.ones((s, 7))
    arr["Layer_1_Activations.step_zero_fraction"] = np.zeros((s, 7))
    return arr


def test_stats_figure_draws_mean_and_zero_fraction() -> None:
    arr = activation_arrays()
    fig = plot_activation_stats(arr, ["Layer_1_Activations", "Logits"], settled={"Logits": 300})
    assert len(fig.axes) == 4
    line = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), arr["Layer_1_Activations.mean"])
    with pytest.raises(ConvscopeError, match="lack 'Nope.mean'"):
        plot_activation_stats(arr, ["Nope"])


def test_ridgeline_one_curve_per_picked_step() -> None:
    arr = activation_arrays(s=30)
    fig = plot_activation_ridgeline(arr, ["Layer_1_Activations", "Logits"], max_curves=10)
    assert len(fig.axes) == 2
    assert len(fig.axes[0].get_lines()) == 10
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "2900" and labels[-1] == "0"  # latest at the bottom tick (index 0)


def test_recurrent_steps_figure() -> None:
    fig = plot_recurrent_steps(activation_arrays(), "Layer_1_Activations", max_curves=3)
    assert len(fig.axes) == 3 and len(fig.axes[0].get_lines()) == 3


def test_drop_exact_zeros_from_the_bin_holding_zero() -> None:
    edges = np.array([-1.0, 0.0, 1.0, 2.0])
    counts = np.array([2, 5, 3])  # 10 values, 4 of them exactly 0 (in bin [0, 1))
    np.testing.assert_array_equal(drop_exact_zeros(edges, counts, 0.4), [2, 1, 3])
    relu_edges = np.array([0.0, 1.0, 2.0])  # ReLU output: 0 is the minimum, first bin
    np.testing.assert_array_equal(drop_exact_zeros(relu_edges, np.array([6, 4]), 0.5), [1, 4])
    top = np.array([-2.0, -1.0, 0.0])  # 0 is the maximum: the last (closed) bin
    np.testing.assert_array_equal(drop_exact_zeros(top, np.array([1, 3]), 0.25), [1, 2])
    np.testing.assert_array_equal(drop_exact_zeros(np.array([1.0, 2.0]), np.array([3]), 0.0), [3])
