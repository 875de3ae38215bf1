"""Analysis outputs in the report: find them in run directories and turn them into blocks.

Analyses write ``RUN/analysis/<name>.json`` (numbers, an ``observation`` sentence built from
them, recorded ``choices``) and ``RUN/figures/<name>*.png``. The report globs what is there, so
new outputs appear without changes here. Known files get purpose-made tables
(:data:`CURATED`: Gabor summary, convergence, dead units, final activation statistics); any
``{"rows", "columns", "mean"[, "std"]}`` object becomes a matrix table (the paper's Table 1
form); the remaining scalars go into a generic "quantity / value" table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convscope import io
from convscope.report.document import Block, Bullets, Details, Figure, Para, Table
from convscope.report.results import Experiment
from convscope.report.stats import pct
from convscope.report.tables import all_numbers, human, readable_tables

RECURRENT = ("rnn", "lstm", "gru")


@dataclass
class Analysed:
    """One run directory that analyses were asked for or have written into."""

    rel: str
    path: Path
    label: str
    what: list[str]
    status: str | None = None  # the runner's analysis status (completed, failed, skipped)

    def files(self, sub: str, patterns: Sequence[str]) -> list[Path]:
        d = self.path / sub
        if not d.is_dir():
            return []
        found: dict[str, Path] = {}
        for pat in patterns:
            for p in sorted(d.glob(pat)):
                if p.is_file():
                    found.setdefault(p.name, p)
        return list(found.values())

    def json(self, patterns: Sequence[str]) -> list[Path]:
        return self.files("analysis", [p + ".json" for p in patterns])

    def figures(self, patterns: Sequence[str]) -> list[Path]:
        return self.files("figures", [p + ".png" for p in patterns])


def analysed_runs(exp: Experiment) -> list[Analysed]:
    """Runs listed under ``analysis`` in experiment.json, then any run with analysis files."""
    by_rel = {r.dir: r for r, _ in exp.all_runs()}
    out: dict[str, Analysed] = {}
    for a in exp.analysis:
        rel = str(a["run"]).rstrip("/")
        run = by_rel.get(rel)
        label = run.label if run else Path(rel).name
        what = [str(w) for w in a.get("what", [])]
        status = exp.planned(rel).get("analysis")
        out[rel] = Analysed(
            rel, exp.out / rel, label, what, None if status is None else str(status)
        )
    for rel, run in by_rel.items():
        adir = run.path / "analysis"
        if rel not in out and adir.is_dir() and any(adir.glob("*.json")):
            out[rel] = Analysed(rel, run.path, run.label, [])
    return list(out.values())


def default_analysis_target(exp: Experiment) -> str:
    """The run an ``analyze`` hint should name: the first CNN run (cnn group first)."""
    order = [exp.groups[n] for n in ("cnn", "cnn_vs_rnn", "optimizers") if n in exp.groups]
    order += [g for n, g in exp.groups.items() if n not in ("cnn", "cnn_vs_rnn", "optimizers")]
    for g in order:
        for r in g.runs:
            if r.model not in RECURRENT:
                return r.dir
    return "runs/RUN"


# --- generic numbers -------------------------------------------------------------------------
def _fmt_scalar(v: Any) -> str | None:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, str):
        return v if len(v) <= 80 else None
    if v is None:
        return "–"
    return None


# not numbers about the result: where it came from, how it was drawn, what it is called
SKIP_KEYS = {
    "observation",
    "observations",
    "sentence",
    "choices",
    "figures",
    "run",
    "device",
    "citation",
    "cites",
    "source",
    "data",
    "applicable",
    "gabor_params",
    "observation_uses",
    "class_names",  # where the names came from, not a result (and wrong once they are set)
}
MAX_ROWS = 40


def _is_matrix(v: Any) -> bool:
    return (
        isinstance(v, dict)
        and isinstance(v.get("rows"), list)
        and isinstance(v.get("columns"), list)
        and isinstance(v.get("mean"), list)
    )


def flatten_numbers(
    obj: Any, prefix: str = "", depth: int = 0, skip: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """(dotted key, value) rows of the scalars in an analysis JSON (short lists joined).

    Keys in :data:`SKIP_KEYS` or ``skip`` (top level), ``*_choices`` and matrix objects (shown
    as their own tables) are left out.
    """
    rows: list[tuple[str, str]] = []
    if isinstance(obj, dict):
        if _is_matrix(obj):
            return rows
        for k, v in obj.items():
            k = str(k)
            if k in SKIP_KEYS or k.endswith("_choices") or (depth == 0 and k in skip):
                continue
            key = f"{prefix}.{k}" if prefix else k
            rows.extend(flatten_numbers(v, key, depth + 1))
    elif isinstance(obj, list):
        if len(obj) <= 8 and all(
            not isinstance(x, dict | list) and _fmt_scalar(x) is not None for x in obj
        ):
            rows.append((prefix, ", ".join(_fmt_scalar(x) or "" for x in obj)))
        elif all(isinstance(x, dict) for x in obj) and len(obj) <= 12 and depth < 3:
            for i, x in enumerate(obj):
                name = x.get("layer") or x.get("name") or str(i)
                rows.extend(flatten_numbers(x, f"{prefix}[{name}]", depth + 1))
    else:
        v = _fmt_scalar(obj)
        if v is not None:
            rows.append((prefix, v))
    return rows


def choices_in(obj: Any) -> list[str]:
    """``key: value`` lines of every ``choices`` / ``*_choices`` mapping in ``obj``."""
    out: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "choices" or str(k).endswith("_choices"):
                if isinstance(v, dict):
                    out.extend(f"{ck}: {cv}" for ck, cv in v.items())
                elif isinstance(v, list):
                    out.extend(str(x) for x in v)
                else:
                    out.append(str(v))
            elif isinstance(v, dict):
                out.extend(choices_in(v))
    return out


def observations_in(obj: Any) -> list[str]:
    """Every ``observation`` / ``sentence`` string and ``observations`` list, without repeats."""
    out: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("observation", "sentence") and isinstance(v, str):
                out.append(v)
            elif k == "observations" and isinstance(v, list):
                out.extend(str(x) for x in v)
            elif k == "observations" and isinstance(v, dict):
                out.extend(str(x) for x in v.values())
            elif isinstance(v, dict):
                out.extend(observations_in(v))
    seen: set[str] = set()
    return [s for s in out if not (s in seen or seen.add(s))]


def matrix_tables(obj: Any, path: str = "") -> list[Table]:
    """``{"rows", "columns", "mean"[, "std"]}`` objects as tables of ``mean ± std``."""
    out: list[Table] = []
    if not isinstance(obj, dict):
        return out
    if _is_matrix(obj):
        mean, std = obj["mean"], obj.get("std")
        rows = []
        for i, r in enumerate(obj["rows"]):
            cells = [str(r)]
            for j in range(len(obj["columns"])):
                try:
                    m = float(mean[i][j])
                    text = f"{m:.3f}"
                    if isinstance(std, list):
                        text += f" ± {float(std[i][j]):.3f}"
                except (IndexError, TypeError, ValueError):
                    text = "–"
                cells.append(text)
            rows.append(cells)
        cap = (
            ("" if path in ("", "table") else f"{human(path)}: ")
            + "mean"
            + (" ± std" if isinstance(std, list) else "")
        )
        out.append(Table(["", *map(str, obj["columns"])], rows, caption=cap))
        return out
    for k, v in obj.items():
        if k not in SKIP_KEYS:
            out.extend(matrix_tables(v, f"{path}.{k}" if path else str(k)))
    return out


# --- curated tables for known files ---------------------------------------------------------
def _gabor_table(d: dict[str, Any]) -> tuple[list[Block], set[str]]:
    rows = []
    for key, name in (
        ("trained", f"trained (step {d.get('trained_step', '?')})"),
        ("init", "initialisation"),
    ):
        s = d.get(key)
        if not isinstance(s, dict) or "n" not in s:
            continue
        n = max(int(s["n"]), 1)
        rows.append(
            [
                name,
                str(s["n"]),
                f"{s.get('n_above_0.5', '–')} ({pct(s.get('n_above_0.5', 0) / n, 0)})",
                f"{s.get('n_above_0.8', '–')} ({pct(s.get('n_above_0.8', 0) / n, 0)})",
                f"{float(s.get('median_r2', math.nan)):.2f}",
            ]
        )
    if not rows:
        return [], set()
    t = Table(
        ["filters", "n", "R² > 0.5", "R² > 0.8", "median R²"],
        rows,
        caption=f"2-D Gabor fit of each `{d.get('layer', 'first conv')}` filter (fraction of "
        "variance explained)",
    )
    return [t], {"trained", "init"}


def _convergence_table(d: dict[str, Any]) -> tuple[list[Block], set[str]]:
    table = d.get("table")
    if not isinstance(table, list) or not table:
        return [], set()
    stats_cols = [k for k in ("mean", "std", "zero_fraction") if isinstance(table[0].get(k), dict)]
    rows = []
    for r in table:
        rows.append(
            [
                str(r.get("layer", "?")),
                str(r.get("kind", "")),
                str(r.get("settled_at", "–")),
                pct(r.get("settled_fraction"), 0) if r.get("settled_fraction") is not None else "–",
                *[str(r[k].get("settled_at", "–")) for k in stats_cols],
            ]
        )
    cad = d.get("cadence")
    t = Table(
        [
            "layer",
            "kind",
            "settles at (iteration)",
            "share of training",
            *[f"{k} settles" for k in stats_cols],
        ],
        rows,
        caption="iteration after which each layer's statistics stay within 5% of their final value"
        + (f" (records every {cad} iterations)" if cad else ""),
    )
    return [t], {"table", "cadence"}


def _dead_table(d: dict[str, Any]) -> tuple[list[Block], set[str]]:
    layers = d.get("layers")
    if not isinstance(layers, dict) or not layers:
        return [], set()
    rows = []
    for name, v in layers.items():
        if not isinstance(v, dict):
            continue
        rows.append(
            [
                str(name),
                str(v.get("layer", "")),
                str(v.get("after", "")),
                f"{v.get('n_dead', '–')} / {v.get('n_units', '–')}",
                pct(v.get("dead_fraction")) if v.get("dead_fraction") is not None else "–",
            ]
        )
    t = Table(
        ["layer", "module", "after", "dead / units", "dead share"],
        rows,
        caption=f"units that never activate on {d.get('n_images', 'the')} test images "
        f"(step {d.get('step', '?')})",
    )
    return [t], {"layers", "step", "n_images"}


def _taken_at(p: dict[str, Any]) -> str:
    layer, module = str(p.get("layer", "")), str(p.get("module", ""))
    return f"{layer} → {module}" if module and module != layer and layer else (layer or module)


def _activations_table(d: dict[str, Any]) -> tuple[list[Block], set[str]]:
    final = d.get("final")
    if not isinstance(final, dict) or not final:
        return [], set()
    points = d.get("layers") if isinstance(d.get("layers"), dict) else {}
    rows = []
    for name, v in final.items():
        p = points.get(name, {}) if isinstance(points, dict) else {}
        rows.append(
            [
                str(name),
                _taken_at(p),
                f"{float(v.get('mean', math.nan)):.3g}",
                f"{float(v.get('std', math.nan)):.3g}",
                pct(v.get("zero_fraction")) if v.get("zero_fraction") is not None else "–",
            ]
        )
    steps = d.get("steps") or []
    t = Table(
        ["layer", "taken at", "mean", "std", "zeros"],
        rows,
        caption=f"statistics at the last record (iteration {steps[-1] if steps else '?'}) on "
        f"{d.get('n_images', '?')} fixed test images; {len(steps)} records in all",
    )
    return [t], {"final", "layers", "steps", "n_images"}


CURATED: dict[str, Callable[[dict[str, Any]], tuple[list[Block], set[str]]]] = {
    "filters": _gabor_table,
    "convergence": _convergence_table,
    "dead_units": _dead_table,
    "activations": _activations_table,
}


def json_blocks(path: Path, out: Path) -> list[Block]:
    """An analysis JSON: its observation sentences, its tables, its recorded choices."""
    rel = path.relative_to(out).as_posix() if path.is_relative_to(out) else path.name
    try:
        data = io.read_json(path)
    except (ValueError, OSError) as e:
        return [Para(f"`{rel}` could not be read ({type(e).__name__}: {e}).", "warn")]
    if not isinstance(data, dict):
        return [Para(f"`{rel}`: expected a JSON object.", "warn")]
    blocks: list[Block] = []
    sents = observations_in(data)
    if sents:
        blocks.append(Bullets(sents, "obs", f"Observation (`{rel}`)"))
    curated, used = CURATED.get(path.stem, lambda d: ([], set()))(data)
    blocks.extend(curated)
    blocks.extend(matrix_tables(data))
    if not curated:  # per-layer / per-case records as tables with named columns and units
        blocks.extend(readable_tables(data, SKIP_KEYS | set(used)))
    rows = flatten_numbers(data)
    if rows:  # every number under its JSON key, folded
        blocks.append(Details(f"All {len(rows)} numbers in `{rel}`", all_numbers(rows)))
    ch = choices_in(data)
    if ch:
        blocks.append(Details(f"Choices recorded in `{rel}`", ch))
    return blocks


# --- figures ---------------------------------------------------------------------------------
CAPTIONS = {
    "filters": "First-layer filters, each on its own scale, with the R² of its Gabor fit",
    "filters_shared": "First-layer filters on one shared scale (colour bar)",
    "filters_init": "The same filters at initialisation (the control), with their Gabor R²",
    "filters_gabor": "Best Gabor fits (upper row: filter, lower row: fitted Gabor function)",
    "filters_strip": "A subset of the same filters (the first 8) at several checkpoints of "
    "training",
    "activations": "Per layer: mean ± std and fraction of zeros over iterations",
    "activations_ridgeline": "Per layer: activation histograms over iterations (ridgeline)",
}


def caption(stem: str) -> str:
    if stem in CAPTIONS:
        return CAPTIONS[stem]
    return stem.replace("zf_", "").replace("_", " ").replace("-", " ").strip().capitalize()


def figure_blocks(a: Analysed, paths: Sequence[Path], out: Path) -> list[Block]:
    blocks: list[Block] = []
    for p in paths:
        rel = p.relative_to(out).as_posix()
        blocks.append(Figure(rel, f"{caption(p.stem)} — run `{a.label}` (`{rel}`)."))
    return blocks
