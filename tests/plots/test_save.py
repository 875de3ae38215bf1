"""save_png draws a figure once (twice when a text grew) and writes what savefig would."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from convscope.plots import save as save_mod
from convscope.plots.save import MIN_TEXT_PX, enforce_min_text, read_min_font_px, save_png

DPI = 120


def figure(small: bool, constrained: bool, dpi: float = 100) -> Figure:
    fig = Figure(figsize=(5, 3), dpi=dpi, layout="constrained" if constrained else None)
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(np.arange(10), np.arange(10) ** 2, label="squares")
    ax.set_title("a title", fontsize=4 if small else 14)
    ax.legend(fontsize=3 if small else 12)
    ax.tick_params(labelsize=4 if small else 12)
    fig.add_subplot(1, 2, 2).imshow(np.random.default_rng(0).random((8, 8)))
    return fig


def pixels(buf: io.BytesIO) -> np.ndarray:
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGBA"))


@pytest.mark.parametrize("small", [True, False])
@pytest.mark.parametrize("constrained", [True, False])
def test_the_png_is_what_savefig_writes(small: bool, constrained: bool) -> None:
    ours = io.BytesIO()
    smallest = save_png(figure(small, constrained), ours, DPI)
    theirs = io.BytesIO()
    ref = figure(small, constrained, dpi=DPI)  # laid out at the dpi it is saved at
    assert enforce_min_text(ref, DPI) == smallest
    ref.savefig(theirs, format="png", dpi=DPI)
    a, b = pixels(ours), without_border(pixels(theirs))
    assert a.shape == b.shape and a.shape[0] <= 3 * DPI and a.shape[1] <= 5 * DPI
    assert np.array_equal(a, b)
    assert smallest >= MIN_TEXT_PX - 1e-9


def without_border(img: np.ndarray, keep: int = 8) -> np.ndarray:
    """Brute force: the white rows and columns at the edges cut, ``keep`` px left of them."""
    h, w = img.shape[:2]
    white = [255, 255, 255, 255]
    ink_rows = [y for y in range(h) if any(list(img[y, x]) != white for x in range(w))]
    ink_cols = [x for x in range(w) if any(list(img[y, x]) != white for y in range(h))]
    y0, y1 = max(0, ink_rows[0] - keep), min(h, ink_rows[-1] + 1 + keep)
    x0, x1 = max(0, ink_cols[0] - keep), min(w, ink_cols[-1] + 1 + keep)
    return img[y0:y1, x0:x1]


def test_a_small_drawing_in_a_large_figure_loses_its_empty_margin() -> None:
    fig = Figure(figsize=(6, 6), dpi=100)
    ax = fig.add_axes((0.4, 0.4, 0.2, 0.1))  # 120 x 60 px in a 600 x 600 px figure
    ax.imshow(np.zeros((2, 4)), cmap="gray", aspect="auto")
    ax.set_axis_off()
    buf = io.BytesIO()
    save_png(fig, buf, 100)
    h, w = pixels(buf).shape[:2]
    assert abs(w - (120 + 16)) <= 2 and abs(h - (60 + 16)) <= 2


@pytest.mark.parametrize("small", [True, False])
def test_every_text_drawn_is_at_least_the_minimum(small: bool) -> None:
    fig = figure(small, True)
    save_png(fig, io.BytesIO(), DPI)
    FigureCanvasAgg(fig).draw()  # every tick label the saved drawing had
    need_pt = MIN_TEXT_PX * 72.0 / DPI  # 600 px wide: shown at its natural size
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert len(texts) > 10
    assert min(t.get_fontsize() for t in texts) >= need_pt - 1e-9


def test_one_draw_unless_a_text_grew(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    draws = []
    real = FigureCanvasAgg.draw

    def counting(self: FigureCanvasAgg) -> None:
        draws.append(1)
        real(self)

    monkeypatch.setattr(FigureCanvasAgg, "draw", counting)
    save_png(figure(False, True), tmp_path / "big.png", DPI)
    assert len(draws) == 1
    draws.clear()
    save_png(figure(True, True), tmp_path / "small.png", DPI)
    assert len(draws) == 1  # raised before the draw
    assert read_min_font_px(tmp_path / "small.png") == pytest.approx(
        float(f"{save_mod.MIN_TEXT_PX:.2f}"), abs=0.02
    )
