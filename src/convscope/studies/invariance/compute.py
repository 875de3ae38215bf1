"""Invariance to translation, scaling and rotation (Zeiler & Fergus 2014, §4, "Feature
Invariance", Fig. 5).

Each image is transformed (vertical translation, scaling, rotation) with ``affine_grid`` /
``grid_sample`` (bilinear, ``align_corners=False``); for each transformation we record the
Euclidean distance between the feature vectors of the original and the transformed image at a
low and a high layer, and the probability of the true class.

Recorded choices:

* translation ``t`` px moves the content *down* for ``t > 0``; scaling ``s > 1`` magnifies
  about the centre; rotation ``a > 0`` degrees turns the content counter-clockwise as displayed
  (so 90 equals ``torch.rot90``); pixels that come from outside the image get ``fill`` (in
  model-input space; the runner uses the data set mean, see
  :func:`~convscope.analysis.zf.occlusion.mean_fill`).
* distances are reported raw and divided by the norm of the original image's feature vector
  (``rel_*``), which makes the low and high layers comparable; the summary's observation uses
  the normalised ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from convscope.analysis.zf._common import Transform, chain_on, check_images, to_input
from convscope.analysis.zf.graph import Chain
from convscope.errors import ConvscopeError

KINDS = ("translate_y", "scale", "rotate")
DEFAULT_PARAMS: dict[str, list[float]] = {
    "translate_y": [float(t) for t in range(-8, 9)],  # px, for 28x28 inputs
    "scale": [round(0.6 + 0.1 * i, 2) for i in range(11)],  # 0.6 .. 1.6
    "rotate": [float(a) for a in range(-90, 91, 10)],  # degrees
}
IDENTITY = {"translate_y": 0.0, "scale": 1.0, "rotate": 0.0}


def affine_theta(kind: str, value: float, hw: tuple[int, int]) -> torch.Tensor:
    """``(2, 3)`` matrix for ``affine_grid``: output coords -> input coords (normalised)."""
    h, w = hw
    if kind == "translate_y":
        return torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, -2.0 * value / h]], dtype=torch.float64)
    if kind == "scale":
        if value <= 0:
            raise ConvscopeError(f"scale: expected a positive factor, got {value}")
        return torch.tensor([[1.0 / value, 0.0, 0.0], [0.0, 1.0 / value, 0.0]], dtype=torch.float64)
    if kind == "rotate":
        a = math.radians(value)
        c, s = math.cos(a), math.sin(a)
        return torch.tensor([[c, -s * h / w, 0.0], [s * w / h, c, 0.0]], dtype=torch.float64)
    raise ConvscopeError(f"transformation {kind!r}: expected one of {', '.join(KINDS)}")


def transform_images(
    x: torch.Tensor, kind: str, value: float, fill: float | Sequence[float] = 0.0
) -> torch.Tensor:
    """Apply one transformation to ``x`` ``(N, C, H, W)`` float; returns the same shape."""
    n, c, h, w = x.shape
    theta = affine_theta(kind, value, (h, w)).to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta.expand(n, 2, 3), [n, c, h, w], align_corners=False)
    f = torch.as_tensor(fill, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
    return (
        F.grid_sample(x - f, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + f
    )


@dataclass
class Invariance:
    """Curves for ``N`` images. Per kind in ``params``: ``(P,)`` values; per array name in
    ``curves[kind]``: ``(N, P)`` (``dist_low``, ``dist_high``, ``rel_low``, ``rel_high``,
    ``prob_true``)."""

    low_layer: str
    high_layer: str
    labels: torch.Tensor
    params: dict[str, torch.Tensor]
    curves: dict[str, dict[str, torch.Tensor]]
    fill: list[float]
    choices: dict[str, Any] = field(default_factory=dict)

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        out = {prefix + "labels": self.labels.numpy()}
        for kind, p in self.params.items():
            out[f"{prefix}{kind}_params"] = p.numpy()
            for name, v in self.curves[kind].items():
                out[f"{prefix}{kind}_{name}"] = v.numpy()
        return out


def _checked_values(kind: str, values: Sequence[float]) -> list[float]:
    """A transformation's parameter values as floats: a known kind, at least one value."""
    if kind not in KINDS:
        raise ConvscopeError(f"transformation {kind!r}: expected one of {', '.join(KINDS)}")
    vals = [float(v) for v in values]
    if not vals:
        raise ConvscopeError(f"transformation {kind!r}: expected at least one value")
    return vals


def _kind_curves(
    transformed: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    original: tuple[torch.Tensor, torch.Tensor],
    lab: torch.Tensor,
    p_count: int,
) -> dict[str, torch.Tensor]:
    """Distances to the original's features and p(true class), each ``(N, P)``, on the CPU.

    ``transformed``: (low features, high features, probabilities) of the ``P * N`` transformed
    images, parameter-major; ``original``: (low, high) features of the ``N`` originals.
    """
    t_lo, t_hi, p = transformed
    f_lo, f_hi = original
    n = f_lo.shape[0]
    d_lo = (t_lo.view(p_count, n, -1) - f_lo).norm(dim=2).T  # (N, P)
    d_hi = (t_hi.view(p_count, n, -1) - f_hi).norm(dim=2).T
    prob = p.view(p_count, n, -1)[:, torch.arange(n, device=lab.device), lab].T
    return {
        "dist_low": d_lo.cpu(),
        "dist_high": d_hi.cpu(),
        "rel_low": (d_lo / f_lo.norm(dim=1, keepdim=True).clamp_min(1e-12)).cpu(),
        "rel_high": (d_hi / f_hi.norm(dim=1, keepdim=True).clamp_min(1e-12)).cpu(),
        "prob_true": prob.cpu(),
    }


def _curve_choices(fill_list: list[float], low: str, high: str) -> dict[str, Any]:
    return {
        "source": "Zeiler & Fergus 2014 (arXiv 1311.2901) section 4 (Feature Invariance), Fig. 5",
        "resampling": "affine_grid + grid_sample, bilinear, align_corners=False",
        "fill": fill_list,
        "fill_space": "model input (after normalisation)",
        "translate_y": "pixels; positive moves the content down",
        "scale": "factor about the centre; > 1 magnifies",
        "rotate": "degrees about the centre; positive is counter-clockwise as displayed",
        "distance": "Euclidean between flattened feature vectors of original and "
        "transformed image; rel_* divides by the original's feature-vector norm",
        "low_layer": low,
        "high_layer": high,
    }


@torch.no_grad()
def invariance_curves(
    model: nn.Module | Chain,
    images: torch.Tensor,
    labels: Sequence[int] | torch.Tensor,
    *,
    low_layer: str | int | None = None,
    high_layer: str | int | None = None,
    params: dict[str, Sequence[float]] | None = None,
    fill: float | Sequence[float] = 0.0,
    transform: Transform | None = None,
    block_output: bool = True,
    device: str | torch.device | None = None,
) -> Invariance:
    """Feature distance and true-class probability under transformations (Fig. 5).

    Args:
        model: the CNN or its :class:`Chain`.
        images: ``(N, C, H, W)`` uint8 with ``transform``, or float model inputs.
        labels: ``(N,)`` true classes.
        low_layer: default the first conv block's output (e.g. LeNet5 ``relu1``).
        high_layer: default the feature vector feeding the last Linear (LeNet5 ``relu3``).
        params: per kind (``translate_y`` px, ``scale`` factor, ``rotate`` degrees) the values;
            default :data:`DEFAULT_PARAMS`.
        fill: value for pixels from outside the image, in model-input space.
    """
    chain = chain_on(model, device)
    check_images(images)
    lo = chain.default_layers()[0] if low_layer is None else chain.resolve(low_layer, block_output)
    hi = chain.penultimate() if high_layer is None else chain.resolve(high_layer, block_output)
    params = DEFAULT_PARAMS if params is None else params
    labels_t = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    n, c = images.shape[:2]
    if labels_t.shape[0] != n:
        raise ConvscopeError(f"labels: expected {n} labels, got {labels_t.shape[0]}")
    fill_list = [float(fill)] * c if isinstance(fill, (int, float)) else [float(v) for v in fill]
    x0 = to_input(images, chain, transform)

    def features(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        acts, logits = chain.run(x, taps=[lo, hi])
        assert logits is not None
        p = torch.softmax(logits.double(), dim=1)
        return acts[lo].flatten(1).double(), acts[hi].flatten(1).double(), p

    f_lo, f_hi, _ = features(x0)
    lab = labels_t.to(x0.device)
    out_params, curves = {}, {}
    for kind, values in params.items():
        vals = _checked_values(kind, values)
        xt = torch.cat([transform_images(x0, kind, v, fill_list) for v in vals])  # (P*N, ...)
        curves[kind] = _kind_curves(features(xt), (f_lo, f_hi), lab, len(vals))
        out_params[kind] = torch.tensor(vals, dtype=torch.float64)
    return Invariance(
        low_layer=chain.layers[lo].name,
        high_layer=chain.layers[hi].name,
        labels=labels_t,
        params=out_params,
        curves=curves,
        fill=fill_list,
        choices=_curve_choices(fill_list, chain.layers[lo].name, chain.layers[hi].name),
    )


def _fmt_param(kind: str, values: torch.Tensor) -> str:
    unit = {"translate_y": " px", "rotate": " deg"}.get(kind, "")
    return "/".join(f"{float(v):g}" for v in values) + unit


def invariance_summary(inv: Invariance, said: Callable[[str], str] = str) -> dict[str, Any]:
    """Normalised (and raw) distances per kind and layer, plus a one-sentence observation.

    Per kind: the mean over images at the smallest transformation on either side of the
    identity (``small``), at the largest (``large``), and over all non-identity values
    (``mean``). The observation reads the paper's claim (§4, Fig. 5: small transformations
    change the first layer a lot and the top layer less) from the ``small`` normalised
    distances.
    """
    per_kind: dict[str, dict[str, Any]] = {}
    more_invariant = []
    for kind, cur in inv.curves.items():
        p = inv.params[kind]
        gap = (p - IDENTITY[kind]).abs().round(decimals=6)  # 0.9 and 1.1 are equally far
        keep = gap > 0
        if not bool(keep.any()):
            keep = torch.ones_like(keep)
        small = keep & (gap == gap[keep].min())
        large = keep & (gap == gap[keep].max())
        row: dict[str, Any] = {
            "small_params": p[small].tolist(),
            "large_params": p[large].tolist(),
        }
        for where, mask in (("small", small), ("large", large), ("mean", keep)):
            for name, v in cur.items():
                row[f"{where}_{name}"] = float(v[:, mask].mean())
        per_kind[kind] = row
        more_invariant.append(row["small_rel_high"] < row["small_rel_low"])
    count = sum(more_invariant)
    parts = ", ".join(
        f"{k} {_fmt_param(k, torch.tensor(v['small_params']))}: "
        f"{v['small_rel_low']:.2f} vs {v['small_rel_high']:.2f}"
        for k, v in per_kind.items()
    )
    verdict = (
        "small transformations move the high layer less than the low one for every "
        "transformation, as in the paper"
        if count == len(more_invariant)
        else "small transformations move the high layer less than the low one only for "
        + ", ".join(k for k, m in zip(inv.curves, more_invariant) if m)
        if count
        else "small transformations move the high layer more than the low one"
    )
    sentence = (
        f"Normalised feature distance after the smallest transformation, low layer "
        f"({said(inv.low_layer)}) vs high layer ({said(inv.high_layer)}): {parts}; {verdict}."
    )
    large = ", ".join(
        f"{k} {_fmt_param(k, torch.tensor(v['large_params']))}: "
        f"{v['large_rel_low']:.2f} vs {v['large_rel_high']:.2f}"
        for k, v in per_kind.items()
    )
    prob = ", ".join(
        f"{k} {v['small_prob_true']:.2f} -> {v['large_prob_true']:.2f}" for k, v in per_kind.items()
    )
    return {
        "low_layer": inv.low_layer,
        "high_layer": inv.high_layer,
        "images": int(inv.labels.shape[0]),
        "params": {k: v.tolist() for k, v in inv.params.items()},
        "observations": [
            f"At the largest transformations, low vs high layer: {large}.",
            f"Mean true-class probability, smallest -> largest transformation: {prob}.",
        ],
        "per_transformation": per_kind,
        "high_more_invariant_to_small_transformations": dict(zip(inv.curves, more_invariant)),
        "observation": sentence,
        "observation_uses": "small_rel_low / small_rel_high: mean over images of distance / "
        "original feature norm at the smallest non-identity transformation on each side",
        "choices": inv.choices,
    }
