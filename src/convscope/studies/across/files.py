"""The files behind the ``across`` study: per-run numbers read from run directories, figures
and the written result. The numbers themselves come from the pure functions of
:mod:`convscope.studies.across.compute` and :mod:`convscope.studies.across.summary`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import torch

from convscope import io
from convscope.analysis.convergence import STATS, convergence_table
from convscope.analysis.significance import ALPHA
from convscope.errors import ConvscopeError
from convscope.runs import RunDir
from convscope.studies.across.compute import (
    GaborCache,
    RunRef,
    dead_over_training,
    first_conv_key,
    gabor_summary,
    half_dead_step,
    module_of,
    relative_change,
)
from convscope.studies.across.summary import FAMILIES, markdown, summarize
from convscope.studies.activations import compute as act

log = logging.getLogger(__name__)


def reuse_filters_npz(cache: GaborCache, path: Path) -> None:
    """Add the fits of a run's ``analysis/filters.npz`` (the ``filters`` analysis) to ``cache``."""
    if not path.is_file():
        return
    try:
        z = io.read_npz(path)
        for w, r in (("weights_trained", "gabor_r2_trained"), ("weights_init", "gabor_r2_init")):
            if w in z and r in z:
                cache.add(z[w], z[r])
    except Exception as e:  # a foreign or torn file is only a missed shortcut
        log.warning("%s: not reused (%s)", path, e)


def _state(rd: RunDir, step: int) -> dict[str, np.ndarray]:
    ckpt = rd.load_checkpoint(step)
    sd = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(sd, dict):
        raise ConvscopeError(f"{rd.checkpoint_dir}: snapshot of step {step} has no 'model'")
    return {
        k: v.detach().to("cpu").double().numpy()
        for k, v in sd.items()
        if isinstance(v, torch.Tensor) and v.is_floating_point()
    }


def _initial_state(rd: RunDir, steps: list[int]) -> tuple[dict[str, np.ndarray], str]:
    if steps and steps[0] == 0:
        return _state(rd, 0), "snapshot step 0"
    model, source = rd.initial_model()
    sd = model.state_dict()
    return {k: v.detach().double().numpy() for k, v in sd.items() if v.is_floating_point()}, source


def _activation_rows(rd: RunDir) -> tuple[list[dict[str, Any]], str]:
    rows = rd.records(act.STREAM) if rd.stream_path(act.STREAM).is_file() else []
    if rows:
        return rows, f"{act.STREAM}.jsonl"
    rows = act.activation_rows_over_checkpoints(rd.path)
    return rows, "recomputed from the snapshots (the run recorded no activation statistics)"


def _dead_at_end(rd: RunDir, dead: dict[str, Any], data: dict[str, Any] | None) -> str:
    """Replace each layer's end-of-training dead count in ``dead`` (from the fixed batch) by
    the count on the whole test split under the final checkpoint, the definition the
    ``activations`` analysis uses, so that one layer has one dead share in a report; return
    where the counts come from. The fixed-batch count is kept as ``n_dead_fixed_batch``.

    ``data``: a cache of loaded data sets by data config, shared by the runs of a group.
    """
    key = repr(rd.config().data)  # the data config (dataclass repr): same config, same data
    try:
        if data is not None and key in data:
            dataset, normalize = data[key]
        else:
            dataset, normalize = rd.load_data()
            if data is not None:
                data[key] = (dataset, normalize)
        counted = act.dead_units(rd.load_model(None), dataset.test.images, normalize)
    except (ConvscopeError, OSError) as e:  # e.g. the data moved since training
        log.warning("%s: dead units counted on the fixed batch only (%s)", rd.path, e)
        return f"the last fixed-batch record (the test split could not be counted: {e})"
    by_layer = {str(d["layer"]): d for d in counted.values()}
    n = int(dataset.test.images.shape[0])
    kept = []
    for col, d in dead.items():
        t = by_layer.get(col)
        if t is None or not all(math.isfinite(x) for x in t["unit_max"]):
            kept.append(col)  # a layer the forward pass cannot count (non-finite weights)
            continue
        d["n_dead_fixed_batch"], d["fraction_fixed_batch"] = d["n_dead"], d["fraction"]
        d["n_dead"], d["fraction"] = int(t["n_dead"]), float(t["dead_fraction"])
    text = f"final checkpoint, whole test split ({n} images), as the activations analysis counts"
    if kept:
        text += f"; {', '.join(kept)}: the last fixed-batch record (non-finite activations)"
    return text


def _dead_numbers(
    arrays: dict[str, Any], names: list[str], kinds: dict[str, str], display: dict[str, str]
) -> dict[str, Any]:
    """Per layer (not the logits), dead units on the fixed batch over training."""
    steps = arrays["steps"]
    dead: dict[str, Any] = {}
    for n in names:
        if kinds[n] == "logits" or f"{n}.unit_max" not in arrays:
            continue
        um = arrays[f"{n}.unit_max"]
        n_dead, frac = dead_over_training(um.reshape(um.shape[0], -1))
        dead[display[n]] = {
            "n_units": int(um.reshape(um.shape[0], -1).shape[1]),
            "n_dead": int(n_dead[-1]),
            "fraction": float(frac[-1]),
            "half_step": half_dead_step(steps, n_dead),
            "steps": steps.tolist(),
            "fraction_over_training": frac.tolist(),
        }
    return dead


def _settle_numbers(
    arrays: dict[str, Any], names: list[str], kinds: dict[str, str], display: dict[str, str]
) -> dict[str, Any]:
    """Per layer with finite statistics, when it settles (overall and per statistic)."""
    settle: dict[str, Any] = {}
    if arrays["steps"].size >= 2:
        finite = [n for n in names if all(np.all(np.isfinite(arrays[f"{n}.{s}"])) for s in STATS)]
        for row in convergence_table(arrays, finite, kinds):
            settle[display[row["layer"]]] = {
                "settled_at": row["settled_at"],
                **{s: row[s]["settled_at"] for s in STATS},
            }
    return settle


def _weight_change(
    rd: RunDir, init: dict[str, np.ndarray], later: list[int]
) -> tuple[dict[str, Any], list[int], dict[str, np.ndarray]]:
    """Relative change from ``init`` at each snapshot in ``later``; its steps; the last state."""
    change_steps: list[int] = []
    over: dict[str, list[float]] = {}
    last_state = init
    for s in later:
        last_state = _state(rd, s)
        change_steps.append(s)
        for m, v in relative_change(init, last_state).items():
            over.setdefault(m, []).append(v)
    change = {
        m: {"final": v[-1], "steps": change_steps, "over_training": v} for m, v in over.items()
    }
    return change, change_steps, last_state


def _gabor_numbers(
    init: dict[str, np.ndarray], last_state: dict[str, np.ndarray], cache: GaborCache | None
) -> dict[str, Any] | None:
    """The first conv layer's Gabor summary, last snapshot against init; None without one."""
    key = first_conv_key(init)
    if key is None or key not in last_state:
        return None
    if not np.all(np.isfinite(last_state[key])):
        return {"layer": module_of(key), "error": "non-finite trained weights"}
    return {"layer": module_of(key), **gabor_summary(last_state[key], init[key], cache)}


def run_numbers(
    ref: RunRef,
    cache: GaborCache | None = None,
    gabor: bool = True,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every per-run quantity of one run directory (see the module docstring); ``gabor=False``
    skips the Gabor fits (the costly part); ``data`` caches loaded data sets across runs.

    Returns:
        JSON-ready ``{"label", "seed", "run", "status", "last_step", "layers", "dead",
        "settle", "weight_change", "gabor", "sources"}``; per layer, keyed by module name
        (``conv1``, ``fc1``).
    """
    rd = RunDir(ref.path)
    rd.config()  # one clear line if this is not a run directory
    out: dict[str, Any] = {
        "label": ref.label,
        "seed": ref.seed,
        "run": str(ref.path),
        "status": rd.status(),
    }
    rows, source = _activation_rows(rd)
    arrays = act.rows_to_arrays(rows)
    names = list(rows[-1]["layers"])
    points = rows[-1].get("points", {})
    display = {n: points.get(n, {}).get("layer") or n for n in names}
    kinds = {n: points.get(n, {}).get("kind", "") for n in names}
    steps = arrays["steps"]
    out["sources"] = {"activations": source, "n_images": rows[-1].get("n_images")}
    out["layers"] = [display[n] for n in names]
    out["kinds"] = {display[n]: kinds[n] for n in names}
    dead = _dead_numbers(arrays, names, kinds, display)
    out["dead"] = dead
    out["sources"]["dead_at_end"] = _dead_at_end(rd, dead, data)
    out["last_step"] = int(steps[-1])
    out["settle"] = _settle_numbers(arrays, names, kinds, display)
    out["cadence"] = int(np.median(np.diff(steps))) if steps.size > 1 else 0

    snaps = rd.checkpoint_steps()
    init, init_source = _initial_state(rd, snaps)
    later = [s for s in snaps if s > 0] or snaps
    out["weight_change"], change_steps, last_state = _weight_change(rd, init, later)
    out["sources"]["init"] = init_source
    out["sources"]["final_snapshot"] = change_steps[-1] if change_steps else None
    out["gabor"] = _gabor_numbers(init, last_state, cache) if gabor else None
    return out


def group_runs(out_dir: str | Path, group: str) -> list[RunRef]:
    """The runs of ``group`` in an experiment's output (``OUT/experiment.json``), in file order."""
    out = Path(out_dir)
    path = out / "experiment.json"
    if not path.is_file():
        raise ConvscopeError(f"{path}: not found; expected the output of `convscope run`")
    doc = io.read_json(path)
    for g in doc.get("groups", []):
        if g.get("name") == group:
            return [
                RunRef(str(r["label"]), r.get("seed"), out / str(r["dir"]))
                for r in g.get("runs", [])
            ]
    names = ", ".join(str(g.get("name")) for g in doc.get("groups", []))
    raise ConvscopeError(f"{path}: no group {group!r}; groups are {names}")


def collect(refs: Sequence[RunRef], gabor: bool = True) -> tuple[list[dict[str, Any]], list[str]]:
    """:func:`run_numbers` of every finished run (a run without snapshots or records is
    skipped with a note, not an error); returns the numbers and the notes."""
    cache = GaborCache()
    for r in refs:
        reuse_filters_npz(cache, r.path / "analysis" / "filters.npz")
    runs, notes = [], []
    data: dict[str, Any] = {}
    for r in refs:
        rd = RunDir(r.path)
        if not rd.exists() or not rd.checkpoint_steps():
            notes.append(f"{r.label} seed {r.seed}: no run directory or snapshots; left out")
            continue
        try:
            runs.append(run_numbers(r, cache, gabor, data))
        except ConvscopeError as e:
            notes.append(f"{r.label} seed {r.seed}: {e}; left out")
    log.info("across: %d runs, %d Gabor fits", len(runs), cache.fits)
    return runs, notes


FIGURE_UNITS = {
    "percent": "share",
    "steps": "iteration",
    "r2": "median R²",
    "ratio": "||ΔW|| / ||W₀||",
}


def _dead_curves(runs: list[dict[str, Any]], labels: list[str], col: str) -> list[Any]:
    """Per configuration: steps and the mean over seeds of the dead fraction (common steps)."""
    curves = []
    for lab in labels:
        series = [r["dead"][col] for r in runs if r["label"] == lab and col in r.get("dead", {})]
        if not series:
            curves.append((np.zeros(0), np.zeros(0)))
            continue
        common = sorted(set.intersection(*(set(s["steps"]) for s in series)))
        vals = [
            [dict(zip(s["steps"], s["fraction_over_training"], strict=True))[t] for t in common]
            for s in series
        ]
        curves.append((np.asarray(common), np.mean(np.asarray(vals, dtype=float), axis=0)))
    return curves


def figures(summary: dict[str, Any], runs: list[dict[str, Any]]) -> list[tuple[str, Any, str]]:
    """``(name, Figure, caption)``: one seed-dot figure per family and the dead fraction over
    training (mean over seeds)."""
    from convscope.studies.across.figures import plot_over_training, plot_seed_dots

    labels = summary["configurations"]
    single = all(len(v) < 2 for v in (summary.get("seeds") or {}).values())
    out = []
    for fam in FAMILIES:
        q = summary["quantities"].get(fam.name, {})
        if not q:
            continue
        panels = [(col, [q[col][lab]["values"] for lab in labels]) for col in q]
        marked = [
            [
                any(
                    c["label"] == lab and c["significant"]
                    for c in summary["comparisons"][fam.name][col]
                )
                for lab in labels
            ]
            for col in q
        ]
        fig = plot_seed_dots(
            labels,
            panels,
            FIGURE_UNITS[fam.unit],
            percent=fam.unit == "percent",
            marked=marked,
            title=fam.title,
        )
        caption = (
            f"{fam.title}: one dot per configuration (one seed each: single runs, no test)."
            if single
            else f"{fam.title}: one dot per seed, bar at the mean; † differs from "
            f"{summary['reference']} (Welch t, Holm-corrected, p < {summary['alpha']:g})."
        )
        out.append((fam.name, fig, caption))
    dead = summary["quantities"].get("dead_fraction", {})
    if dead:
        panels = [(col, _dead_curves(runs, labels, col)) for col in dead]
        over = "one seed each" if single else "mean over seeds"
        fig = plot_over_training(
            labels, panels, "dead", percent=True, title=f"Dead units over training ({over})"
        )
        n_img = next((r["sources"].get("n_images") for r in runs if r.get("sources")), None)
        imgs = f"the {n_img} fixed test images" if n_img else "the fixed measurement images"
        caption = (
            f"Dead units over training on {imgs} that training records activations on "
            f"({over}); the end-of-training shares in the table count the whole test split."
        )
        out.append(("dead_over_training", fig, caption))
    return out


def write_group(
    refs: Sequence[RunRef],
    out_dir: str | Path,
    reference: str | None = None,
    alpha: float = ALPHA,
    prefix: str = "across",
    gabor: bool = True,
    title: str = "",
) -> dict[str, Any]:
    """Compute, compare and write ``<prefix>.json``, ``<prefix>.md`` and
    ``figures/<prefix>_*.png`` into ``out_dir``; returns the summary (with ``files``)."""
    runs, notes = collect(refs, gabor)
    summary = summarize(runs, reference, alpha)
    summary["notes"] = notes
    summary["title"] = title
    summary["runs"] = runs
    d = Path(out_dir)
    summary["figures"] = {}  # name -> {"path" (relative to out_dir), "caption"}
    from convscope.plots.save import ACROSS_DPI

    for name, fig, caption in figures(summary, runs) if runs else []:
        buf = BytesIO()
        fig.savefig(buf, format="png", dpi=ACROSS_DPI)
        rel = f"figures/{prefix}_{name}.png"
        io.atomic_write_bytes(d / rel, buf.getvalue())
        summary["figures"][name] = {"path": rel, "caption": caption}
    io.write_json(d / f"{prefix}.json", summary)
    io.atomic_write_bytes(d / f"{prefix}.md", markdown(summary).encode())
    summary["files"] = {"json": str(d / f"{prefix}.json"), "markdown": str(d / f"{prefix}.md")}
    return summary
