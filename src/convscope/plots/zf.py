"""Figures for the Zeiler & Fergus 2014 analyses (arXiv 1311.2901): arrays in, Figure out.

* :func:`topk_grid` — Fig. 2: per map, the top-k projections next to their image patches;
* :func:`evolution_grid` — Fig. 4: rows maps, columns checkpoints;
* :func:`occlusion_figure` — Fig. 7: (a) image, (b) map activation, (c) true-class
  probability, (d) most probable class with a class legend;
* :func:`invariance_figure` — Fig. 5: distance at the low and high layer and the true-class
  probability against each transformation;
* :func:`correspondence_table_figure` — Table 1 as a figure.

Figures are ``matplotlib.figure.Figure`` objects built without pyplot (no global state, no
window, so no backend is selected); save them with ``fig.savefig(path)`` (Agg for PNG).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

ArrayLike = np.ndarray


def _np(a: object) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()  # type: ignore[union-attr]
    return np.asarray(a)


def _to_rgb(img: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` on [0, 1] -> ``(H, W, 3)``."""
    img = np.clip(img, 0.0, 1.0)
    if img.shape[0] == 1:
        return np.repeat(img[0][:, :, None], 3, axis=2)
    if img.shape[0] == 3:
        return np.transpose(img, (1, 2, 0))
    return np.repeat(img.mean(0)[:, :, None], 3, axis=2)


def signed_to_unit(p: np.ndarray) -> np.ndarray:
    """A projection ``(C, H, W)`` to [0, 1] with 0 at grey: ``0.5 + 0.5 * p / max|p|``."""
    m = float(np.abs(p).max())
    return np.full_like(p, 0.5, dtype=np.float64) if m == 0 else 0.5 + 0.5 * p / m


def image_to_unit(img: np.ndarray) -> np.ndarray:
    """An image ``(C, H, W)``: uint8 -> /255; float -> min-max to [0, 1]."""
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    lo, hi = float(img.min()), float(img.max())
    return np.zeros_like(img, dtype=np.float64) if hi <= lo else (img - lo) / (hi - lo)


def _mosaic(tiles: np.ndarray, pad: int = 1, value: float = 1.0) -> np.ndarray:
    """``(R, K, H, W, 3)`` -> one ``(R*(H+pad)-pad, K*(W+pad)-pad, 3)`` image."""
    r, k, h, w, _ = tiles.shape
    out = np.full((r * (h + pad) - pad, k * (w + pad) - pad, 3), value)
    for i in range(r):
        for j in range(k):
            out[i * (h + pad) : i * (h + pad) + h, j * (w + pad) : j * (w + pad) + w] = tiles[i, j]
    return out


def _block(images: np.ndarray, side: int, to_unit) -> np.ndarray:  # noqa: ANN001
    """``(k, C, H, W)`` -> a ``side x side`` mosaic (missing tiles white)."""
    k, _, h, w = images.shape
    tiles = np.ones((side * side, h, w, 3))
    for i in range(min(k, side * side)):
        tiles[i] = _to_rgb(to_unit(images[i]))
    return _mosaic(tiles.reshape(side, side, h, w, 3), pad=1, value=1.0)


def _list_ranges(values: Sequence[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    out: list[str] = []
    vs = sorted(values)
    i = 0
    while i < len(vs):
        j = i
        while j + 1 < len(vs) and vs[j + 1] == vs[j] + 1:
            j += 1
        out.append(str(vs[i]) if i == j else f"{vs[i]}-{vs[j]}")
        i = j + 1
    return ", ".join(out)


FIG_WIDTH_IN = 9.0  # fits the report's column (944 px at a 1000 px window) at its DPI
FONT_PT = 10.0  # text in figures; >= 9 px where the report shows them (checked in a browser test)


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
    proj = _np(projections if projections is not None else patches)
    pat = None if patches is None or projections is None else _np(patches)
    m, k = proj.shape[:2]
    labels = list(range(m)) if maps is None else [int(v) for v in maps]
    order = list(range(m))
    dead: list[int] = []
    if values is not None:
        v = _np(values).astype(np.float64).reshape(-1)
        if v.shape != (m,):
            raise ValueError(f"topk_grid: values must be ({m},), got {v.shape}")
        dead = [labels[i] for i in range(m) if not v[i] > 0]
        order = [int(i) for i in np.argsort(-v, kind="stable") if v[i] > 0]
    if not order:
        fig = Figure(figsize=(FIG_WIDTH_IN, 1.6))
        fig.text(0.5, 0.5, f"{title}\nno map is ever active ({len(dead)} of {m} dead)",
                 ha="center", va="center", fontsize=FONT_PT, wrap=True)  # fmt: skip
        return fig
    side = math.ceil(math.sqrt(k))
    left = [_block(proj[i], side, to_unit) for i in order]
    right = [_block(pat[i], side, image_to_unit) for i in order] if pat is not None else None
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
    shown = len(order)
    bw = blocks[0].shape[1]
    cols = ncols or max(1, min(shown, math.ceil(math.sqrt(shown * bh / bw * 1.6))))
    rows = math.ceil(shown / cols)
    gap = max(4, bh // 4)  # room for the label above each block
    canvas = np.ones((rows * (bh + gap), cols * (bw + gap) - gap, 3))
    for n, b in enumerate(blocks):
        r, c = divmod(n, cols)
        canvas[
            r * (bh + gap) + gap : r * (bh + gap) + gap + bh, c * (bw + gap) : c * (bw + gap) + bw
        ] = b
    width = FIG_WIDTH_IN
    img_h = width * canvas.shape[0] / canvas.shape[1]
    foot = 0.0 if not dead else 0.5 + 0.18 * math.ceil(len(_list_ranges(dead)) / 110)
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
            f"{_list_ranges(dead)}",
            fontsize=FONT_PT - 1,
            color="#555555",
            wrap=True,
        )
    return fig


def _bbox(p: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(C, H, W)`` -> ``(y0, y1, x0, x1)`` of its non-zero pixels, or None if all zero."""
    nz = np.abs(p).sum(axis=0) > 0
    if not nz.any():
        return None
    ys, xs = np.nonzero(nz)
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def _square_at(box: tuple[int, int, int, int] | None, side: int, h: int, w: int) -> tuple:
    """A ``side`` x ``side`` window centred on ``box`` and kept inside the ``h`` x ``w`` image."""
    if box is None:
        y, x = (h - side) // 2, (w - side) // 2
    else:
        y0, y1, x0, x1 = box
        y, x = (y0 + y1 - side) // 2, (x0 + x1 - side) // 2
    y, x = min(max(0, y), max(0, h - side)), min(max(0, x), max(0, w - side))
    return y, y + side, x, x + side


def _resize_nearest(img: np.ndarray, size: int) -> np.ndarray:
    """``(h, w, 3)`` -> ``(size, size, 3)`` by nearest neighbour (pixels stay visible)."""
    h, w = img.shape[:2]
    yi = np.minimum((np.arange(size) * h / size).astype(int), h - 1)
    xi = np.minimum((np.arange(size) * w / size).astype(int), w - 1)
    return img[yi][:, xi]


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
    proj = _np(projections)
    m, s, _, h, w = proj.shape
    # each projection is zero outside the receptive field of its unit, which sits wherever
    # that checkpoint's strongest image put it: crop every tile around its own support, to
    # one side per map (the largest support of the row, at most the image)
    boxes = [[_bbox(proj[i, j]) for j in range(s)] for i in range(m)]
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
            y0, y1, x0, x1 = _square_at(boxes[i][j], sides[i], h, w) if crop else (0, h, 0, w)
            rgb = _to_rgb(signed_to_unit(proj[i, j, :, y0:y1, x0:x1]))
            tiles[i, j] = _resize_nearest(rgb, tile)
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
        ax.imshow(_mosaic(block, pad=pad), interpolation="nearest")
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


def _cell_extent(pos: np.ndarray, size: int) -> tuple[float, float]:
    """Extent along one axis so that cell i is centred on the square's centre."""
    centres = pos.astype(np.float64) + size / 2.0 - 0.5
    step = float(centres[1] - centres[0]) if len(centres) > 1 else float(size)
    return centres[0] - step / 2.0, centres[-1] + step / 2.0


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
    imgs, act, pt, tc = _np(images), _np(activation), _np(prob_true), _np(top_class)
    ys_, xs_ = _np(ys), _np(xs)
    n = imgs.shape[0]
    x0, x1 = _cell_extent(xs_, size)
    y0, y1 = _cell_extent(ys_, size)
    extent = (x0, x1, y1, y0)
    n_cls = len(classes)
    base = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    ]  # fmt: skip
    colours = [base[i % len(base)] for i in range(n_cls)]
    cmap = ListedColormap(colours)
    norm = BoundaryNorm(np.arange(-0.5, n_cls + 0.5), n_cls)
    fig = Figure(figsize=(11.5, 2.7 * n + 0.4))
    axes = fig.subplots(n, 4, squeeze=False)
    h, w = imgs.shape[2:]
    for i in range(n):
        a = axes[i]
        a[0].imshow(_to_rgb(image_to_unit(imgs[i])), interpolation="nearest")
        # drawn just inside the image and unclipped, so no edge is cut by the axes frame
        a[0].add_patch(
            Rectangle(
                (-0.5 + 0.4, -0.5 + 0.4), size - 0.8, size - 0.8,
                fill=False, ec="yellow", lw=2, clip_on=False,
            )
        )  # fmt: skip
        a[0].set_title(f"(a) {classes[int(labels[i])]}, occluder {size} px", fontsize=FONT_PT)
        im = a[1].imshow(act[i], extent=extent, cmap="viridis", interpolation="nearest")
        fig.colorbar(im, ax=a[1], fraction=0.046, pad=0.04)
        mi = "" if map_index is None else f" {int(map_index[i])}"
        a[1].set_title(f"(b) activation, map{mi} {layer}".strip(), fontsize=FONT_PT)
        im = a[2].imshow(
            pt[i], extent=extent, cmap="magma", vmin=0, vmax=1, interpolation="nearest"
        )
        fig.colorbar(im, ax=a[2], fraction=0.046, pad=0.04)
        a[2].set_title(f"(c) p({classes[int(labels[i])]})", fontsize=FONT_PT)
        a[3].imshow(tc[i], extent=extent, cmap=cmap, norm=norm, interpolation="nearest")
        a[3].set_title("(d) most probable class", fontsize=FONT_PT)
        present = sorted({int(v) for v in np.unique(tc[i])})
        a[3].legend(
            handles=[Patch(color=colours[c], label=classes[c]) for c in present],
            fontsize=FONT_PT - 1,
            loc="center left",
            bbox_to_anchor=(1.02, 0.5),
            frameon=False,
        )
        for ax in a:
            ax.set_xlim(-0.5, w - 0.5)
            ax.set_ylim(h - 0.5, -0.5)
            ax.tick_params(labelsize=FONT_PT - 1)
    fig.suptitle("occlusion sensitivity (map cell = occluder centre)", fontsize=FONT_PT)
    fig.tight_layout()
    return fig


INVARIANCE_XLABELS = {
    "translate_y": "vertical translation (px)",
    "scale": "scale factor",
    "rotate": "rotation (degrees)",
}


def invariance_figure(
    params: Mapping[str, ArrayLike],
    curves: Mapping[str, Mapping[str, ArrayLike]],
    *,
    low_layer: str,
    high_layer: str,
    relative: bool = True,
    labels: Sequence[int] | None = None,
    classes: Sequence[str] | None = None,
) -> Figure:
    """Fig. 5: rows transformations; columns distance at the low layer, distance at the high
    layer, probability of the true class; one line per image.

    Args:
        params: kind -> ``(P,)`` transformation values.
        curves: kind -> {``dist_low``, ``dist_high``, ``rel_low``, ``rel_high``,
            ``prob_true``: ``(N, P)``}.
        relative: plot distances divided by the original feature norm (else raw).
    """
    kinds = list(params)
    fig = Figure(figsize=(11.0, 2.8 * len(kinds) + 0.4))
    axes = fig.subplots(len(kinds), 3, squeeze=False)
    lo, hi = ("rel_low", "rel_high") if relative else ("dist_low", "dist_high")
    which = "normalised distance" if relative else "Euclidean distance"
    for r, kind in enumerate(kinds):
        p = _np(params[kind])
        cur = {k: _np(v) for k, v in curves[kind].items()}
        n = cur[lo].shape[0]
        for i in range(n):
            name = f"image {i}"
            if labels is not None and classes is not None:
                name = f"{i}: {classes[int(labels[i])]}"
            axes[r, 0].plot(p, cur[lo][i], marker=".", lw=1, label=name)
            axes[r, 1].plot(p, cur[hi][i], marker=".", lw=1)
            axes[r, 2].plot(p, cur["prob_true"][i], marker=".", lw=1)
        axes[r, 0].set_ylabel(f"{which}, {low_layer}", fontsize=FONT_PT)
        axes[r, 1].set_ylabel(f"{which}, {high_layer}", fontsize=FONT_PT)
        axes[r, 2].set_ylabel("p(true class)", fontsize=FONT_PT)
        axes[r, 2].set_ylim(-0.02, 1.02)
        for ax in axes[r]:
            ax.set_xlabel(INVARIANCE_XLABELS.get(kind, kind), fontsize=FONT_PT)
            ax.tick_params(labelsize=FONT_PT - 1)
            ax.grid(alpha=0.3)
        if r == 0:
            axes[r, 0].legend(fontsize=FONT_PT - 1)
    fig.suptitle(f"invariance: low layer {low_layer} vs high layer {high_layer}", fontsize=FONT_PT)
    fig.tight_layout()
    return fig


def correspondence_table_figure(
    rows: Sequence[str], columns: Sequence[str], text: Sequence[Sequence[str]], *, title: str = ""
) -> Figure:
    """Table 1 as a figure: ``text[r][c]`` is ``"mean ± std"``."""
    fig = Figure(figsize=(1.6 + 1.5 * len(columns), 0.45 * (len(rows) + 1) + 0.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    table = ax.table(
        cellText=[list(r) for r in text],
        rowLabels=list(rows),
        colLabels=list(columns),
        loc="center",
        cellLoc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(FONT_PT)
    table.scale(1.0, 1.3)
    ax.set_title(
        title or "Delta: mean sign-change distance (lower = more consistent)", fontsize=FONT_PT
    )
    fig.tight_layout()
    return fig


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
    imgs = _np(images)
    layers = list(projections)
    n = imgs.shape[0]
    fig = Figure(figsize=(1.9 * (len(layers) + 1) + 0.3, 2.0 * n + 0.5))
    axes = fig.subplots(n, len(layers) + 1, squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(_to_rgb(image_to_unit(imgs[i])), interpolation="nearest")
        axes[i, 0].set_title(titles[i] if titles else f"image {i}", fontsize=FONT_PT - 1)
        for j, layer in enumerate(layers):
            p = _np(projections[layer])[i]
            axes[i, j + 1].imshow(_to_rgb(signed_to_unit(p)), interpolation="nearest")
            cap = f"\n{captions[layer][i]}" if captions and layer in captions else ""
            axes[i, j + 1].set_title(f"{layer}{cap}", fontsize=FONT_PT - 1)
        for ax in axes[i]:
            ax.set_axis_off()
    fig.suptitle("deconvnet projection of each layer's strongest activation", fontsize=FONT_PT)
    fig.tight_layout()
    return fig
