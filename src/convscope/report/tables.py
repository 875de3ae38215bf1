"""Readable tables of an analysis JSON: named columns, units and rounding, no key paths.

An analysis writes its numbers as JSON (lists of per-layer records, mappings of per-case
records, scalars). :func:`readable_tables` turns the record-shaped parts into short tables a
person reads (one row per layer or case, columns named in words with their unit, fractions as
percentages, other numbers to 3 significant digits) and the top-level scalars into one
``quantity | value`` table. The complete numbers, under their JSON keys, go into a folded
``<details>`` list (:func:`all_numbers`) so nothing is hidden, only folded.
"""

from __future__ import annotations

import math
import re
from typing import Any

from convscope.formatting import pct
from convscope.report.document import Table

MAX_TABLE_ROWS = 12
TRANSPOSE_COLUMNS = 7  # more columns than this and fewer rows: one row per quantity instead

WORDS = {
    "prob": "probability",
    "rel": "relative distance",
    "dist": "distance",
    "top1": "top-1",
    "px": "",
    "n": "number of",
    "support90": "90% support",
}
FRACTION = re.compile(r"(fraction|share|purity|accuracy|prob)")
ID_KEYS = ("layer", "name", "kind", "class", "label")


def human(key: str) -> str:
    """``mean_top1_activation`` -> ``mean top-1 activation``; ``receptive_field_px`` ->
    ``receptive field (px)``; ``median_settle_step`` -> ``median settle step (iteration)``."""
    parts = [WORDS.get(p, p) for p in str(key).split("_")]
    text = " ".join(p for p in parts if p).strip()
    unit = ""
    if str(key).endswith("_px"):
        unit = " (px)"
    elif str(key).endswith("_step") or str(key) == "step":
        unit = " (iteration)"
    elif str(key).endswith("_s"):
        unit = " (s)"
    return text + unit


def fmt(key: str, v: Any) -> str | None:
    """A value for a cell: fractions in %, floats to 3 significant digits, short number lists
    joined (``5×5`` for pixel sizes); ``None`` for what is not a table cell."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if v is None:
        return "–"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if FRACTION.search(str(key)) and 0.0 <= v <= 1.0:
            return pct(v)  # one format for every percentage in the report
        if v.is_integer() and abs(v) < 1e6:
            return str(int(v))
        return f"{v:.3g}"
    if isinstance(v, str):
        return v if len(v) <= 40 else None
    if isinstance(v, list) and 0 < len(v) <= 3 and all(isinstance(x, int | float) for x in v):
        sep = "×" if str(key).endswith("_px") else ", "
        return sep.join(fmt(key, x) or "" for x in v)
    return None


def _record_table(key: str, records: list[tuple[str, dict[str, Any]]]) -> Table | None:
    """Rows: records (first column their name); columns: the keys every cell can show."""
    cols: list[str] = []
    for _, r in records:
        for k, v in r.items():
            if k not in cols and k not in ID_KEYS and fmt(k, v) is not None:
                cols.append(k)
    if not cols or not records:
        return None
    first = next((k for k in ID_KEYS if all(k in r for _, r in records)), None)
    head = human(first) if first else ""
    if len(cols) > TRANSPOSE_COLUMNS and len(records) < len(cols):
        rows = [[human(c)] + [fmt(c, r.get(c)) or "–" for _, r in records] for c in cols]
        return Table(["quantity", *[name for name, _ in records]], rows, caption=human(key))
    rows = [[name] + [fmt(c, r.get(c)) or "–" for c in cols] for name, r in records]
    return Table([head or human(key), *map(human, cols)], rows, caption=human(key))


def readable_tables(data: dict[str, Any], skip: set[str] | frozenset[str]) -> list[Table]:
    """Short tables of ``data``'s per-layer / per-case records and its top-level scalars."""
    tables: list[Table] = []
    scalars: list[list[str]] = []
    for key, v in data.items():
        if key in skip:
            continue
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            if len(v) <= MAX_TABLE_ROWS:
                named = [
                    (str(next((x[k] for k in ID_KEYS if k in x), i)), x) for i, x in enumerate(v)
                ]
                t = _record_table(key, named)
                if t is not None:
                    tables.append(t)
        elif isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()):
            if len(v) <= MAX_TABLE_ROWS and not {"rows", "columns"} <= set(v):
                t = _record_table(key, [(str(k), x) for k, x in v.items()])
                if t is not None:
                    tables.append(t)
        else:
            cell = fmt(key, v)
            if cell is not None and not isinstance(v, str):
                scalars.append([human(key), cell])
    if scalars:
        cap = "other numbers" if tables else "numbers"
        tables.append(Table(["quantity", "value"], scalars, caption=cap))
    return tables


def all_numbers(rows: list[tuple[str, str]]) -> list[str]:
    """``key: value`` lines for the folded list of every number under its JSON key."""
    return [f"`{k}`: {v}" for k, v in rows]
