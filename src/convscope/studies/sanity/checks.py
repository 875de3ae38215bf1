"""The sanity checks themselves: parameter randomisation, model-to-model comparison and
faithfulness; arrays in, arrays out.

* :func:`parameter_randomisation` — Adebayo et al. 2018 (arXiv 1810.03292) §3.1: each
  method's maps on the trained model against its maps on randomised copies (cascading and
  independent, see :mod:`.randomise`), per seed, layer and image;
* :func:`compare_models` — the same similarities between two models (the data-randomisation
  test, §3.2: a twin trained on permuted labels);
* :func:`deletion_insertion` — Petsiuk et al. 2018 (RISE, arXiv 1806.07421) §4.1: the true
  class's probability as pixels are removed from the image (deletion, replaced by the mean
  pixel) or added to the mean-pixel image (insertion) in the map's order, most important
  first; the same for random orders; the area under each curve.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from convscope.analysis.sanity.methods import Method
from convscope.analysis.sanity.randomise import ORDERS, randomisable_layers, randomised
from convscope.analysis.sanity.similarity import MEASURES, Reference, similarities


def maps_of(
    model: nn.Module, methods: Mapping[str, Method], x: torch.Tensor, target: torch.Tensor
) -> dict[str, np.ndarray]:
    """Every method's ``(N, H, W)`` maps of ``x`` for ``target`` on ``model``."""
    model.eval()
    return {name: f(model, x, target).double().numpy() for name, f in methods.items()}


@dataclass
class ParameterRandomisation:
    """Attributes:
    layers: the randomised layers from the top (logits) down: step ``l`` of the cascade has
        ``layers[: l + 1]`` random; the independent test randomises ``layers[l]`` alone.
    seeds: the seeds of the re-initialisation.
    trained: per method, ``(N, H, W)`` maps of the trained model.
    randomised: per method, ``(N, H, W)`` maps after the full cascade (the first seed).
    scores: ``scores[method][order][measure]`` ``(S, L, N)`` similarity to the trained map.
    """

    layers: list[str]
    seeds: list[int]
    trained: dict[str, np.ndarray]
    randomised: dict[str, np.ndarray] = field(default_factory=dict)
    scores: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)

    def after_full_cascade(self, method: str, measure: str = "spearman_abs") -> np.ndarray:
        """``(S, N)`` similarity once every layer is random."""
        return self.scores[method]["cascading"][measure][:, -1, :]

    def statistic(self, method: str) -> float:
        """The weights verdict's statistic (:mod:`.verdicts`): per seed the image means of the
        rank correlations of |map| and of the signed map after full randomisation; the
        largest (NaN where the trained maps are constant)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            per = [
                np.nanmean(self.after_full_cascade(method, k), axis=1)
                for k in ("spearman_abs", "spearman")
            ]
            return float(np.max(np.stack(per)))


def parameter_randomisation(
    model: nn.Module,
    methods: Mapping[str, Method],
    x: torch.Tensor,
    target: torch.Tensor,
    seeds: Sequence[int],
    orders: Sequence[str] = ORDERS,
) -> ParameterRandomisation:
    """Each method's trained maps against its maps on each randomised copy of ``model``."""
    layers = randomisable_layers(model)
    trained = maps_of(model, methods, x, target)
    n, n_l = x.shape[0], len(layers)
    out = ParameterRandomisation(list(reversed(layers)), [int(s) for s in seeds], trained)
    out.scores = {
        m: {o: {k: np.zeros((len(seeds), n_l, n)) for k in MEASURES} for o in orders}
        for m in methods
    }
    refs = {m: Reference(a) for m, a in trained.items()}  # the trained maps' ranks, once
    for si, seed in enumerate(seeds):
        for order in orders:
            for li, (_, rmodel) in enumerate(randomised(model, order, int(seed), layers)):
                maps = maps_of(rmodel, methods, x, target)
                for m, a in maps.items():
                    for k, v in refs[m].similarities(a).items():
                        out.scores[m][order][k][si, li] = v
                if si == 0 and order == "cascading" and li == n_l - 1:
                    out.randomised = maps
    return out


def compare_models(
    a: nn.Module,
    b: nn.Module,
    methods: Mapping[str, Method],
    x: torch.Tensor,
    target: torch.Tensor,
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """``b``'s maps, and per method and measure the ``(N,)`` similarity of ``a``'s and
    ``b``'s maps."""
    ma, mb = maps_of(a, methods, x, target), maps_of(b, methods, x, target)
    return mb, {m: similarities(ma[m], mb[m]) for m in methods}


@dataclass
class Faithfulness:
    """Attributes:
    fractions: ``(K + 1,)`` share of pixels removed (deletion) or added (insertion).
    deletion, insertion: per order (each method, and ``"random"``: the mean over random
        orders), ``(N, K + 1)`` probability of the target class.
    """

    fractions: np.ndarray
    deletion: dict[str, np.ndarray]
    insertion: dict[str, np.ndarray]

    def area(self, kind: str) -> dict[str, np.ndarray]:
        """Per order, ``(N,)`` area under the curve (the fraction axis runs 0..1)."""
        curves = self.deletion if kind == "deletion" else self.insertion
        return {k: np.trapezoid(v, self.fractions, axis=1) for k, v in curves.items()}


@torch.no_grad()
def _curves(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    base: torch.Tensor,
    ranks: torch.Tensor,
    counts: torch.Tensor,
) -> tuple[np.ndarray, np.ndarray]:
    """``ranks`` ``(N, H*W)`` each pixel's place in the order; curves ``(N, K + 1)``."""
    n, c, h, w = x.shape
    dele, ins = np.zeros((n, len(counts))), np.zeros((n, len(counts)))
    for i in range(n):
        mask = (ranks[i][None, :] < counts[:, None]).view(-1, 1, h, w)  # (K+1, 1, H, W)
        xi, bi = x[i : i + 1], base[i : i + 1]
        both = torch.cat([torch.where(mask, bi, xi), torch.where(mask, xi, bi)])
        p = torch.softmax(model(both).float(), 1)[:, int(target[i])].double().cpu().numpy()
        dele[i], ins[i] = p[: len(counts)], p[len(counts) :]
    return dele, ins


def deletion_insertion(
    model: nn.Module,
    maps: Mapping[str, np.ndarray],
    x: torch.Tensor,
    target: torch.Tensor,
    baseline: Sequence[float],
    steps: int = 28,
    n_random: int = 4,
    seed: int = 0,
) -> Faithfulness:
    """Deletion and insertion curves of every map's order and of ``n_random`` random orders.

    Args:
        maps: per method, ``(N, H, W)``; the largest value is removed (or added) first; ties
            keep the pixels' row-major order.
        baseline: ``(C,)`` the value of a removed pixel (model-input space).
        steps: the curve has ``steps + 1`` points, ``round(k * H * W / steps)`` pixels at
            point ``k``.
    """
    model.eval()
    n, c, h, w = x.shape
    base = torch.tensor(list(baseline), dtype=x.dtype, device=x.device).view(1, c, 1, 1)
    base = base.expand_as(x)
    counts = torch.round(torch.arange(steps + 1) * (h * w) / steps).long().to(x.device)

    def ranks_of(order: torch.Tensor) -> torch.Tensor:  # order (N, H*W) pixel ids
        r = torch.empty_like(order)
        r.scatter_(1, order, torch.arange(h * w, device=order.device).expand_as(order))
        return r

    dele, ins = {}, {}
    for name, m in maps.items():
        flat = torch.as_tensor(np.asarray(m).reshape(n, -1))
        order = torch.sort(-flat, dim=1, stable=True).indices.to(x.device)
        dele[name], ins[name] = _curves(model, x, target, base, ranks_of(order), counts)
    g = torch.Generator().manual_seed(seed)
    rd, ri = np.zeros((n, steps + 1)), np.zeros((n, steps + 1))
    for _ in range(n_random):
        order = torch.stack([torch.randperm(h * w, generator=g) for _ in range(n)]).to(x.device)
        d, i = _curves(model, x, target, base, ranks_of(order), counts)
        rd, ri = rd + d / n_random, ri + i / n_random
    dele["random"], ins["random"] = rd, ri
    return Faithfulness(counts.cpu().numpy() / (h * w), dele, ins)
