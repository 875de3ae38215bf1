"""When does each layer's activation statistic settle? The number behind "early layers converge
quickly while the fully connected layers take longer" (reference report, Sec. 1.4; cf. Zeiler &
Fergus 2014, arXiv 1311.2901, Sec. 4 "Feature Evolution during Training", Fig. 4: lower layers converge within a few epochs,
upper layers only after many).

Definition (recorded in :data:`CONVERGENCE_CHOICES`): for a statistic recorded at steps
``s_0 < ... < s_{S-1}`` with final value ``v_f = v_{S-1}``, the tolerance is
``tol = max(rel_tol * |v_f|, floor_frac * (max(v) - min(v)))`` and the *settling step* is the
first ``s_i`` such that ``|v_j - v_f| <= tol`` for every ``j >= i``. The floor (a share of the
statistic's own range over training) keeps a statistic whose final value is near zero (the
logits' mean) from needing an impossibly tight tolerance. A layer's settling step is the
latest over its statistics (mean, std, zero fraction). The resolution is the record cadence.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convscope.errors import ConvscopeError

REL_TOL = 0.05
FLOOR_FRAC = 0.01
STATS = ("mean", "std", "zero_fraction")

CONVERGENCE_CHOICES: dict[str, Any] = {
    "tolerance": f"max({REL_TOL:g} * |final|, {FLOOR_FRAC:g} * (max - min over the records))",
    "settling_step": "first recorded step after which every later record is within tolerance "
    "of the final value",
    "layer_settling_step": f"latest settling step over {', '.join(STATS)}",
    "resolution": "the record cadence (steps between activation records)",
}


def settling_step(
    steps: np.ndarray, values: np.ndarray, rel_tol: float = REL_TOL, floor_frac: float = FLOOR_FRAC
) -> tuple[int, float]:
    """Settling step and tolerance of one statistic.

    Args:
        steps: ``(S,)`` increasing record steps.
        values: ``(S,)`` the statistic at those steps (NaNs are not allowed).

    Returns:
        ``(step, tol)``: the first step after which all values stay within ``tol`` of the last.
    """
    s = np.asarray(steps)
    v = np.asarray(values, dtype=np.float64)
    if s.ndim != 1 or v.shape != s.shape or s.size == 0:
        raise ConvscopeError(
            f"convergence: expected steps and values of the same length (S,), got {s.shape} and {v.shape}"
        )
    if s.size > 1 and np.any(np.diff(s) <= 0):
        raise ConvscopeError("convergence: steps must be strictly increasing")
    if not np.all(np.isfinite(v)):
        raise ConvscopeError("convergence: values contain NaN or infinity")
    final = v[-1]
    tol = max(rel_tol * abs(final), floor_frac * float(v.max() - v.min()))
    outside = np.nonzero(np.abs(v - final) > tol)[0]
    i = 0 if outside.size == 0 else int(outside[-1]) + 1
    return int(s[i]), float(tol)


def convergence_table(
    arrays: dict[str, np.ndarray],
    layers: list[str],
    kinds: dict[str, str] | None = None,
    stats: tuple[str, ...] = STATS,
    rel_tol: float = REL_TOL,
    floor_frac: float = FLOOR_FRAC,
) -> list[dict[str, Any]]:
    """One row per layer: settling step per statistic and overall.

    Args:
        arrays: ``steps (S,)`` and ``"<layer>.<stat>" (S,)``, as
            :func:`convscope.studies.activations.compute.rows_to_arrays` writes them.
        layers: layer names in network order.
        kinds: layer name -> ``"conv"``, ``"linear"``, ``"recurrent"``, ``"logits"``.

    Returns:
        Rows ``{"layer", "kind", "settled_at", "settled_fraction", "last_step", "<stat>":
        {"final", "tol", "settled_at", "constant"}}``; ``settled_fraction`` is ``settled_at`` over the last
        step. A layer with ``settled_at == last_step`` has not settled before the last record.
    """
    if "steps" not in arrays:
        raise ConvscopeError("convergence: arrays lack 'steps'")
    steps = np.asarray(arrays["steps"])
    last = int(steps[-1]) if steps.size else 0
    rows = []
    for layer in layers:
        row: dict[str, Any] = {"layer": layer, "kind": (kinds or {}).get(layer, "")}
        worst = int(steps[0])
        for stat in stats:
            key = f"{layer}.{stat}"
            if key not in arrays:
                raise ConvscopeError(f"convergence: arrays lack {key!r}")
            at, tol = settling_step(steps, arrays[key], rel_tol, floor_frac)
            v = np.asarray(arrays[key], dtype=np.float64)
            row[stat] = {
                "final": float(v[-1]),
                "tol": tol,
                "settled_at": at,
                "constant": bool(v.max() == v.min()),
            }
            worst = max(worst, at)
        row["settled_at"] = worst
        row["settled_fraction"] = worst / last if last > 0 else 0.0
        row["last_step"] = last
        rows.append(row)
    return rows


LATE_FRACTION = 0.9  # settling after this share of training counts as "still changing"


def compare_settling(
    early: list[tuple[str, int]], late: list[tuple[str, int]], gap: int, early_name: str
) -> tuple[str, str]:
    """Verdict code and clause comparing settling steps of early and fully connected layers."""
    e = [a for _, a in early]
    f = [a for _, a in late]
    e_mean, f_mean = float(np.mean(e)), float(np.mean(f))
    nums = f"mean {e_mean:.0f} vs {f_mean:.0f} iterations"
    if max(e) + gap <= min(f) and max(e) < min(f):
        return "faster", (
            f"every {early_name} layer settles before every fully connected layer ({nums}): "
            "the early layers converge faster"
        )
    if f_mean + gap <= e_mean and f_mean < e_mean:
        return "slower", (
            f"the {early_name} layers settle later on average ({nums}): here the early layers "
            "do not converge faster"
        )
    if e_mean + gap <= f_mean and e_mean < f_mean:
        return "somewhat_faster", (
            f"the {early_name} layers settle earlier on average ({nums}) but not every one before "
            "every fully connected layer: the early layers converge somewhat faster"
        )
    within = f", within one record interval of {gap}" if gap else ""
    return "same", (
        f"{early_name} and fully connected layers settle at about the same time ({nums}{within}): "
        "no difference in convergence speed is visible"
    )


def convergence_sentence(table: list[dict[str, Any]], cadence: int | None = None) -> str:
    """Sentences comparing when convolutional (or recurrent) and fully connected layers settle.

    Built only from ``table`` (:func:`convergence_table`). First the layers as a whole (the
    latest of their statistics), then each statistic on its own, leaving out statistics that
    never change (e.g. the logits' zero fraction). ``cadence`` (steps between records) sets what
    difference counts as real: less than one record apart is "about the same time". Settling
    after :data:`LATE_FRACTION` of training counts as still changing. Logits count as fully
    connected.
    """
    if not table:
        raise ConvscopeError("convergence: empty table")
    gap = cadence if cadence and cadence > 0 else 0
    last = max(int(r.get("last_step", 0) or 0) for r in table)
    early_kinds, late_kinds = ("conv", "recurrent"), ("linear", "logits")
    early = [r for r in table if r["kind"] in early_kinds]
    fc = [r for r in table if r["kind"] in late_kinds]
    early_name = "convolutional" if early and all(r["kind"] == "conv" for r in early) else "early"
    parts = ", ".join(f"{r['layer']} at {r['settled_at']}" for r in table)
    out = (
        "All activation statistics of a layer (mean, std, zero fraction) stay within 5% of their "
        f"final values from iteration: {parts}"
    )
    unsettled = [r["layer"] for r in table if last and r["settled_at"] >= last]
    if last and all(r["settled_at"] >= LATE_FRACTION * last for r in table):
        out += (
            f"; no layer settles before the last {100 * (1 - LATE_FRACTION):.0f}% of training, "
            "so training ended before the layers' statistics converged"
        )
    else:
        if unsettled:
            out += f" ({', '.join(unsettled)} still changing at the last record)"
        if early and fc:
            out += (
                "; "
                + compare_settling(
                    [(r["layer"], r["settled_at"]) for r in early],
                    [(r["layer"], r["settled_at"]) for r in fc],
                    gap,
                    early_name,
                )[1]
            )
    out += "."
    stats = [k for k in STATS if all(isinstance(r.get(k), dict) for r in table)]
    clauses = []
    for stat in stats:
        moving = [r for r in table if not r[stat].get("constant", False)]
        constant = [r["layer"] for r in table if r[stat].get("constant", False)]
        if not moving:
            continue
        nums = ", ".join(f"{r['layer']} {r[stat]['settled_at']}" for r in moving)
        if constant:
            nums += f"; constant in {', '.join(constant)}"
        name = stat.replace("_", " ")
        if last and all(r[stat]["settled_at"] >= LATE_FRACTION * last for r in moving):
            clauses.append(
                f"{name} ({nums}) keeps changing in every layer until the last "
                f"{100 * (1 - LATE_FRACTION):.0f}% of training"
            )
            continue
        e = [(r["layer"], r[stat]["settled_at"]) for r in moving if r["kind"] in early_kinds]
        f = [(r["layer"], r[stat]["settled_at"]) for r in moving if r["kind"] in late_kinds]
        if e and f:
            clauses.append(f"{name} ({nums}): " + compare_settling(e, f, gap, early_name)[1])
        else:
            clauses.append(f"{name} ({nums})")
    if clauses:
        out += " By statistic: " + "; ".join(clauses) + "."
    return out
