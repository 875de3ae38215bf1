"""The figures of the ``evolution`` study: arrays in, Figure out (no pyplot, no global state)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from convscope.plots.images import (
    FONT_PT,
    as_array,
    bbox,
    mosaic,
    resize_nearest,
    signed_to_unit,
    square_at,
    to_rgb,
)

ArrayLike = np.ndarray
EVOLUTION_ROWS = 6  # maps per block of the evolution figure; more maps go into blocks side by side
EVOLUTION_BLOCKS = 3  # at most this many blocks (then blocks grow taller)


def evolution_grid(
    projections: ArrayLike,
    steps: Sequence[int],
    *,
    maps: Sequence[int] | None = None,
    title: str = "",
    crop: bool = True,
) -> Figure:
    """Fig. 4: ``(M, S, C, H, W)`` projections, rows maps, columns checkpoint steps; more than
    :data:`EVOLUTION_ROWS` maps are laid out in up to :data:`EVOLUTION_BLOCKS` blocks side by side.

    With ``crop`` each map's row is cut to the square holding all its non-zero pixels (a
    unit's projection is zero outside its receptive field) and scaled up, so a 5x5
    projection is not a speck in a 28x28 frame; the crop's size is in the row label.
    """
    proj = as_array(projections)
    m, s, _, h, w = proj.shape
    # each projection is zero outside the receptive field of its unit, which sits wherever
    # that checkpoint's strongest image put it: crop every tile around its own support, to
    # one side per map (the largest support of the row, at most the image)
    boxes = [[bbox(proj[i, j]) for j in range(s)] for i in range(m)]
    sides = [
        max([max(b[1] - b[0], b[3] - b[2]) for b in row if b is not None] or [min(h, w)])
        if crop
        else min(h, w)
        for row in boxes
    ]
    side = max(sides)
    tile = side * math.ceil(24 / side)  # a whole number of screen pixels per projection pixel
    tiles = np.ones((m, s, tile, tile, 3))
    for i in range(m):
        for j in range(s):
            y0, y1, x0, x1 = square_at(boxes[i][j], sides[i], h, w) if crop else (0, h, 0, w)
            rgb = to_rgb(signed_to_unit(proj[i, j, :, y0:y1, x0:x1]))
            tiles[i, j] = resize_nearest(rgb, tile)
    pad = max(1, tile // 12)
    labels = list(range(m)) if maps is None else [int(v) for v in maps]
    ylab = [f"{v} ({sides[i]} px)" if crop else str(v) for i, v in enumerate(labels)]
    # many maps: side-by-side blocks of at most EVOLUTION_ROWS rows, not one very tall column
    nblocks = min(EVOLUTION_BLOCKS, max(1, math.ceil(m / EVOLUTION_ROWS)))
    per = math.ceil(m / nblocks)
    cell_in = min(0.75, 7.0 / s)
    fig = Figure(
        figsize=(
            max(5.0, nblocks * (cell_in * s + 1.2) + 0.6),
            max(3.0, cell_in * per + 1.6),
        ),
        layout="constrained",
    )
    axes = fig.subplots(1, nblocks, squeeze=False)[0]
    for b, ax in enumerate(axes):
        rows = list(range(b * per, min(m, (b + 1) * per)))
        block = np.ones((per, s, tile, tile, 3))  # a short last block is padded with white
        block[: len(rows)] = tiles[rows]
        ax.imshow(mosaic(block, pad=pad), interpolation="nearest")
        ax.set_xticks([j * (tile + pad) + tile / 2 for j in range(s)])
        ax.set_xticklabels([str(int(v)) for v in steps], fontsize=FONT_PT - 1, rotation=90)
        ax.set_yticks([i * (tile + pad) + tile / 2 for i in range(len(rows))])
        ax.set_yticklabels([ylab[i] for i in rows], fontsize=FONT_PT - 1)
        ax.tick_params(length=0)
        for sp in ax.spines.values():
            sp.set_visible(False)
    fig.supxlabel("checkpoint (training step)", fontsize=FONT_PT)
    fig.supylabel("feature map (crop side)" if crop else "feature map", fontsize=FONT_PT)
    head = title or "strongest training activation per map, projected"
    if crop:
        head += "\neach projection cropped to its non-zero support (within the receptive field), enlarged"
    fig.suptitle(head, fontsize=FONT_PT, wrap=True)
    return fig
