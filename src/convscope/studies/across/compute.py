"""Inside the network, across a sweep: what each configuration of a group does to the units.

Pure per-run measures (arrays and state dicts in, numbers out). The ``across`` study
(:mod:`convscope.studies.across`, files in :mod:`convscope.studies.across.files`) feeds them what
training already wrote -- the activation statistics (``activations.jsonl``) and the model
snapshots (``checkpoints/step_*.pt``); no retraining and no data loading:

- **dead units** per layer: units whose maximum over the fixed measurement images is <= 0
  (:func:`convscope.studies.activations.compute.unit_max`), at every record and at the last one, and
  the first record by which half of the final dead units are dead;
- **Gabor fit** of the first convolution, trained against the same run's initialisation
  (:func:`convscope.analysis.gabor.compare_gabor`, paired by filter);
- **settle step** per layer and statistic (:func:`convscope.analysis.convergence.convergence_table`);
- **weight change** from initialisation per layer, ``||W_t - W_0|| / ||W_0||`` over all of a
  module's parameters, at every snapshot.

Across configurations (the runs of a group that share a label are one configuration, its runs
the seeds) every quantity gets mean ± sample std over seeds, Welch t-tests against a reference
configuration with Holm correction (:mod:`convscope.analysis.significance`), tables and
sentences built from those numbers (:mod:`convscope.studies.across.summary`).
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convscope.analysis.gabor import compare_gabor, fit_filters, summarize_r2
from convscope.errors import ConvscopeError

log = logging.getLogger(__name__)

CHOICES: dict[str, str] = {
    "dead": "a unit (feature map for conv layers) whose maximum is <= 0 over every image and "
    "position; at the end of training over the whole test split under the final checkpoint "
    "(the activations analysis's count, so a layer has one dead share in a report); over "
    "training over the run's fixed measurement images (train.activation_stats_size test "
    "images), read from the activation records written during training; logits are left out",
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
    (same seed, same architecture) fit it once; fits made elsewhere (e.g. a run's ``filters``
    analysis) can be added with :meth:`add`."""

    def __init__(self) -> None:
        self._r2: dict[str, np.ndarray] = {}
        self.fits = 0

    def add(self, weights: np.ndarray, r2: np.ndarray) -> None:
        self._r2[_digest(weights)] = np.asarray(r2, dtype=np.float64)

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
