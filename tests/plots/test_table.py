"""The one-picture image table: cells land where they should, at the saved resolution, and
captions stay readable and apart."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg

from convscope.plots.save import STUDY_DPI, read_min_font_px, readable_pt, save_png
from convscope.plots.table import EMPTY, GAP_PX, Cell, fit_nearest, image_table


def _canvas(fig) -> np.ndarray:  # noqa: ANN001
    (ax,) = fig.axes
    (im,) = ax.get_images()
    return np.asarray(im.get_array())


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), k=st.integers(1, 6))
def test_fit_nearest_repeats_pixels_by_an_integer_factor(h: int, w: int, k: int) -> None:
    img = np.random.default_rng(h * 100 + w).random((h, w, 3))
    side = max(h, w) * k
    out = fit_nearest(img, side)
    assert out.shape == (side, side, 3)
    big = np.repeat(np.repeat(img, k, axis=0), k, axis=1)  # the oracle: plain repetition
    y0, x0 = (side - h * k) // 2, (side - w * k) // 2
    np.testing.assert_array_equal(out[y0 : y0 + h * k, x0 : x0 + w * k], big)
    assert out.sum() == pytest.approx(big.sum() + (side * side - h * k * w * k) * 3)  # white


def test_cells_land_in_their_place_and_empty_cells_are_grey_or_white() -> None:
    a = np.zeros((4, 4, 3))
    a[..., 0] = 1.0  # red
    b = np.zeros((4, 4, 3))
    b[..., 2] = 1.0  # blue
    side = 40  # 1/3 in at 120 dpi
    fig = image_table(
        [[Cell(a, "red"), Cell(b, "blue")], [Cell(None, "none"), None]],
        cell_in=side / STUDY_DPI,
    )
    c = _canvas(fig)
    assert c.shape[1] == 2 * side + GAP_PX
    red_rows = np.nonzero((c[:, :side] == [1, 0, 0]).all(axis=(1, 2)))[0]
    assert len(red_rows) == side  # the whole tile, unresampled
    y0 = red_rows[0]
    np.testing.assert_array_equal(
        c[y0 : y0 + side, side + GAP_PX :], np.broadcast_to(b[0, 0], (side, side, 3))
    )
    grey = (np.abs(c[:, :side] - EMPTY) < 1e-9).all(axis=(1, 2))
    assert grey.sum() == side  # the empty cell of the second row
    assert (c[grey][:, side + GAP_PX :] == 1.0).all()  # no cell there: white
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["red", "blue", "none"]


def test_captions_are_wrapped_and_do_not_overlap_and_are_readable(tmp_path) -> None:  # noqa: ANN001
    img = np.random.default_rng(0).random((8, 8, 3))
    long = "integrated gradients of the target logit"
    fig = image_table([[Cell(img, long), Cell(img, long), Cell(img, "x")]] * 2, cell_in=0.8,
                      title="a title", row_titles=["row one", "row two"])  # fmt: skip
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].texts if t.get_text() != "x"]
    for i, p in enumerate(boxes):
        for q in boxes[i + 1 :]:
            assert not p.overlaps(q), "two captions overlap"
    png = tmp_path / "t.png"
    smallest = save_png(fig, png, STUDY_DPI)
    need = readable_pt(fig.get_figwidth(), STUDY_DPI) * STUDY_DPI / 72.0
    assert smallest >= need - 1e-6
    assert read_min_font_px(png) == pytest.approx(smallest, abs=0.01)


def test_a_wide_table_raises_its_text_to_what_the_report_shows_readably() -> None:
    img = np.ones((4, 4, 3))
    fig = image_table([[Cell(img, "c")] * 20], cell_in=1.0)  # 20 in wide, shown at 944 px
    buf = io.BytesIO()
    smallest = save_png(fig, buf, STUDY_DPI)
    shown = smallest * 944 / (fig.get_figwidth() * STUDY_DPI)
    assert shown >= 9.5 - 1e-6


def test_no_cell_is_refused() -> None:
    with pytest.raises(ValueError, match="no cell"):
        image_table([])
