"""The figures of the ``deconv`` study: arrays in, Figure out (no pyplot, no global state)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from convscope.plots.images import FONT_PT, as_array, image_to_unit, signed_to_unit, to_rgb

ArrayLike = np.ndarray


def deconv_figure(
    images: ArrayLike,
    projections: Mapping[str, ArrayLike],
    *,
    titles: Sequence[str] | None = None,
    captions: Mapping[str, Sequence[str]] | None = None,
) -> Figure:
    """§2.1: one row per image: the image, then the projection of one activation per layer.

    Args:
        images: ``(N, C, H, W)`` uint8 or float images.
        projections: layer -> ``(N, C, H, W)`` projections (grey = 0).
        titles: per image, a title for the image column.
        captions: layer -> per image, a short caption (e.g. ``"map 5 (3, 7)"``).
    """
    imgs = as_array(images)
    layers = list(projections)
    n = imgs.shape[0]
    fig = Figure(figsize=(1.9 * (len(layers) + 1) + 0.3, 2.0 * n + 0.5))
    axes = fig.subplots(n, len(layers) + 1, squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(to_rgb(image_to_unit(imgs[i])), interpolation="nearest")
        axes[i, 0].set_title(titles[i] if titles else f"image {i}", fontsize=FONT_PT - 1)
        for j, layer in enumerate(layers):
            p = as_array(projections[layer])[i]
            axes[i, j + 1].imshow(to_rgb(signed_to_unit(p)), interpolation="nearest")
            cap = f"\n{captions[layer][i]}" if captions and layer in captions else ""
            axes[i, j + 1].set_title(f"{layer}{cap}", fontsize=FONT_PT - 1)
        for ax in axes[i]:
            ax.set_axis_off()
    fig.suptitle("deconvnet projection of each layer's strongest activation", fontsize=FONT_PT)
    fig.tight_layout()
    return fig
