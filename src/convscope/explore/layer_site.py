"""One layer's share of the explorer site: each unit's numbers, page, sprite sheet and tile,
and the layer page with its row on the index (:func:`write_layer`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from convscope.explore import images, pages
from convscope.explore import random_weights as rw
from convscope.explore.compute import LayerUnits
from convscope.explore.output import SiteWriter

CELL_PX = 80  # displayed size of one patch, about
STRIP = 12  # tiles on the index page per layer

Rows = list[list[np.ndarray | None]]


def _num(v: float) -> float | None:
    v = float(v)
    return None if math.isnan(v) or math.isinf(v) else v


def _top_images(ly: LayerUnits, u: int, labels: torch.Tensor, classes: Sequence[str]) -> list:
    """Unit ``u``'s top test images, up to the first value at or below 0."""
    t = ly.topk
    top = []
    for j in range(t.values.shape[1]):
        if float(t.values[u, j]) <= 0:  # ties at 0: the order means nothing
            break
        n = int(t.image_index[u, j])
        top.append(
            {
                "test_index": n,
                "class": int(labels[n]),
                "class_name": classes[int(labels[n])],
                "value": float(t.values[u, j]),
                "y": int(t.y[u, j]),
                "x": int(t.x[u, j]),
                "box": [int(b) for b in t.boxes[u, j]],
            }
        )
    return top


def _strongest_inputs(ly: LayerUnits, u: int, files: dict[str, str]) -> list[dict[str, Any]]:
    """The eight largest positive input contributions to unit ``u``."""
    assert ly.inputs is not None
    row = ly.inputs[u]
    order = [int(i) for i in np.argsort(-row, kind="stable")[:8] if row[i] > 0]
    return [
        {
            "layer": ly.input_layer,
            "unit": c,
            "contribution": float(row[c]),
            **({"href": f"{files[ly.input_layer]}/{c}.html"} if ly.input_layer else {}),
        }
        for c in order
    ]


def unit_data(
    ly: LayerUnits,
    u: int,
    labels: torch.Tensor,
    classes: Sequence[str],
    files: dict[str, str],
) -> dict[str, Any]:
    """The numbers of unit ``u`` (JSON-ready; the page shows exactly these)."""
    dead = bool(ly.dead[u])
    top = [] if dead else _top_images(ly, u, labels, classes)
    per = ly.per_image[:, u].double()
    settle = int(ly.settle[u])
    d: dict[str, Any] = {
        "layer": ly.name,
        "read": ly.read,
        "unit": u,
        "kind": ly.kind,
        "dead": dead,
        "max": float(ly.per_image[:, u].max()),
        "mean": float(per.mean()),
        "purity": _num(ly.purity[u]),
        "top": top,
        "evolution": {
            "steps": ly.steps.tolist(),
            "values": [float(v) for v in ly.evo_values[u]],
            "test_index": [int(v) for v in ly.evo_image[u]],
            "settle_step": None if settle < 0 else settle,
        },
        "histogram": {
            "edges": [float(v) for v in ly.hist_edges[u]],
            "counts": [int(v) for v in ly.hist_counts[u]],
        },
        "class_means": {
            "classes": list(classes),
            "values": [_num(v) for v in ly.class_means[u]],
        },
    }
    if ly.inputs is not None:
        d["inputs"] = _strongest_inputs(ly, u, files)
    return d


def _png(rgb: np.ndarray | None) -> Any:
    def encode() -> bytes:
        assert rgb is not None
        return images.png(rgb)

    return encode


def _scale(h: int, w: int) -> int:
    return max(1, CELL_PX // max(h, w))


class _Layout(NamedTuple):
    """Where one layer's files go and how its patches are drawn."""

    lf: str  # the layer's file name
    ph: int  # patch height, width
    pw: int
    sc: int  # display scale of a patch
    style: str  # the CSS of the unit pages' sprite sheets
    n_test: int


def _layout(ly: LayerUnits, lf: str, n_test: int, with_random: bool) -> _Layout:
    t = ly.topk
    assert t.patches is not None
    ph, pw = int(t.patches.shape[-2]), int(t.patches.shape[-1])
    sc = _scale(ph, pw)
    k, s = t.values.shape[1], ly.steps.shape[0]
    sheet_hw = ((5 if with_random else 4) * ph, max(k, s) * pw)
    return _Layout(lf, ph, pw, sc, pages.sheet_style((ph, pw), sheet_hw, sc), n_test)


def _sheet_rows(ly: LayerUnits, u: int, r: rw.RandomTopK | None) -> Rows:
    """The rows of unit ``u``'s sprite sheet: top patches, their projections, the evolution's
    patches and projections, and (row 4) the top projections under random weights."""
    t = ly.topk
    assert t.patches is not None and t.projection_patches is not None
    rows: Rows = [
        [images.to_rgb8(p.numpy(), False) for p in t.patches[u]],
        [images.to_rgb8(p.numpy(), True) for p in t.projection_patches[u]],
        [images.to_rgb8(p, False) for p in ly.evo_patch[u]],
        [images.to_rgb8(p, True) for p in ly.evo_proj[u]],
    ]
    if r is not None:  # row 4: the top projections under random weights
        rows.append([images.to_rgb8(p.numpy(), True) for p in r.projection_patches[u]])
    return rows


def _whole_image_sources(
    w: SiteWriter, ly: LayerUnits, d: dict[str, Any], rows: Rows
) -> tuple[list[str | None], list[str | None]]:
    """Where the page finds each top and evolution image: None for a cell of the unit's sprite
    sheet. When the patch is the whole test image, one shared file per image is written and
    the sheet's image rows (0 and 2) are emptied."""
    top_src: list[str | None] = [None] * ly.topk.values.shape[1]
    evo_src: list[str | None] = [None] * ly.steps.shape[0]
    if ly.rf.full:
        for j, e in enumerate(d["top"]):
            top_src[j] = w.once(f"img/test/{e['test_index']}.png", _png(rows[0][j]))
        for j, n in enumerate(d["evolution"]["test_index"]):
            evo_src[j] = w.once(f"img/test/{n}.png", _png(rows[2][j]))
        rows[0], rows[2] = [], []
    return top_src, evo_src


def _cell(lay: _Layout, u: int, row: int, col: int, alt: str, whole_src: str | None = None) -> str:
    """One image of unit ``u``'s page: a shared whole-image file, or a cell of its sheet."""
    if whole_src is not None:
        return pages.whole_cell(f"../../{whole_src}", alt)
    return pages.sprite_cell(f"{u}.png", row, col, (lay.ph * lay.sc, lay.pw * lay.sc), alt)


def _unit_view(
    d: dict[str, Any],
    u: int,
    m: int,
    lay: _Layout,
    top_src: list[str | None],
    evo_src: list[str | None],
) -> dict[str, Any]:
    """The view data of unit ``u``'s page (of ``m`` units): links and image cells."""
    return {
        "prev": f"{u - 1}.html" if u > 0 else None,
        "next": f"{u + 1}.html" if u < m - 1 else None,
        "layer_file": lay.lf,
        "n_test": lay.n_test,
        "style": lay.style,
        "top_cells": [
            (
                _cell(lay, u, 0, j, f"test #{e['test_index']}", top_src[j]),
                _cell(lay, u, 1, j, "projection"),
            )
            for j, e in enumerate(d["top"])
        ],
        "evo_cells": [
            (
                _cell(lay, u, 2, j, f"step {st}", evo_src[j]),
                _cell(lay, u, 3, j, f"projection, step {st}"),
            )
            for j, st in enumerate(d["evolution"]["steps"])
        ],
    }


def _add_random(
    d: dict[str, Any],
    view: dict[str, Any],
    u: int,
    lay: _Layout,
    rws: rw.RandomWeights,
    r: rw.RandomTopK,
) -> None:
    """Unit ``u``'s numbers and page section under random weights."""
    d["random_weights"] = rw.unit_numbers(r, u, len(d["top"]), rws.seed, rws.torch_seed)
    view["random_html"] = rw.section(
        d,
        [
            (
                _cell(lay, u, 1, j, "projection"),
                _cell(lay, u, rw.SHEET_RANDOM, j, "projection, random weights"),
            )
            for j in range(len(d["top"]))
        ],
    )


def _add_filter(
    w: SiteWriter,
    d: dict[str, Any],
    view: dict[str, Any],
    u: int,
    lay: _Layout,
    filt: dict[str, Any],
) -> None:
    """A first-layer unit's filter and Gabor fit: its numbers, its PNG pair and their cells
    (the filter alone and the reason where a fit means nothing)."""
    fh, fw = filt["cell"]
    w.write(f"units/{lay.lf}/{u}-filter.png", filt["png"][u])
    if "not_applicable" in filt:
        d["filter"] = {"gabor": None, "not_applicable": filt["not_applicable"]}
        view["filter_cells"] = [
            pages.cell(f"{u}-filter.png", 0, 0, (fh, fw), (fh, fw), _scale(fh, fw), "filter")
        ]
        return
    d["filter"] = {"r2": _num(filt["r2"][u]), "gabor": filt["params"][u]}
    view["filter_cells"] = [
        pages.cell(f"{u}-filter.png", 0, j, (fh, fw), (fh, 2 * fw), _scale(fh, fw), a)
        for j, a in enumerate(("filter", "Gabor fit"))
    ]


def _write_tile(
    w: SiteWriter, d: dict[str, Any], u: int, lay: _Layout, pair: list[np.ndarray | None]
) -> dict[str, Any]:
    """Unit ``u``'s tile on the layer page (its PNG unless the unit is dead)."""
    td = {
        "unit": u,
        "href": f"../units/{lay.lf}/{u}.html",
        "dead": d["dead"],
        "max": d["max"],
        "purity": d["purity"],
        "settle": d["evolution"]["settle_step"],
        "size": lay.ph * lay.sc,
        "img": "",
    }
    if not d["dead"]:
        w.write(
            f"tiles/{lay.lf}/{u}.png",
            images.png(images.sheet([pair], (lay.ph, lay.pw))),
        )
        td["img"] = "".join(
            pages.cell(
                f"../tiles/{lay.lf}/{u}.png",
                0,
                j,
                (lay.ph, lay.pw),
                (lay.ph, 2 * lay.pw),
                lay.sc,
                a,
                True,
            )
            for j, a in enumerate(("patch", "projection"))
        )
    return td


def _write_unit(
    w: SiteWriter,
    ly: LayerUnits,
    u: int,
    lay: _Layout,
    labels: torch.Tensor,
    classes: Sequence[str],
    files: dict[str, str],
    filt: dict[str, Any] | None,
    rand: tuple[rw.RandomWeights, rw.RandomTopK | None] | None,
) -> dict[str, Any]:
    """Unit ``u``'s sprite sheet, page and tile; its tile's data."""
    r = rand[1] if rand is not None else None
    d = unit_data(ly, u, labels, classes, files)
    rows = _sheet_rows(ly, u, r)
    tile_pair = [rows[0][0], rows[1][0]]
    top_src, evo_src = _whole_image_sources(w, ly, d, rows)
    if d["dead"]:
        rows[0] = rows[1] = []
        rows[rw.SHEET_RANDOM :] = [[] for _ in rows[rw.SHEET_RANDOM :]]
    w.write(f"units/{lay.lf}/{u}.png", images.png(images.sheet(rows, (lay.ph, lay.pw))))
    view = _unit_view(d, u, ly.n_units, lay, top_src, evo_src)
    if r is not None and rand is not None and not d["dead"]:
        _add_random(d, view, u, lay, rand[0], r)
    if filt is not None:
        _add_filter(w, d, view, u, lay, filt)
    w.write(f"units/{lay.lf}/{u}.html", pages.unit_page(d, view))
    return _write_tile(w, d, u, lay, tile_pair)


def _layer_summary(ly: LayerUnits, lf: str, n_test: int) -> dict[str, Any]:
    """The layer's numbers, for its page and its row on the index."""
    alive_p = ly.purity[~np.isnan(ly.purity)]
    rf = "whole image" if ly.rf.full else f"{ly.rf.size[0]} x {ly.rf.size[1]} px"
    return {
        "name": ly.name,
        "display": ly.display or ly.name,
        "read": ly.read,
        "out_shape": list(ly.out_shape),
        "rf": rf,
        "units": ly.n_units,
        "dead": int(ly.dead.sum()),
        "dead_fraction": float(ly.dead.mean()),
        "mean_purity": float(alive_p.mean()) if alive_p.size else None,
        "n_test": n_test,
        "href": f"layers/{lf}.html",
    }


def _strip(alive_tiles: list[dict[str, Any]], lay: _Layout) -> str:
    """The index row's projections of the layer's strongest units."""
    strongest = sorted(alive_tiles, key=lambda x: -x["max"])[:STRIP]
    return "".join(
        pages.cell(
            f"tiles/{lay.lf}/{x['unit']}.png",
            0,
            1,
            (lay.ph, lay.pw),
            (lay.ph, 2 * lay.pw),
            max(1, lay.sc // 2),
            f"unit {x['unit']}",
            True,
        )
        for x in strongest
    )


def write_layer(
    w: SiteWriter,
    ly: LayerUnits,
    labels: torch.Tensor,
    classes: Sequence[str],
    files: dict[str, str],
    filt: dict[str, Any] | None,
    tick: Any,
    rand: tuple[rw.RandomWeights, rw.RandomTopK | None] | None = None,
) -> dict[str, Any]:
    """Unit pages, sprites, tiles and the layer page of one layer; its index row."""
    r = rand[1] if rand is not None else None
    lay = _layout(ly, files[ly.name], len(labels), r is not None)
    alive_tiles, dead_tiles = [], []
    for u in range(ly.n_units):
        td = _write_unit(w, ly, u, lay, labels, classes, files, filt, rand)
        (dead_tiles if td["dead"] else alive_tiles).append(td)
        tick(1)
    summary = _layer_summary(ly, lay.lf, len(labels))
    w.write(
        f"layers/{lay.lf}.html",
        pages.layer_page(
            summary, [pages.tile(x) for x in alive_tiles], [pages.tile(x) for x in dead_tiles]
        ),
    )
    summary["strip"] = _strip(alive_tiles, lay)
    return summary
