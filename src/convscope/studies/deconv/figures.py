"""The figures of the ``deconv`` study: arrays in, Figure out (no pyplot, no global state)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from convscope.plots.images import FIG_WIDTH_IN, as_array, image_to_unit, signed_to_unit, to_rgb
from convscope.plots.table import Cell, image_table

ArrayLike = np.ndarray


def deconv_figure(
    images: ArrayLike,
    projections: Mapping[str, ArrayLike],
    *,
    titles: Sequence[str] | None = None,
    captions: Mapping[str, Sequence[str]] | None = None,
) -> Figure:
    """§2.1: the images in the first row, then one row per layer: the projection of that
    layer's strongest activation in each image, under it (grey = 0).

    Args:
        images: ``(N, C, H, W)`` uint8 or float images.
        projections: layer -> ``(N, C, H, W)`` projections.
        titles: per image, a title for the image column.
        captions: layer -> per image, a short caption (e.g. ``"map 5 (3, 7)"``).
    """
    imgs = as_array(images)
    n = imgs.shape[0]
    rows = [[Cell(to_rgb(image_to_unit(imgs[i])), titles[i] if titles else f"image {i}")
             for i in range(n)]]  # fmt: skip
    for layer, p in projections.items():
        caps = captions.get(layer, [""] * n) if captions else [""] * n
        rows.append([Cell(to_rgb(signed_to_unit(as_array(p)[i])), caps[i]) for i in range(n)])
    return image_table(
        rows,
        cell_in=min(1.2, FIG_WIDTH_IN / max(n, 1)),
        row_titles=["", *projections],
        title="deconvnet projection of each layer's strongest activation",
    )
