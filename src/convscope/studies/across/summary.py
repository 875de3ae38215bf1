"""Across configurations: seed spread, tests against a reference, tables and sentences.

Input: the per-run numbers of :func:`convscope.studies.across.compute.run_numbers`. Runs with the same
label are one configuration; its runs are its seeds. Every quantity gets mean ± sample std
(``ddof=1``) over the finite seed values, Welch t-tests of every configuration against the
reference configuration (default: the group's first) with Holm correction within the quantity
(:mod:`convscope.analysis.significance`), a table per family and sentences built only from
these numbers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from convscope.analysis.significance import ALPHA, TEST_CHOICES, compare_to_reference, finite
from convscope.escape import escape_md
from convscope.formatting import mean_sd, p_value
from convscope.studies.across.compute import CHOICES

SCHEMA = 1


@dataclass(frozen=True)
class Family:
    """A kind of quantity: one table and one figure."""

    name: str
    title: str
    unit: str  # "percent", "steps", "r2", "ratio"
    sentence: str  # {label} {a} {b} {ref} {col} {units}


FAMILIES = (
    Family(
        "dead_fraction",
        "Dead units at the end of training (share of the layer's units, on the whole test split)",
        "percent",
        "{label} leaves {a} of {col} {units} dead against {b} under {ref}",
    ),
    Family(
        "gabor",
        "First-layer filters: median Gabor R² (trained, initialisation, gain)",
        "r2",
        "the {col} median Gabor R² is {a} under {label} against {b} under {ref}",
    ),
    Family(
        "settle_step",
        "Settle step per layer (iteration after which mean, std and zero fraction stay "
        "within 5% of their final values)",
        "steps",
        "{col} settles at iteration {a} under {label} against {b} under {ref}",
    ),
    Family(
        "weight_change",
        "Weight change from initialisation, ||W_T - W_0|| / ||W_0||",
        "ratio",
        "{col}'s weights move {a} from initialisation under {label} against {b} under {ref}",
    ),
)
GABOR_COLUMNS = {"trained": "median_r2_trained", "init": "median_r2_init", "gain": "median_r2_gain"}


def _values(run: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    g = run.get("gabor") or {}
    return {
        "dead_fraction": {k: d["fraction"] for k, d in run.get("dead", {}).items()},
        "gabor": {c: g.get(k) for c, k in GABOR_COLUMNS.items()}
        if "median_r2_trained" in g
        else {},
        "settle_step": {k: s["settled_at"] for k, s in run.get("settle", {}).items()},
        "weight_change": {k: w["final"] for k, w in run.get("weight_change", {}).items()},
        "dead_half_step": {k: d["half_step"] for k, d in run.get("dead", {}).items()},
        **{
            f"settle_step.{stat}": {k: s[stat] for k, s in run.get("settle", {}).items()}
            for stat in ("mean", "std", "zero_fraction")
        },
    }


def fmt(mean: float, std: float, n: int, unit: str) -> str:
    """``"64.1 ± 5.2%"``, ``"325 ± 25"``, ``"0.41 ± 0.03"``; one seed: the value alone."""
    if not math.isfinite(mean):
        return "–"
    if unit in ("percent", "steps", "r2"):  # the report's formats
        return mean_sd(mean, std, n, {"percent": 1, "steps": 0, "r2": 2}[unit], unit == "percent")
    return f"{mean:.3g} ± {std:.2g}" if n > 1 else f"{mean:.3g}"


def _stat(values: list[float | None]) -> dict[str, Any]:
    v = finite(values)
    return {
        "values": [None if x is None or not math.isfinite(float(x)) else float(x) for x in values],
        "n": int(v.size),
        "mean": float(np.mean(v)) if v.size else math.nan,
        "std": float(np.std(v, ddof=1)) if v.size > 1 else 0.0,
        "min": float(np.min(v)) if v.size else math.nan,
        "max": float(np.max(v)) if v.size else math.nan,
    }


def _p(p: float | None, exact: bool) -> str:
    if p is None:
        return "no test"
    if exact:
        return "p = 0 (no spread over seeds)"
    return f"p = {p_value(p)}"


def _units(kinds: dict[str, str], col: str) -> str:
    return "maps" if kinds.get(col) == "conv" else "units"


def summarize(
    runs: list[dict[str, Any]], reference: str | None = None, alpha: float = ALPHA
) -> dict[str, Any]:
    """Quantities, comparisons, tables and observations over the configurations of ``runs``."""
    labels = list(dict.fromkeys(r["label"] for r in runs))
    if not labels:
        return {"schema": SCHEMA, "configurations": [], "observations": ["No runs to compare."]}
    ref = reference if reference in labels else labels[0]
    kinds: dict[str, str] = {}
    layer_order: list[str] = []
    for r in runs:
        kinds.update(r.get("kinds", {}))
        layer_order += [x for x in r.get("layers", []) if x not in layer_order]
    per_run = [(r["label"], _values(r)) for r in runs]
    quantities: dict[str, dict[str, dict[str, Any]]] = {}
    comparisons: dict[str, dict[str, list[dict[str, Any]]]] = {}
    raw: dict[str, dict[str, dict[str, list[float | None]]]] = {}
    for fam in per_run[0][1]:
        cols = list(dict.fromkeys(c for _, v in per_run for c in v.get(fam, {})))
        for col in cols:
            by_label: dict[str, list[float | None]] = {lab: [] for lab in labels}
            for lab, v in per_run:
                by_label[lab].append(v.get(fam, {}).get(col))
            raw.setdefault(fam, {})[col] = by_label
            quantities.setdefault(fam, {})[col] = {lab: _stat(by_label[lab]) for lab in labels}
            comparisons.setdefault(fam, {})[col] = [
                asdict(c) for c in compare_to_reference(by_label, ref, alpha, numpy_moments=True)
            ]
    n_seeds = {lab: sum(1 for r in runs if r["label"] == lab) for lab in labels}
    status = {lab: [r.get("status") for r in runs if r["label"] == lab] for lab in labels}
    names = {lab: lab + _diverged(status[lab]) for lab in labels}
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "configurations": labels,
        "reference": ref,
        "alpha": alpha,
        "seeds": {lab: [r.get("seed") for r in runs if r["label"] == lab] for lab in labels},
        "status": status,
        "display": names,
        "layers": layer_order,
        "kinds": kinds,
        "quantities": quantities,
        "comparisons": comparisons,
        "choices": {**CHOICES, **TEST_CHOICES},
    }
    note = _seed_note(list(n_seeds.values()))
    out["tables"] = [_table(f, quantities, comparisons, names, ref, note) for f in FAMILIES]
    out["tables"] = [t for t in out["tables"] if t["columns"][1:]]
    out["settle_order"] = _settle_order(quantities.get("settle_step", {}), labels, layer_order)
    out["observations"] = _observations(out, n_seeds, ref, kinds, names)
    return out


def _seed_note(n_seeds: list[int]) -> str:
    """What a table's cells are: a seed mean ± std, or single runs (one seed says so)."""
    test = "† differs from the reference (Welch t, Holm-corrected over the column's comparisons, "
    if n_seeds and max(n_seeds) < 2:
        return "one seed per configuration: each value is a single run (no spread, no test)"
    if n_seeds and min(n_seeds) < 2:
        return (
            "mean ± sample std over seeds where a configuration has several, the single run's "
            f"value where it has one; {test}p < 0.05; single runs are not tested)"
        )
    return f"mean ± sample std over seeds; {test}p < 0.05)"


def _diverged(status: list[Any]) -> str:
    k = sum(1 for s in status if s == "diverged")
    if k == 0:
        return ""
    return " (diverged)" if k == len(status) else f" ({k}/{len(status)} seeds diverged)"


def _table(
    fam: Family,
    quantities: dict[str, Any],
    comparisons: dict[str, Any],
    names: dict[str, str],
    ref: str,
    note: str,
) -> dict[str, Any]:
    """One family's table, under ``note`` (:func:`_seed_note`)."""
    q = quantities.get(fam.name, {})
    cols = list(q)
    rows = []
    for lab in names:
        row = [names[lab] + (" (reference)" if lab == ref else "")]
        for col in cols:
            s = q[col][lab]
            cell = fmt(s["mean"], s["std"], s["n"], fam.unit)
            sig = [c for c in comparisons[fam.name][col] if c["label"] == lab and c["significant"]]
            row.append(cell + (" †" if sig else ""))
        rows.append(row)
    return {
        "family": fam.name,
        "title": fam.title,
        "columns": ["configuration", *cols],
        "rows": rows,
        "note": note,
    }


def _settle_order(
    settle: dict[str, dict[str, Any]], labels: list[str], layers: list[str]
) -> dict[str, str]:
    """Per configuration: layers by mean settle step, ``"conv1 = fc2 < conv2 < fc1"``."""
    order = {}
    for lab in labels:
        means = [(settle[c][lab]["mean"], layers.index(c), c) for c in settle if c in layers]
        means = sorted(m for m in means if math.isfinite(m[0]))
        text = means[0][2] if means else ""
        for prev, cur in zip(means, means[1:], strict=False):
            text += (" = " if cur[0] == prev[0] else " < ") + cur[2]
        order[lab] = text
    return order


def _family_text(
    fam: Family,
    col: str,
    q: dict[str, Any],
    comps: list[dict[str, Any]],
    ref: str,
    units: str,
    names: dict[str, str],
) -> list[str]:
    finite_labels = [lab for lab, s in q.items() if s["n"] > 0]
    if not finite_labels:
        return []
    out = []
    lo = min(finite_labels, key=lambda lab: q[lab]["mean"])
    hi = max(finite_labels, key=lambda lab: q[lab]["mean"])

    def f(lab: str) -> str:
        s = q[lab]
        return fmt(s["mean"], s["std"], s["n"], fam.unit)

    if len(finite_labels) > 1 and f(lo) != f(hi):
        out.append(f"{col}: from {f(lo)} under {names[lo]} to {f(hi)} under {names[hi]}")
    elif len(finite_labels) > 1:
        out.append(f"{col}: {f(lo)} under every setting")
    tested = [c for c in comps if c["p_holm"] is not None]
    for c in comps:
        if c["significant"]:
            lab = c["label"]
            head = fam.sentence.format(
                label=names[lab], a=f(lab), b=f(ref), ref=names[ref], col=col, units=units
            )
            out.append(
                f"{head} ({c['n']} vs {c['n_reference']} seeds; Welch t, "
                f"{_p(c['p'], c['exact'])}, Holm-corrected over {len(tested)}: "
                f"{_p(c['p_holm'], c['exact'])})"
            )
    if tested and not any(c["significant"] for c in comps):
        best = min(c["p_holm"] for c in tested)
        out.append(
            f"no setting differs from {names[ref]} (Welch t, Holm-corrected over {len(tested)} "
            f"comparisons; smallest corrected p = {p_value(best)})"
        )
    split = [names[c["label"]] for c in comps if c["seeds_disagree"]]
    if split and tested:
        out.append(
            f"the seeds disagree under {', '.join(split)} (some above {ref}'s mean, some below)"
        )
    return out


def _observations(
    out: dict[str, Any],
    n_seeds: dict[str, int],
    ref: str,
    kinds: dict[str, str],
    names: dict[str, str],
) -> list[dict[str, str]]:
    obs: list[dict[str, str]] = []
    single = [lab for lab, n in n_seeds.items() if n < 2]
    if single:
        who = "every setting" if len(single) == len(n_seeds) else ", ".join(single)
        obs.append(
            {
                "family": "seeds",
                "text": f"One seed for {who}: those numbers are single runs, no significance "
                "test is made for them, and a difference between single runs may be seed noise.",
            }
        )
    q, comps = out["quantities"], out["comparisons"]
    for fam in FAMILIES:
        parts: list[str] = []
        for col in q.get(fam.name, {}):
            if fam.name == "dead_fraction" and all(
                s["max"] == 0 for s in q[fam.name][col].values() if s["n"]
            ):
                parts.append(f"no {col} {_units(kinds, col)} die under any setting")
                continue
            parts += _family_text(
                fam, col, q[fam.name][col], comps[fam.name][col], ref, _units(kinds, col), names
            )
        if fam.name == "dead_fraction":
            parts += _when_dead(q, names, kinds)
        if fam.name == "settle_step":
            parts += _order_text(out["settle_order"], names)
        if parts:
            obs.append({"family": fam.name, "text": f"{fam.title}: " + "; ".join(parts) + "."})
    return obs


def _when_dead(q: dict[str, Any], names: dict[str, str], kinds: dict[str, str]) -> list[str]:
    dead, half = q.get("dead_fraction", {}), q.get("dead_half_step", {})
    out = []
    for col, by_label in dead.items():
        worst = max(by_label, key=lambda lab: by_label[lab]["mean"] if by_label[lab]["n"] else -1)
        h = half.get(col, {}).get(worst)
        if by_label[worst]["n"] and by_label[worst]["mean"] > 0 and h and h["n"]:
            out.append(
                f"under {names[worst]}, half of the final dead {col} {_units(kinds, col)} are "
                "dead by iteration "
                f"{fmt(h['mean'], h['std'], h['n'], 'steps')}"
            )
    return out


def _order_text(order: dict[str, str], names: dict[str, str]) -> list[str]:
    groups: dict[str, list[str]] = {}
    for lab, text in order.items():
        if text:
            groups.setdefault(text, []).append(names[lab])
    if not groups:
        return []
    if len(groups) == 1:
        return [f"layers settle in the same order under every setting ({next(iter(groups))})"]
    return [
        "layers settle in different orders (by mean settle step): "
        + "; ".join(f"{k} under {', '.join(v)}" for k, v in groups.items())
    ]


def markdown(summary: dict[str, Any]) -> str:
    """The tables and observations as Markdown, easy to quote (user strings escaped)."""
    lines = []
    for t in summary.get("tables", []):
        lines += [f"**{escape_md(t['title'], backslash_all=True)}**", ""]
        lines.append(
            "| " + " | ".join(escape_md(c, backslash_all=True) for c in t["columns"]) + " |"
        )
        lines.append("|" + "---|" * len(t["columns"]))
        for row in t["rows"]:
            lines.append(
                "| " + " | ".join(escape_md(str(c), backslash_all=True) for c in row) + " |"
            )
        lines += ["", f"_{escape_md(t['note'], backslash_all=True)}_", ""]
    for o in summary.get("observations", []):
        lines += [f"- {escape_md(o['text'], backslash_all=True)}"]
    return "\n".join(lines) + "\n"
