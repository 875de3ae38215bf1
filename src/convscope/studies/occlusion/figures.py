"""The figures of the ``occlusion`` study: arrays in, Figure out (no pyplot, no global state)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from convscope.plots.images import FONT_PT, as_array, image_to_unit, to_rgb

ArrayLike = np.ndarray


def _cell_extent(pos: np.ndarray, size: int) -> tuple[float, float]:
    """Extent along one axis so that cell i is centred on the square's centre."""
    centres = pos.astype(np.float64) + size / 2.0 - 0.5
    step = float(centres[1] - centres[0]) if len(centres) > 1 else float(size)
    return centres[0] - step / 2.0, centres[-1] + step / 2.0


def _class_colours(n_cls: int) -> list[str]:
    """One colour per class (matplotlib's tab10, repeated past ten classes)."""
    base = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    ]  # fmt: skip
    return [base[i % len(base)] for i in range(n_cls)]


def _image_panel(ax: Axes, img: np.ndarray, size: int, title: str) -> None:
    """(a): the image, with the occluder's size drawn in its top-left corner."""
    ax.imshow(to_rgb(image_to_unit(img)), interpolation="nearest")
    # drawn just inside the image and unclipped, so no edge is cut by the axes frame
    ax.add_patch(
        Rectangle(
            (-0.5 + 0.4, -0.5 + 0.4), size - 0.8, size - 0.8,
            fill=False, ec="yellow", lw=2, clip_on=False,
        )
    )  # fmt: skip
    ax.set_title(title, fontsize=FONT_PT)


def _top_class_panel(
    ax: Axes,
    top: np.ndarray,
    extent: tuple[float, float, float, float],
    colours: list[str],
    classes: Sequence[str],
) -> None:
    """(d): the most probable class per occluder position, with a legend of those present."""
    n_cls = len(classes)
    cmap = ListedColormap(colours)
    norm = BoundaryNorm(np.arange(-0.5, n_cls + 0.5), n_cls)
    ax.imshow(top, extent=extent, cmap=cmap, norm=norm, interpolation="nearest")
    ax.set_title("(d) most probable class", fontsize=FONT_PT)
    present = sorted({int(v) for v in np.unique(top)})
    ax.legend(
        handles=[Patch(color=colours[c], label=classes[c]) for c in present],
        fontsize=FONT_PT - 1,
        loc="center left",
        bbox_to_anchor=(1.02, 0.5),
        frameon=False,
    )


def occlusion_figure(
    images: ArrayLike,
    activation: ArrayLike,
    prob_true: ArrayLike,
    top_class: ArrayLike,
    *,
    ys: ArrayLike,
    xs: ArrayLike,
    size: int,
    labels: Sequence[int],
    classes: Sequence[str],
    map_index: Sequence[int] | None = None,
    layer: str = "",
) -> Figure:
    """Fig. 7, one row per image: (a) the image with the occluder size drawn, (b) total
    activation of the strongest map, (c) probability of the true class, (d) most probable class
    (the paper's (a), (b), (d), (e); its (c), the map's top projections, is the top-9 figure).

    Args:
        images: ``(N, C, H, W)`` uint8 or float images for display.
        activation, prob_true, top_class: ``(N, ny, nx)``.
        ys, xs: ``(ny,)``, ``(nx,)`` occluder top-left corners; size: its side.
        labels: ``(N,)`` true classes; classes: class names.
        map_index: ``(N,)`` the map shown in (b).
    """
    imgs, act, pt, tc = (
        as_array(images),
        as_array(activation),
        as_array(prob_true),
        as_array(top_class),
    )
    ys_, xs_ = as_array(ys), as_array(xs)
    n = imgs.shape[0]
    x0, x1 = _cell_extent(xs_, size)
    y0, y1 = _cell_extent(ys_, size)
    extent = (x0, x1, y1, y0)
    colours = _class_colours(len(classes))
    fig = Figure(figsize=(11.5, 2.7 * n + 0.4))
    axes = fig.subplots(n, 4, squeeze=False)
    h, w = imgs.shape[2:]
    for i in range(n):
        a = axes[i]
        _image_panel(a[0], imgs[i], size, f"(a) {classes[int(labels[i])]}, occluder {size} px")
        im = a[1].imshow(act[i], extent=extent, cmap="viridis", interpolation="nearest")
        fig.colorbar(im, ax=a[1], fraction=0.046, pad=0.04)
        mi = "" if map_index is None else f" {int(map_index[i])}"
        a[1].set_title(f"(b) activation, map{mi} {layer}".strip(), fontsize=FONT_PT)
        im = a[2].imshow(
            pt[i], extent=extent, cmap="magma", vmin=0, vmax=1, interpolation="nearest"
        )
        fig.colorbar(im, ax=a[2], fraction=0.046, pad=0.04)
        a[2].set_title(f"(c) p({classes[int(labels[i])]})", fontsize=FONT_PT)
        _top_class_panel(a[3], tc[i], extent, colours, classes)
        for ax in a:
            ax.set_xlim(-0.5, w - 0.5)
            ax.set_ylim(h - 0.5, -0.5)
            ax.tick_params(labelsize=FONT_PT - 1)
    fig.suptitle("occlusion sensitivity (map cell = occluder centre)", fontsize=FONT_PT)
    fig.tight_layout()
    return fig
