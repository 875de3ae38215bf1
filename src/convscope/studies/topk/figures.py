"""The figures of the ``topk`` study: arrays in, Figure out (no pyplot, no global state)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.figure import Figure

from convscope.plots.images import (
    FIG_WIDTH_IN,
    FONT_PT,
    as_array,
    block,
    image_to_unit,
    list_ranges,
    signed_to_unit,
)

ArrayLike = np.ndarray


def topk_grid(
    projections: ArrayLike | None,
    patches: ArrayLike | None = None,
    *,
    maps: Sequence[int] | None = None,
    values: ArrayLike | None = None,
    title: str = "",
    ncols: int | None = None,
) -> Figure:
    """Fig. 2: for each map, its top-k projections (left) and image patches (right).

    Args:
        projections: ``(M, k, C, h, w)`` projections (cropped to the receptive field or full),
            shown with 0 as grey; ``None`` (no deconvnet rule for the model): patches only.
        patches: ``(M, k, C, h', w')`` image patches (uint8 or float), or ``None``.
        maps: map indices for the labels (default ``0..M-1``).
        values: ``(M,)`` each map's strongest activation. When given, maps with a value
            ``<= 0`` (never active: their "top" images are ties at zero) are not drawn but
            listed under the figure, and the live maps are drawn strongest first.
        ncols: map blocks per row (default about sqrt(M), wider than tall).
    """
    if projections is None and patches is None:
        raise ValueError("topk_grid: give projections or patches")
    to_unit = signed_to_unit if projections is not None else image_to_unit
    proj = as_array(projections if projections is not None else patches)
    pat = None if patches is None or projections is None else as_array(patches)
    m, k = proj.shape[:2]
    labels = list(range(m)) if maps is None else [int(v) for v in maps]
    order, dead = _live_order(values, m, labels)
    if not order:
        fig = Figure(figsize=(FIG_WIDTH_IN, 1.6))
        fig.text(0.5, 0.5, f"{title}\nno map is ever active ({len(dead)} of {m} dead)",
                 ha="center", va="center", fontsize=FONT_PT, wrap=True)  # fmt: skip
        return fig
    blocks, bh = _map_blocks(proj, pat, order, math.ceil(math.sqrt(k)), to_unit)
    shown = len(order)
    bw = blocks[0].shape[1]
    cols = ncols or max(1, min(shown, math.ceil(math.sqrt(shown * bh / bw * 1.6))))
    gap = max(4, bh // 4)  # room for the label above each block
    canvas = _canvas(blocks, bh, bw, cols, gap)
    width = FIG_WIDTH_IN
    img_h = width * canvas.shape[0] / canvas.shape[1]
    foot = 0.0 if not dead else 0.5 + 0.18 * math.ceil(len(list_ranges(dead)) / 110)
    fig = Figure(figsize=(width, 0.97 * img_h + 0.6 + foot), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(canvas, interpolation="nearest")
    for n, i in enumerate(order):
        r, c = divmod(n, cols)
        ax.text(
            c * (bw + gap),
            r * (bh + gap) + gap - 0.5,
            f"map {labels[i]}",
            fontsize=FONT_PT - 1,
            va="bottom",
        )
    ax.set_axis_off()
    sub = "projections (grey = 0) | image patches" if pat is not None else "projections"
    if values is not None:
        sub += f"; {shown} live map{'s' if shown != 1 else ''}, strongest first"
    fig.suptitle(f"{title}\n{sub}" if title else sub, fontsize=FONT_PT)
    if dead:
        fig.supxlabel(
            f"{len(dead)} of {m} maps never active on the test split (not drawn): "
            f"{list_ranges(dead)}",
            fontsize=FONT_PT - 1,
            color="#555555",
            wrap=True,
        )
    return fig


def _live_order(values: ArrayLike | None, m: int, labels: list[int]) -> tuple[list[int], list[int]]:
    """The maps to draw, in order (strongest first when ``values`` are given), and the labels
    of the dead maps (never active: listed, not drawn)."""
    if values is None:
        return list(range(m)), []
    v = as_array(values).astype(np.float64).reshape(-1)
    if v.shape != (m,):
        raise ValueError(f"topk_grid: values must be ({m},), got {v.shape}")
    dead = [labels[i] for i in range(m) if not v[i] > 0]
    order = [int(i) for i in np.argsort(-v, kind="stable") if v[i] > 0]
    return order, dead


def _map_blocks(
    proj: np.ndarray,
    pat: np.ndarray | None,
    order: list[int],
    side: int,
    to_unit: Callable[[np.ndarray], np.ndarray],
) -> tuple[list[np.ndarray], int]:
    """One RGB block per drawn map (its projections, then its patches beside them), padded
    to a common height; and that height."""
    left = [block(proj[i], side, to_unit) for i in order]
    right = [block(pat[i], side, image_to_unit) for i in order] if pat is not None else None
    bh = max(b.shape[0] for b in left)
    if right is not None:
        bh = max(bh, max(b.shape[0] for b in right))
    blocks = []
    for n in range(len(order)):
        parts = [left[n]] + ([right[n]] if right is not None else [])
        parts = [
            np.pad(p, ((0, bh - p.shape[0]), (0, 0), (0, 0)), constant_values=1.0) for p in parts
        ]
        sep = np.ones((bh, max(2, bh // 12), 3))
        cells = [parts[0]] + ([sep, parts[1]] if len(parts) > 1 else [])
        blocks.append(np.concatenate(cells, axis=1))
    return blocks, bh


def _canvas(blocks: list[np.ndarray], bh: int, bw: int, cols: int, gap: int) -> np.ndarray:
    """The blocks laid out row by row on white, ``gap`` apart (room for each label above)."""
    rows = math.ceil(len(blocks) / cols)
    canvas = np.ones((rows * (bh + gap), cols * (bw + gap) - gap, 3))
    for n, b in enumerate(blocks):
        r, c = divmod(n, cols)
        canvas[
            r * (bh + gap) + gap : r * (bh + gap) + gap + bh, c * (bw + gap) : c * (bw + gap) + bw
        ] = b
    return canvas
