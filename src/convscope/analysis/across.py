"""Inside the network, across a sweep: what each configuration of a group does to the units.

Per run (every seed), from what training already wrote -- the activation statistics
(``activations.jsonl``) and the model snapshots (``checkpoints/step_*.pt``), no retraining and
no data loading:

- **dead units** per layer: units whose maximum over the fixed measurement images is <= 0
  (:func:`convscope.analysis.activations.unit_max`), at every record and at the last one, and
  the first record by which half of the final dead units are dead;
- **Gabor fit** of the first convolution, trained against the same run's initialisation
  (:func:`convscope.analysis.gabor.compare_gabor`, paired by filter);
- **settle step** per layer and statistic (:func:`convscope.analysis.convergence.convergence_table`);
- **weight change** from initialisation per layer, ``||W_t - W_0|| / ||W_0||`` over all of a
  module's parameters, at every snapshot.

Across configurations (the runs of a group that share a label are one configuration, its runs
the seeds) every quantity gets mean ± sample std over seeds, Welch t-tests against a reference
configuration with Holm correction (:mod:`convscope.analysis.significance`), tables, and
sentences built from those numbers. :mod:`convscope.analysis.across_report` turns the numbers
into tables, sentences and files.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from convscope import io
from convscope.analysis import activations as act
from convscope.analysis.convergence import STATS, convergence_table
from convscope.analysis.gabor import compare_gabor, fit_filters, summarize_r2
from convscope.errors import ConvscopeError
from convscope.runs import RunDir

log = logging.getLogger(__name__)

CHOICES: dict[str, str] = {
    "dead": "a unit (feature map for conv layers) whose maximum over the run's fixed "
    "measurement images (train.activation_stats_size test images) is <= 0, read from the "
    "activation records written during training; logits are left out",
    "dead_half_step": "first record at which at least half of the final number of dead units "
    "is dead",
    "gabor": "first-layer filters of the last snapshot and of step 0 (the same run's "
    "initialisation), least-squares 2-D Gabor fit per filter (analysis/gabor.py); median R^2 "
    "and paired one-sided Wilcoxon test per run",
    "settle": "per layer and statistic (mean, std, zero fraction) of the activation records: "
    "first record after which every later value stays within tolerance of the final one "
    "(analysis/convergence.py); the layer's step is the latest of its statistics",
    "weight_change": "||W_t - W_0|| / ||W_0|| over all parameters of a module (weight and "
    "bias), at every snapshot; W_0 = the step-0 snapshot",
    "first_conv": "the first 4-D '<module>.weight' tensor in the state dict (module "
    "registration order)",
}


@dataclass(frozen=True)
class RunRef:
    """One run of a group: its configuration label, seed and directory."""

    label: str
    seed: int | None
    path: Path


# --- pure compute ---------------------------------------------------------------------------
def dead_over_training(unit_max: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dead units at each record from per-unit maxima.

    Args:
        unit_max: ``(S, U)`` maximum of each unit at each of ``S`` records.

    Returns:
        ``n_dead (S,)`` (units with maximum <= 0) and ``fraction (S,)`` (over ``U``).
    """
    m = np.asarray(unit_max, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] == 0:
        raise ConvscopeError(f"dead units: expected unit maxima (S, U), got shape {m.shape}")
    n = (m <= 0).sum(axis=1).astype(np.int64)
    return n, n / m.shape[1]


def half_dead_step(steps: np.ndarray, n_dead: np.ndarray) -> int | None:
    """First step with at least half of the final dead count (None when none die)."""
    n = np.asarray(n_dead)
    if n.size == 0 or n[-1] == 0:
        return None
    i = int(np.nonzero(n >= 0.5 * n[-1])[0][0])
    return int(np.asarray(steps)[i])


def module_of(key: str) -> str:
    """``"features.conv1.weight"`` -> ``"features.conv1"`` (a top-level parameter: itself)."""
    return key.rsplit(".", 1)[0] if "." in key else key


def relative_change(init: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, float]:
    """``||W - W_0|| / ||W_0||`` per module, over all its floating-point parameters.

    Args:
        init, other: state dicts (name -> array) with the same keys and shapes.

    Returns:
        module -> relative L2 change, in state-dict order; NaN where a value is not finite or
        ``||W_0|| = 0``.
    """
    num: dict[str, float] = {}
    den: dict[str, float] = {}
    for key, w0 in init.items():
        a0 = np.asarray(w0, dtype=np.float64)
        if key not in other:
            raise ConvscopeError(f"weight change: parameter {key!r} missing from a snapshot")
        a = np.asarray(other[key], dtype=np.float64)
        if a.shape != a0.shape:
            raise ConvscopeError(
                f"weight change: parameter {key!r} has shape {a.shape}, expected {a0.shape}"
            )
        m = module_of(key)
        num[m] = num.get(m, 0.0) + float(np.sum((a - a0) ** 2))
        den[m] = den.get(m, 0.0) + float(np.sum(a0**2))
    out = {}
    for m in num:
        ok = math.isfinite(num[m]) and math.isfinite(den[m]) and den[m] > 0
        out[m] = math.sqrt(num[m] / den[m]) if ok else math.nan
    return out


def first_conv_key(state: dict[str, np.ndarray]) -> str | None:
    """The first 4-D ``*.weight`` of a state dict (a Conv2d's, in registration order)."""
    for key, w in state.items():
        if key.endswith(".weight") and np.asarray(w).ndim == 4:
            return key
    return None


def _digest(w: np.ndarray) -> str:
    a = np.ascontiguousarray(w, dtype=np.float64)
    return hashlib.sha1(repr(a.shape).encode() + a.tobytes()).hexdigest()


class GaborCache:
    """R^2 of Gabor fits keyed by the filters' exact values: runs that share an initialisation
    (same seed, same architecture) fit it once, and a run's ``analysis/filters.npz`` (written
    by the ``filters`` analysis) is reused instead of fitting again."""

    def __init__(self) -> None:
        self._r2: dict[str, np.ndarray] = {}
        self.fits = 0

    def add(self, weights: np.ndarray, r2: np.ndarray) -> None:
        self._r2[_digest(weights)] = np.asarray(r2, dtype=np.float64)

    def add_filters_npz(self, path: Path) -> None:
        if not path.is_file():
            return
        try:
            z = io.read_npz(path)
            for w, r in (
                ("weights_trained", "gabor_r2_trained"),
                ("weights_init", "gabor_r2_init"),
            ):
                if w in z and r in z:
                    self.add(z[w], z[r])
        except Exception as e:  # a foreign or torn file is only a missed shortcut
            log.warning("%s: not reused (%s)", path, e)

    def r2(self, weights: np.ndarray) -> np.ndarray:
        key = _digest(weights)
        if key not in self._r2:
            fits, _ = fit_filters(weights, "principal")
            self._r2[key] = fits.r2
            self.fits += 1
        return self._r2[key]


def gabor_summary(
    trained: np.ndarray, init: np.ndarray, cache: GaborCache | None = None
) -> dict[str, Any]:
    """Median Gabor R^2 of trained and initial first-layer filters ``(F, C, kh, kw)``, their
    gain and the paired test of :func:`convscope.analysis.gabor.compare_gabor`."""
    cache = cache or GaborCache()
    st, si = summarize_r2(cache.r2(trained)), summarize_r2(cache.r2(init))
    c = compare_gabor(st, si, paired=True)
    return {
        "n_filters": int(st["n"]),
        "median_r2_trained": st["median_r2"],
        "median_r2_init": si["median_r2"],
        "median_r2_gain": st["median_r2"] - si["median_r2"],
        "share_above_0.5_trained": st["share_above_0.5"],
        "share_above_0.5_init": si["share_above_0.5"],
        "test": c["test"],
        "p": c["p"],
        "more_gabor_like": bool(c["better"]),
    }


# --- one run directory ----------------------------------------------------------------------
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
    seed = rd.config().train.seed
    with torch.random.fork_rng(devices=[]):  # as the loop builds it; global RNG restored
        torch.manual_seed(seed)
        model = rd.build_model()
    sd = model.state_dict()
    source = f"rebuilt from the config with torch.manual_seed({seed})"
    return {k: v.detach().double().numpy() for k, v in sd.items() if v.is_floating_point()}, source


def _activation_rows(rd: RunDir) -> tuple[list[dict[str, Any]], str]:
    rows = rd.records(act.STREAM) if rd.stream_path(act.STREAM).is_file() else []
    if rows:
        return rows, f"{act.STREAM}.jsonl"
    rows = act.activation_rows_over_checkpoints(rd.path)
    return rows, "recomputed from the snapshots (the run recorded no activation statistics)"


def run_numbers(ref: RunRef, cache: GaborCache | None = None, gabor: bool = True) -> dict[str, Any]:
    """Every per-run quantity of one run directory (see the module docstring); ``gabor=False``
    skips the Gabor fits (the costly part).

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
    out["dead"] = dead
    out["last_step"] = int(steps[-1])
    settle: dict[str, Any] = {}
    if steps.size >= 2:
        finite = [n for n in names if all(np.all(np.isfinite(arrays[f"{n}.{s}"])) for s in STATS)]
        for row in convergence_table(arrays, finite, kinds):
            settle[display[row["layer"]]] = {
                "settled_at": row["settled_at"],
                **{s: row[s]["settled_at"] for s in STATS},
            }
    out["settle"] = settle
    out["cadence"] = int(np.median(np.diff(steps))) if steps.size > 1 else 0

    snaps = rd.checkpoint_steps()
    init, init_source = _initial_state(rd, snaps)
    later = [s for s in snaps if s > 0] or snaps
    change_steps: list[int] = []
    over: dict[str, list[float]] = {}
    last_state = init
    for s in later:
        last_state = _state(rd, s)
        change_steps.append(s)
        for m, v in relative_change(init, last_state).items():
            over.setdefault(m, []).append(v)
    out["weight_change"] = {
        m: {"final": v[-1], "steps": change_steps, "over_training": v} for m, v in over.items()
    }
    out["sources"]["init"] = init_source
    out["sources"]["final_snapshot"] = change_steps[-1] if change_steps else None
    key = first_conv_key(init)
    if not gabor or key is None or key not in last_state:
        out["gabor"] = None
    elif not np.all(np.isfinite(last_state[key])):
        out["gabor"] = {"layer": module_of(key), "error": "non-finite trained weights"}
    else:
        out["gabor"] = {"layer": module_of(key), **gabor_summary(last_state[key], init[key], cache)}
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
        cache.add_filters_npz(r.path / "analysis" / "filters.npz")
    runs, notes = [], []
    for r in refs:
        rd = RunDir(r.path)
        if not rd.exists() or not rd.checkpoint_steps():
            notes.append(f"{r.label} seed {r.seed}: no run directory or snapshots; left out")
            continue
        try:
            runs.append(run_numbers(r, cache, gabor))
        except ConvscopeError as e:
            notes.append(f"{r.label} seed {r.seed}: {e}; left out")
    log.info("across: %d runs, %d Gabor fits", len(runs), cache.fits)
    return runs, notes
