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
            :func:`convscope.analysis.activations.rows_to_arrays` writes them.
        layers: layer names in network order.
        kinds: layer name -> ``"conv"``, ``"linear"``, ``"recurrent"``, ``"logits"``.

    Returns:
        Rows ``{"layer", "kind", "settled_at", "settled_fraction", "last_step", "<stat>":
        {"final", "tol", "settled_at"}}``; ``settled_fraction`` is ``settled_at`` over the last
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
            row[stat] = {"final": float(arrays[key][-1]), "tol": tol, "settled_at": at}
            worst = max(worst, at)
        row["settled_at"] = worst
        row["settled_fraction"] = worst / last if last > 0 else 0.0
        row["last_step"] = last
        rows.append(row)
    return rows


def convergence_sentence(table: list[dict[str, Any]], cadence: int | None = None) -> str:
    """A sentence comparing when convolutional and fully connected layers settle.

    Built only from ``table`` (:func:`convergence_table`); ``cadence`` (steps between records)
    sets what difference counts as real: less than one record apart is "indistinguishable".
    Logits count as fully connected.
    """
    if not table:
        raise ConvscopeError("convergence: empty table")
    parts = ", ".join(f"{r['layer']} at {r['settled_at']}" for r in table)
    early = [r for r in table if r["kind"] in ("conv", "recurrent")]
    late = [r for r in table if r["kind"] in ("linear", "logits")]
    head = f"Activation statistics (mean, std, zero fraction) stay within 5% of their final values from iteration: {parts}"
    unsettled = [
        r["layer"] for r in table if r.get("last_step") and r["settled_at"] >= r["last_step"]
    ]
    if unsettled and len(unsettled) == len(table):
        return (
            head
            + "; no layer settles before the last record, so training ended before the statistics converged."
        )
    if unsettled:
        head += f" ({', '.join(unsettled)} still changing at the last record)"
    if not early or not late:
        return head + "."
    e_max = max(r["settled_at"] for r in early)
    e_mean = float(np.mean([r["settled_at"] for r in early]))
    l_min = min(r["settled_at"] for r in late)
    l_mean = float(np.mean([r["settled_at"] for r in late]))
    gap = cadence if cadence and cadence > 0 else 0
    early_name = "convolutional" if all(r["kind"] == "conv" for r in early) else "early"
    if e_max + gap <= l_min and e_max < l_min:
        verdict = (
            f"every {early_name} layer settles before every fully connected layer "
            f"(mean {e_mean:.0f} vs {l_mean:.0f} iterations): the early layers converge faster"
        )
    elif l_mean + gap <= e_mean and l_mean < e_mean:
        verdict = (
            f"the {early_name} layers settle later on average ({e_mean:.0f} vs {l_mean:.0f} "
            "iterations): here the early layers do not converge faster"
        )
    elif e_mean + gap <= l_mean and e_mean < l_mean:
        verdict = (
            f"the {early_name} layers settle earlier on average ({e_mean:.0f} vs {l_mean:.0f} "
            "iterations) but not every one before every fully connected layer: the early layers "
            "converge somewhat faster"
        )
    else:
        verdict = (
            f"{early_name} and fully connected layers settle at about the same time ({e_mean:.0f} "
            f"vs {l_mean:.0f} iterations"
            + (f", within one record interval of {gap}" if gap else "")
            + "): no difference in convergence speed is visible"
        )
    return f"{head}; {verdict}."
