"""HTML for the explorer: index, layer and unit pages, from plain dicts (no computation).

Every user string (layer, class, model names, paths) goes through :func:`html.escape`. Each
unit page carries its numbers as a JSON block (``<script type="application/json"
id="unit-data">``), the same dict its visible numbers are formatted from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from html import escape
from typing import Any

from convscope import formatting

SHEET_TOP, SHEET_TOP_PROJ, SHEET_EVO, SHEET_EVO_PROJ = 0, 1, 2, 3


def fmt(v: float | None, digits: int = 4) -> str:
    """A number as shown on the pages (``n/a`` for None/NaN)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.{digits}g}"


def pct(v: float | None) -> str:
    """A fraction as a whole percentage (``n/a`` for None/NaN): :func:`convscope.formatting.pct`."""
    return formatting.pct(v, digits=0, missing=formatting.NA)


def page(title: str, body: str, depth: int, style: str = "") -> str:
    up = "../" * depth
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="stylesheet" href="{up}explore.css">'
        + (f"<style>{style}</style>" if style else "")
        + f"</head>\n<body>\n{body}\n"
        f'<script src="{up}explore.js"></script>\n</body></html>\n'
    )


def cell(
    src: str,
    row: int,
    col: int,
    cell_hw: tuple[int, int],
    sheet_hw: tuple[int, int],
    scale: int,
    alt: str,
    lazy: bool = False,
) -> str:
    """One cell of a sprite sheet, scaled by ``scale`` (pixelated), as an ``<img>`` in a
    clipping box."""
    h, w = cell_hw
    sh, sw = sheet_hw
    lz = ' loading="lazy"' if lazy else ""
    return (
        f'<span class="cell" style="width:{w * scale}px;height:{h * scale}px">'
        f'<img src="{escape(src)}" alt="{escape(alt)}"{lz} width="{sw * scale}" '
        f'height="{sh * scale}" style="left:-{col * w * scale}px;top:-{row * h * scale}px">'
        "</span>"
    )


def sheet_style(cell_hw: tuple[int, int], sheet_hw: tuple[int, int], scale: int) -> str:
    """The page's CSS for :func:`sprite_cell` and :func:`whole_cell` boxes (class ``p``)."""
    (h, w), (sh, sw) = cell_hw, sheet_hw
    return (
        f".p{{width:{w * scale}px;height:{h * scale}px}}"
        f".p img{{width:{sw * scale}px;height:{sh * scale}px}}"
        f".p img.whole{{width:{w * scale}px;height:{h * scale}px;left:0;top:0}}"
    )


def sprite_cell(src: str, row: int, col: int, cell_px: tuple[int, int], alt: str) -> str:
    """Cell ``(row, col)`` of a sprite sheet, in a box sized by :func:`sheet_style`."""
    h, w = cell_px
    return (
        f'<span class="cell p"><img src="{escape(src)}" alt="{escape(alt)}" '
        f'style="left:-{col * w}px;top:-{row * h}px"></span>'
    )


def whole_cell(src: str, alt: str) -> str:
    """A whole image in a box sized by :func:`sheet_style`."""
    return (
        f'<span class="cell p"><img class="whole" src="{escape(src)}" alt="{escape(alt)}"></span>'
    )


def hist_svg(edges: Sequence[float], counts: Sequence[int], width: int = 360) -> str:
    """A histogram as inline SVG (bars, the range and the largest count labelled)."""
    height, left, bottom = 130, 34, 22
    top = max(max(counts), 1)
    n = len(counts)
    bw = (width - left - 4) / n
    bars = "".join(
        f'<rect x="{left + i * bw:.1f}" y="{height - bottom - (height - bottom - 8) * c / top:.1f}"'
        f' width="{max(bw - 1, 1):.1f}" height="{(height - bottom - 8) * c / top:.1f}" '
        f'fill="#1f6feb"><title>{fmt(edges[i])}..{fmt(edges[i + 1])}: {c}</title></rect>'
        for i, c in enumerate(counts)
    )
    return (
        f'<svg class="hist" width="{width}" height="{height}" role="img" '
        f'aria-label="histogram of the activation over the test split">{bars}'
        f'<line x1="{left}" x2="{width - 4}" y1="{height - bottom}" y2="{height - bottom}" '
        'stroke="#5b6570"/>'
        f'<text x="{left}" y="{height - 6}">{fmt(edges[0])}</text>'
        f'<text x="{width - 4}" y="{height - 6}" text-anchor="end">{fmt(edges[-1])}</text>'
        f'<text x="{left - 4}" y="14" text-anchor="end">{top}</text>'
        f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end">0</text></svg>'
    )


def bars_svg(names: Sequence[str], values: Sequence[float | None], width: int = 420) -> str:
    """Horizontal bars, one per class, labelled with the class name and the value."""
    row, label, right = 18, 110, 60
    vals = [0.0 if v is None or math.isnan(v) else float(v) for v in values]
    lo, hi = min(0.0, *vals), max(0.0, *vals)
    span = (hi - lo) or 1.0
    plot = width - label - right
    zero = label + plot * (0 - lo) / span
    best = max(range(len(vals)), key=lambda i: vals[i])
    parts = []
    for i, (name, v) in enumerate(zip(names, values)):
        x0 = label + plot * (min(vals[i], 0) - lo) / span
        w = plot * abs(vals[i]) / span
        y = i * row + 2
        colour = "#1f6feb" if i == best else "#8fb3e8"
        parts.append(
            f'<text x="{label - 6}" y="{y + 12}" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{row - 5}" fill="{colour}">'
            f"<title>{escape(name)}: {fmt(v)}</title></rect>"
            f'<text x="{label + plot + 4}" y="{y + 12}">{fmt(v)}</text>'
        )
    h = len(names) * row + 4
    return (
        f'<svg class="bars" width="{width}" height="{h}" role="img" '
        f'aria-label="mean activation per class">{"".join(parts)}'
        f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="0" y2="{h}" stroke="#5b6570"/></svg>'
    )


def _crumbs(*parts: tuple[str, str | None]) -> str:
    items = [f'<a href="{escape(h)}">{escape(t)}</a>' if h else escape(t) for t, h in parts]
    return '<nav class="crumbs">' + " / ".join(items) + "</nav>"


def index_page(info: dict[str, Any], layers: list[dict[str, Any]]) -> str:
    """``info``: run, model, data, accuracy, classes, steps, choices. ``layers``: per layer
    name, read, out_shape, rf, units, dead, mean_purity, href, strip (cell HTML)."""
    rows = "".join(
        f'<tr><td><a href="{escape(ly["href"])}"><b>{escape(ly["name"])}</b></a>'
        f'<div class="muted">read at {escape(ly["read"])}</div></td>'
        f"<td>{escape(' x '.join(str(v) for v in ly['out_shape']))}</td>"
        f"<td>{escape(ly['rf'])}</td><td>{ly['units']}</td>"
        f"<td>{pct(ly['dead_fraction'])} ({ly['dead']})</td><td>{pct(ly['mean_purity'])}</td>"
        f'<td><a class="strip" href="{escape(ly["href"])}">{ly["strip"]}</a></td></tr>'
        for ly in layers
    )
    choices = "".join(
        f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in info["choices"].items()
    )
    body = (
        f"<h1>Unit explorer: {escape(info['model'])}</h1>"
        f'<p class="muted">run {escape(info["run"])} · data {escape(info["data"])} · '
        f"final test accuracy {escape(info['accuracy'])} · {info['n_test']} test images · "
        f"snapshots at steps {escape(', '.join(str(s) for s in info['steps']))}</p>"
        "<p>Each layer's units (feature maps of a conv layer, neurons of a fully connected "
        "one). Click a layer to see all of its units; each tile shows the unit's strongest "
        "test image patch and its deconvnet projection (grey = 0).</p>"
        '<table class="layers"><thead><tr><th>layer</th><th>output shape</th>'
        "<th>receptive field</th><th>units</th><th>dead</th><th>mean class purity</th>"
        "<th>strongest units</th></tr></thead><tbody>"
        f"{rows}</tbody></table>"
        f'<h2>How the numbers are computed</h2><dl class="choices">{choices}</dl>'
    )
    return page(f"Unit explorer: {info['model']}", body, 0)


def layer_page(ly: dict[str, Any], tiles_alive: list[str], tiles_dead: list[str]) -> str:
    dead_note = (
        f"<p>{len(tiles_dead)} units never activate (largest activation &le; 0) on any of the "
        f"{ly['n_test']} test images. Their top images are ties at 0 and mean nothing, so "
        "they are shown apart, without images.</p>"
    )
    body = (
        _crumbs(("index", "../index.html"), (ly["name"], None))
        + f'<h1>{escape(ly.get("display") or ly["name"])} <span class="muted">({ly["units"]} units, '
        f"{len(tiles_dead)} dead, read at {escape(ly['read'])})</span></h1>"
        f'<p class="muted">output {escape(" x ".join(str(v) for v in ly["out_shape"]))} · '
        f"receptive field {escape(ly['rf'])} · mean class purity {pct(ly['mean_purity'])}</p>"
        '<a id="up" href="../index.html" hidden>index</a>'
        '<div class="controls"><label>sort by <select id="sort">'
        '<option value="unit">unit number</option><option value="max">activation strength'
        '</option><option value="purity">class purity</option><option value="settle-late">'
        'top image settled: latest first</option><option value="settle-early">top image '
        'settled: earliest first</option></select></label><label>show <select id="show">'
        '<option value="all">all</option><option value="alive">alive</option>'
        '<option value="dead">dead</option></select></label><label>class purity at least '
        '<input id="minpurity" type="number" min="0" max="100" step="5" value="0" '
        'style="width:4.5em"> %</label></div>'
        f'<section id="group-alive"><h2>Alive units ({len(tiles_alive)})</h2>'
        f'<div class="tiles" id="tiles-alive">{"".join(tiles_alive)}</div></section>'
        f'<section id="group-dead"><h2>Dead units ({len(tiles_dead)})</h2>'
        f"{dead_note if tiles_dead else '<p>None.</p>'}"
        f'<div class="tiles" id="tiles-dead">{"".join(tiles_dead)}</div></section>'
    )
    return page(f"{ly['name']}: units", body, 1)


def tile(t: dict[str, Any]) -> str:
    """``t``: unit, href, dead, max, purity, settle, img (cell HTML or '')."""
    attrs = (
        f'data-unit="{t["unit"]}" data-max="{t["max"]!r}" '
        f'data-purity="{"" if t["purity"] is None else repr(t["purity"])}" '
        f'data-settle="{"" if t["settle"] is None else t["settle"]}" '
        f'data-dead="{int(t["dead"])}"'
    )
    if t["dead"]:
        inner = (
            f'<span class="deadbox" style="width:{t["size"]}px;height:{t["size"]}px">dead</span>'
        )
        title = f"unit {t['unit']}: dead (never active on the test split)"
    else:
        inner = f'<span class="pair">{t["img"]}</span>'
        title = f"unit {t['unit']}: max {fmt(t['max'])}, purity {pct(t['purity'])}"
    cls = "tile dead" if t["dead"] else "tile"
    return (
        f'<a class="{cls}" href="{escape(t["href"])}" {attrs} title="{escape(title)}">'
        f"{inner}<span>{t['unit']}</span></a>"
    )


def _unit_nav(d: dict[str, Any], v: dict[str, Any]) -> str:
    """The previous / layer / next links of a unit page."""
    name, u = d["layer"], d["unit"]
    prev = (
        f'<a id="prev" rel="prev" href="{escape(v["prev"])}">&larr; unit {u - 1}</a>'
        if v["prev"] is not None
        else ""
    )
    nxt = (
        f'<a id="next" rel="next" href="{escape(v["next"])}">unit {u + 1} &rarr;</a>'
        if v["next"] is not None
        else ""
    )
    return (
        f'<div class="pager">{prev}<a id="up" href="../../layers/{escape(v["layer_file"])}.html">'
        f"all units of {escape(name)}</a>{nxt}"
        '<span class="muted"><kbd>&larr;</kbd>/<kbd>&rarr;</kbd> previous/next, '
        "<kbd>u</kbd> back to the layer</span></div>"
    )


def _unit_facts(d: dict[str, Any]) -> str:
    """The headline numbers of a unit page."""
    return (
        '<div class="facts">'
        f'<div>largest activation<b class="v-max">{fmt(d["max"])}</b></div>'
        f'<div>mean activation<b class="v-mean">{fmt(d["mean"])}</b></div>'
        f'<div>class purity of the top {len(d["top"])}<b class="v-purity">'
        f"{pct(d['purity'])}</b></div>"
        f'<div>top image settled at step<b class="v-settle">'
        f"{'n/a' if d['evolution']['settle_step'] is None else d['evolution']['settle_step']}"
        "</b></div></div>"
    )


def _unit_top(d: dict[str, Any], v: dict[str, Any]) -> str:
    """The dead-unit banner, or the unit's top test images."""
    if d["dead"]:
        return (
            f'<div class="banner" id="dead-banner"><b>Dead unit.</b> Its activation is &le; 0 '
            f"on every one of the {v['n_test']} test images, so it has no top images; below "
            "are its distribution and per-class means (all at 0) and its past.</div>"
        )
    figs = "".join(
        f'<figure class="top" data-test-index="{t["test_index"]}" '
        f'data-value="{t["value"]!r}">{v["top_cells"][i][0]}{v["top_cells"][i][1]}'
        f"<figcaption><b>{escape(t['class_name'])}</b><br>value "
        f'<span class="v">{fmt(t["value"])}</span><br>test #{t["test_index"]}'
        f"</figcaption></figure>"
        for i, t in enumerate(d["top"])
    )
    return (
        f'<h2>Top {len(d["top"])} test images</h2><p class="note">Each: the image '
        "patch under the unit's receptive field, then the deconvnet projection of the "
        "unit's activation into it (grey = 0).</p>"
        f'<div class="grid" id="top">{figs}</div>'
    )


def _unit_evolution(d: dict[str, Any], v: dict[str, Any]) -> str:
    """The unit's strongest test image at each snapshot."""
    ev = d["evolution"]
    evo = "".join(
        f'<figure class="evo" data-step="{s}" data-value="{val!r}">'
        f"{v['evo_cells'][i][0]}{v['evo_cells'][i][1]}"
        f"<figcaption>step <b>{s}</b><br>{fmt(val)}{' (inactive)' if val <= 0 else ''}"
        f"<br>test #{ti}</figcaption></figure>"
        for i, (s, val, ti) in enumerate(zip(ev["steps"], ev["values"], ev["test_index"]))
    )
    return (
        f'<h2>Evolution over the run\'s snapshots</h2><p class="note">At each snapshot, the '
        f"strongest test image (patch, projection) and its value.</p>"
        f'<div class="grid" id="evolution">{evo}</div>'
    )


def _unit_filter(d: dict[str, Any], v: dict[str, Any]) -> str:
    """A first-layer unit's filter, its Gabor fit and the fit's numbers."""
    f = d["filter"]
    if f.get("not_applicable"):
        return (
            f'<h2>Filter</h2><div class="grid"><figure>{v["filter_cells"][0]}'
            f"<figcaption>the filter</figcaption></figure></div>"
            f'<p class="muted">{escape(f["not_applicable"])}.</p>'
        )
    params = ", ".join(f"{k} {fmt(val, 3)}" for k, val in f["gabor"].items())
    return (
        f'<h2>Filter and its Gabor fit</h2><div class="grid">'
        f"<figure>{v['filter_cells'][0]}<figcaption>the filter</figcaption></figure>"
        f"<figure>{v['filter_cells'][1]}<figcaption>Gabor fit</figcaption></figure></div>"
        f'<p>R&sup2; = <b class="v-r2">{fmt(f["r2"], 3)}</b> '
        f'<span class="muted">({escape(params)})</span></p>'
    )


def _unit_inputs(d: dict[str, Any]) -> str:
    """The unit's strongest inputs, linked to their own pages where they have one."""
    items = "".join(
        "<li>"
        + (
            f'<a href="../{escape(i["href"])}">{escape(i["layer"])} unit {i["unit"]}</a>'
            if i.get("href")
            else f"input {i['unit']}"
        )
        + f': <span class="v">{fmt(i["contribution"])}</span></li>'
        for i in d["inputs"]
    )
    return (
        '<h2>Strongest inputs</h2><p class="note">Weight &times; mean test input, summed '
        f'over each input map\'s positions.</p><ul class="inputs">{items}</ul>'
    )


def unit_page(d: dict[str, Any], v: dict[str, Any]) -> str:
    """``d``: the unit's numbers (also embedded as JSON). ``v``: view data: prev/next hrefs,
    cells (HTML per image), the class names and filter cells."""
    name, u = d["layer"], d["unit"]
    parts = [
        _crumbs(
            ("index", "../../index.html"),
            (name, f"../../layers/{v['layer_file']}.html"),
            (f"unit {u}", None),
        ),
        f"<h1>{escape(name)}, unit {u}</h1>",
        _unit_nav(d, v),
        _unit_facts(d),
        _unit_top(d, v),
    ]
    parts.append(v.get("random_html", ""))  # the random-weights projections (issue 21)
    parts.append(_unit_evolution(d, v))
    h = d["histogram"]
    cm = d["class_means"]
    parts.append(
        f"<h2>Activation over the test split</h2>{hist_svg(h['edges'], h['counts'])}"
        f"<h2>Mean activation per class</h2>{bars_svg(cm['classes'], cm['values'])}"
    )
    if "filter" in d:
        parts.append(_unit_filter(d, v))
    if "inputs" in d:
        parts.append(_unit_inputs(d))
    data = json.dumps(d, allow_nan=False).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="unit-data">{data}</script>')
    return page(f"{name} unit {u}", "".join(parts), 2, v.get("style", ""))
