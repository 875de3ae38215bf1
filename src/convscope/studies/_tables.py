"""Report tables of the activations study (final statistics, convergence, dead units)."""

from __future__ import annotations

import math
from typing import Any

from convscope.formatting import pct
from convscope.report.document import Block, Table


def activations_tables(n: dict[str, Any]) -> list[Block]:
    return [*_final(n), *_convergence(n), *_dead(n.get("dead_units") or {})]


def _final(d: dict[str, Any]) -> list[Block]:
    final = d.get("final")
    if not isinstance(final, dict) or not final:
        return []
    points = d.get("layers") if isinstance(d.get("layers"), dict) else {}
    rows = []
    for name, v in final.items():
        p = points.get(name, {})
        layer, module = str(p.get("layer", "")), str(p.get("module", ""))
        taken = f"{layer} → {module}" if module and module != layer and layer else (layer or module)
        rows.append(
            [
                str(name),
                taken,
                str(p.get("tag", "")),
                f"{float(v.get('mean', math.nan)):.3g}",
                f"{float(v.get('std', math.nan)):.3g}",
                pct(v.get("zero_fraction")) if v.get("zero_fraction") is not None else "–",
            ]
        )
    steps = d.get("steps") or []
    return [
        Table(
            ["layer", "taken at", "TensorBoard tag", "mean", "std", "zeros"],
            rows,
            caption=f"statistics at the last record (iteration {steps[-1] if steps else '?'}) on "
            f"{d.get('n_images', '?')} fixed test images; {len(steps)} records in all",
        )
    ]


def _convergence(d: dict[str, Any]) -> list[Block]:
    table = d.get("convergence")
    if not isinstance(table, list) or not table:
        return []
    stats_cols = [k for k in ("mean", "std", "zero_fraction") if isinstance(table[0].get(k), dict)]
    rows = [
        [
            str(r.get("layer", "?")),
            str(r.get("kind", "")),
            str(r.get("settled_at", "–")),
            pct(r.get("settled_fraction")) if r.get("settled_fraction") is not None else "–",
            *[str(r[k].get("settled_at", "–")) for k in stats_cols],
        ]
        for r in table
    ]
    cad = d.get("cadence")
    return [
        Table(
            [
                "layer",
                "kind",
                "settles at (iteration)",
                "share of training",
                *[f"{k} settles" for k in stats_cols],
            ],
            rows,
            caption="iteration after which each layer's statistics stay within 5% of their "
            "final value" + (f" (records every {cad} iterations)" if cad else ""),
        )
    ]


def _dead(d: dict[str, Any]) -> list[Block]:
    layers = d.get("layers")
    if not isinstance(layers, dict) or not layers:
        return []
    rows = [
        [
            str(name),
            str(v.get("layer", "")),
            str(v.get("after", "")),
            f"{v.get('n_dead', '–')} / {v.get('n_units', '–')}",
            pct(v.get("dead_fraction")) if v.get("dead_fraction") is not None else "–",
        ]
        for name, v in layers.items()
        if isinstance(v, dict)
    ]
    return [
        Table(
            ["layer", "module", "after", "dead / units", "dead share"],
            rows,
            caption=f"units that never activate on {d.get('n_images', 'the')} test images "
            f"(step {d.get('step', '?')})",
        )
    ]
