"""Statistics of one layer's activations (:func:`layer_stats`) and what they mean
(:data:`STAT_CHOICES`); :mod:`convscope.studies.activations.compute` measures them over a run
and re-exports every name here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from convscope.analysis.hook_points import DEAD_RULES
from convscope.analysis.zf.topk import pools_whole_maps
from convscope.errors import ConvscopeError

PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
N_BINS = 30
BATCH_SEED = 0
SCALAR_STATS = ("mean", "std", "zero_fraction")

STAT_CHOICES: dict[str, Any] = {
    "mode": "model.eval() during the measurement (dropout off), torch.no_grad()",
    "std": "population std (ddof=0) over all values of the layer",
    "zero_fraction": "share of values exactly equal to 0.0",
    "percentiles": f"{list(PERCENTILES)}, linear interpolation (numpy's default), exact",
    "histogram": f"{N_BINS} equal bins over the record's own min..max, numpy.histogram's rule "
    "(half-open bins, last one closed; min == max: edges min-0.5..max+0.5)",
    "nonfinite": "NaN/inf values are left out and their share recorded as nonfinite_fraction",
    "unit_max": "per feature map (conv: max over images and positions), per neuron (linear), "
    "per hidden unit (recurrent: max over images and time steps)",
    "batch": f"first N of a permutation of the test split, torch.Generator seeded {BATCH_SEED}, "
    "sorted; the same images for every run on the same data",
    "hook_rule": "read from the traced layer graph: after each conv/linear, the first "
    "elementwise nonlinearity that follows it through normalisation, scaling, dropout and "
    "residual adds (ReLU, GELU, SiLU, Tanh, ..., module or function), else the layer output; "
    "the model output = Logits",
    "dead": DEAD_RULES,
}


def unit_max(a: torch.Tensor) -> torch.Tensor:
    """Per-unit maximum over every axis but the second: ``(B, U, ...)`` -> ``(U,)``."""
    if a.dim() == 1:
        return a.amax().reshape(1)
    if pools_whole_maps(a):
        return F.max_pool2d(a, kernel_size=tuple(a.shape[2:])).amax(dim=(0, 2, 3))
    dims = [d for d in range(a.dim()) if d != 1]
    return a.amax(dim=dims)


def _flat(a: torch.Tensor) -> torch.Tensor:
    """All values of ``a`` as a 1-D tensor, without a copy for contiguous/channels-last ones."""
    if a.is_contiguous():
        return a.view(-1)
    if a.dim() == 4 and a.is_contiguous(memory_format=torch.channels_last):
        return a.permute(0, 2, 3, 1).reshape(-1)
    return a.reshape(-1)


def _units(a: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "recurrent":
        return a.amax(dim=(0, 1))
    return unit_max(a)


def layer_stats(a: torch.Tensor, kind: str, bins: int = N_BINS) -> dict[str, Any]:
    """Statistics of one layer's activations.

    Args:
        a: ``(B, ...)`` activations; ``(B, T, H)`` when ``kind == "recurrent"``.
        kind: ``"conv"``, ``"linear"``, ``"recurrent"`` or ``"logits"``.

    Returns:
        JSON-ready dict: ``mean``, ``std``, ``zero_fraction``, ``min``, ``max`` (floats),
        ``percentiles`` (list, :data:`PERCENTILES`), ``hist_edges`` (``bins + 1``),
        ``hist_counts`` (``bins``), ``unit_max`` (one per unit); recurrent layers add
        ``step_mean``, ``step_std``, ``step_zero_fraction`` (one per time step).
    """
    if a.numel() == 0:
        raise ConvscopeError("activation statistics: empty activation tensor")
    a = a.detach().float()
    # one sort gives min, max, percentiles, the histogram and the zeros exactly (numpy's SIMD
    # sort is several times faster than numpy.percentile's partition on millions of values)
    s = np.sort(_flat(a).cpu().numpy())
    n_all = s.size
    if not np.isfinite(s[0]) or not np.isfinite(s[-1]):
        s = s[np.isfinite(s)]
    n = s.size
    if n == 0:
        raise ConvscopeError("activation statistics: all activations are NaN or infinite")
    # pairwise float32 sums (numpy), exact to ~1e-7 relative; population std (ddof 0)
    mean = float(np.sum(s)) / n
    d = s - np.float32(mean)
    d *= d
    std = math.sqrt(float(np.sum(d)) / n)
    del d
    lo, hi = float(s[0]), float(s[-1])
    # numpy.histogram's rule: edges in the data's dtype, bins [e_i, e_i+1), the last one closed.
    # Edges of the same dtype also keep searchsorted from casting (copying) the whole array.
    first, last = (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)
    edges = np.linspace(first, last, bins + 1, dtype=s.dtype)
    cuts = np.concatenate([[0], np.searchsorted(s, edges[1:-1], side="left"), [n]])
    pos = (n - 1) * np.asarray(PERCENTILES, dtype=np.float64) / 100.0
    below = np.floor(pos).astype(np.int64)
    above = np.minimum(below + 1, n - 1)
    frac = pos - below
    v0, v1 = s[below].astype(np.float64), s[above].astype(np.float64)
    zero = s.dtype.type(0)
    zeros = int(np.searchsorted(s, zero, side="right") - np.searchsorted(s, zero, side="left"))
    out: dict[str, Any] = {
        "mean": mean,
        "std": std,
        "zero_fraction": zeros / n,
        "min": lo,
        "max": hi,
        "percentiles": (v0 + frac * (v1 - v0)).tolist(),
        "hist_edges": edges.tolist(),
        "hist_counts": np.diff(cuts).tolist(),
        "unit_max": _units(a, kind).cpu().tolist(),
    }
    if n != n_all:
        out["nonfinite_fraction"] = (n_all - n) / n_all
    if kind == "recurrent":
        if a.dim() != 3:
            raise ConvscopeError(
                f"activation statistics: recurrent output must be (B, T, H), got {tuple(a.shape)}"
            )
        step_std, step_mean = torch.std_mean(a, dim=(0, 2), correction=0)
        out["step_mean"] = step_mean.cpu().tolist()
        out["step_std"] = step_std.cpu().tolist()
        out["step_zero_fraction"] = (a == 0).double().mean(dim=(0, 2)).cpu().tolist()
    return out
