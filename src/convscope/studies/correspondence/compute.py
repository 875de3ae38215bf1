"""Correspondence between images of one class (Zeiler & Fergus 2014, §4.3, Table 1).

Mask the same region in several images of one class; for image ``i`` and layer ``l`` let
``eps_i = x_i^l - x~_i^l`` be the change of the layer's feature vector. If the network implicitly
finds the same part in each image, the changes agree in sign across images. The paper measures

    Delta_l = sum over pairs i != j of H(sign(eps_i), sign(eps_j))

with ``H`` the Hamming distance, and compares against masking random regions (a different
random location per image). Lower is more consistent.

Recorded choices (the paper leaves them open):

* ``H`` is normalised by the feature dimension (the fraction of differing signs), and we
  report the mean over pairs rather than the sum, so numbers compare across layers;
* ``sign(0) = 0`` is its own value (two unchanged units agree; a changed and an unchanged one
  differ);
* images come in groups of ``group_size`` (5, as in the paper); pairs ``i < j`` are formed
  within each group (``H`` is symmetric, so ordered pairs give the same mean and std); the
  table's ``±`` is the standard deviation over all those pairs; ``std_groups`` is the std of
  the per-group means;
* regions: squares of ``size`` px (8 for 28x28) at the centre, top, bottom, left and right
  (:func:`default_regions`), filled with ``fill`` in model-input space (the runner uses the
  data set mean); the control ``random`` is a square of the same size at a uniformly random
  fully-inside location, drawn per image with a seeded generator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from convscope.analysis.zf._common import Transform, chain_on, check_images, to_input
from convscope.analysis.zf.graph import Chain
from convscope.errors import ConvscopeError

Box = tuple[int, int, int, int]  # y0, x0, height, width


def default_regions(hw: tuple[int, int], size: int | None = None) -> dict[str, Box]:
    """Five squares of side ``size`` (default ``round(0.3 * H)``: 8 px for 28x28): centre,
    top, bottom, left, right, each ``round(H / 14)`` px (2 for 28) from the border."""
    h, w = hw
    s = size if size is not None else max(1, round(0.3 * min(h, w)))
    if not 0 < s <= min(h, w):
        raise ConvscopeError(f"region size: expected 1..{min(h, w)}, got {s}")
    m = max(0, round(min(h, w) / 14))
    cy, cx = (h - s) // 2, (w - s) // 2
    return {
        "centre": (cy, cx, s, s),
        "top": (m, cx, s, s),
        "bottom": (h - s - m, cx, s, s),
        "left": (cy, m, s, s),
        "right": (cy, w - s - m, s, s),
    }


def sign_hamming(signs: torch.Tensor) -> torch.Tensor:
    """Normalised Hamming distances between the sign vectors of each group.

    Args:
        signs: ``(G, K, D)`` values in {-1, 0, 1}.
    Returns:
        ``(G, K*(K-1)/2)`` fraction of the ``D`` entries that differ, for pairs ``i < j``.
    """
    g, k, _ = signs.shape
    iu = torch.triu_indices(k, k, offset=1, device=signs.device)
    out = []
    for a, b in iu.T.tolist():
        out.append((signs[:, a] != signs[:, b]).double().mean(dim=1))
    return torch.stack(out, dim=1) if out else signs.new_zeros((g, 0), dtype=torch.float64)


@dataclass
class Correspondence:
    """Table 1 for one class: rows ``regions`` (the last is ``"random"``), columns ``layers``.

    Attributes:
        mean, std, std_groups: ``(R, L)``.
        pair_distances: ``(R, L, G, pairs)`` every normalised Hamming distance.
        boxes: fixed regions ``{name: (y0, x0, h, w)}``; random_boxes: ``(N, 4)``.
    """

    regions: list[str]
    layers: list[str]
    mean: torch.Tensor
    std: torch.Tensor
    std_groups: torch.Tensor
    pair_distances: torch.Tensor
    boxes: dict[str, Box]
    random_boxes: torch.Tensor
    group_size: int
    groups: int
    fill: list[float]
    choices: dict[str, Any] = field(default_factory=dict)

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        return {
            prefix + "mean": self.mean.numpy(),
            prefix + "std": self.std.numpy(),
            prefix + "std_groups": self.std_groups.numpy(),
            prefix + "pair_distances": self.pair_distances.numpy(),
            prefix + "random_boxes": self.random_boxes.numpy(),
        }

    def table(self) -> dict[str, Any]:
        """Rows/columns/mean/std and ``"mean ± std"`` strings, JSON-ready."""
        return {
            "rows": self.regions,
            "columns": self.layers,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "std_groups": self.std_groups.tolist(),
            "text": [
                [f"{m:.3f} ± {s:.3f}" for m, s in zip(mr, sr)]
                for mr, sr in zip(self.mean.tolist(), self.std.tolist())
            ],
        }


def _mask(images: torch.Tensor, boxes: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """Fill box ``(y0, x0, h, w)`` of each image ``(N, C, H, W)``; boxes ``(N, 4)``."""
    n, _, h, w = images.shape
    rows = torch.arange(h, device=images.device)
    cols = torch.arange(w, device=images.device)
    b = boxes.to(images.device)
    in_y = (rows >= b[:, 0:1]) & (rows < b[:, 0:1] + b[:, 2:3])
    in_x = (cols >= b[:, 1:2]) & (cols < b[:, 1:2] + b[:, 3:4])
    m = (in_y[:, :, None] & in_x[:, None, :])[:, None]
    return torch.where(m, fill, images)


def _full_groups(n: int, group_size: int) -> int:
    """How many full groups of ``group_size`` the ``n`` images make (at least one)."""
    if group_size < 2:
        raise ConvscopeError(f"group_size: expected >= 2, got {group_size}")
    groups = n // group_size
    if groups == 0:
        raise ConvscopeError(f"images: expected at least group_size={group_size}, got {n}")
    return groups


def _layer_indices(
    chain: Chain, layers: Sequence[str | int] | None, block_output: bool
) -> list[int]:
    """The requested layers; default every conv block's output and the penultimate layer."""
    if layers is None:
        return list(dict.fromkeys([*chain.default_layers(), chain.penultimate()]))
    return [chain.resolve(ly, block_output) for ly in layers]


def _checked_regions(regions: dict[str, Box], h: int, w: int) -> dict[str, Box]:
    """A copy of ``regions``; ConvscopeError for a box outside ``h x w`` or one named random."""
    regions = dict(regions)
    for name, (y0, x0, bh, bw) in regions.items():
        if name == "random" or not (y0 >= 0 and x0 >= 0 and y0 + bh <= h and x0 + bw <= w):
            raise ConvscopeError(
                f"region {name!r}: expected a box (y0, x0, h, w) inside {h}x{w} and a name "
                "other than 'random'"
            )
    return regions


def _random_boxes(
    regions: dict[str, Box], h: int, w: int, n: int, seed: int
) -> tuple[torch.Tensor, tuple[int, int]]:
    """The control: per image, a box of the largest region's size at a random inside place."""
    sizes = {(bh, bw) for _, _, bh, bw in regions.values()}
    rh, rw = max(sizes) if sizes else (max(1, round(0.3 * h)), max(1, round(0.3 * w)))
    gen = torch.Generator().manual_seed(seed)
    boxes = torch.stack(
        [
            torch.randint(0, h - rh + 1, (n,), generator=gen),
            torch.randint(0, w - rw + 1, (n,), generator=gen),
            torch.full((n,), rh),
            torch.full((n,), rw),
        ],
        dim=1,
    )
    return boxes, (rh, rw)


def _layer_distances(
    base: list[torch.Tensor], occluded: list[torch.Tensor], groups: int, group_size: int
) -> torch.Tensor:
    """Per layer, the sign-change Hamming distance of every pair in each group: (L, G, pairs)."""
    row = []
    for f0, f1 in zip(base, occluded):
        signs = torch.sign(f0 - f1).to(torch.int8).view(groups, group_size, -1)
        row.append(sign_hamming(signs).cpu())
    return torch.stack(row)


def _choices(
    group_size: int,
    groups: int,
    regions: dict[str, Box],
    size: tuple[int, int],
    seed: int,
    fill_list: list[float],
    layer_names: list[str],
) -> dict[str, Any]:
    """What a :class:`Correspondence` measured and how (``size``: the random boxes' h, w)."""
    return {
        "source": "Zeiler & Fergus 2014 (arXiv 1311.2901) section 4.3 (Correspondence "
        "Analysis), Table 1",
        "hamming": "normalised: fraction of feature entries whose signs differ",
        "delta": "mean over image pairs (the paper sums over pairs i != j)",
        "sign_of_zero": "sign(0) = 0, its own value",
        "plus_minus": f"std over all pairs i < j within groups of {group_size} images "
        f"({groups} group(s), {groups * group_size * (group_size - 1) // 2} pairs); "
        "std_groups: std of the per-group means",
        "regions": {k: list(v) for k, v in regions.items()},
        "region_units": "(y0, x0, height, width) in pixels",
        "random": f"a {size[0]}x{size[1]} square at a uniformly random fully-inside location per "
        f"image, seed {seed}",
        "fill": fill_list,
        "fill_space": "model input (after normalisation)",
        "layers": list(layer_names),
    }


@torch.no_grad()
def correspondence(
    model: nn.Module | Chain,
    images: torch.Tensor,
    *,
    layers: Sequence[str | int] | None = None,
    regions: dict[str, Box] | None = None,
    group_size: int = 5,
    fill: float | Sequence[float] = 0.0,
    seed: int = 0,
    transform: Transform | None = None,
    block_output: bool = True,
    device: str | torch.device | None = None,
) -> Correspondence:
    """Feature-sign consistency of masking the same region across images (Table 1).

    Args:
        model: the CNN or its :class:`Chain`.
        images: ``(N, C, H, W)`` images of one class, ``N >= group_size``; uint8 with
            ``transform``, or float model inputs. Only ``N // group_size`` full groups are used.
        layers: default every conv block's output and the feature vector before the last
            Linear.
        regions: ``{name: (y0, x0, h, w)}``; default :func:`default_regions`.
        group_size: images per group; pairs are formed within a group.
        fill: mask value in model-input space.
        seed: for the random control regions.
    """
    chain = chain_on(model, device)
    check_images(images)
    n, c, h, w = images.shape
    groups = _full_groups(n, group_size)
    n = groups * group_size
    images = images[:n]
    idxs = _layer_indices(chain, layers, block_output)
    regions = _checked_regions(default_regions((h, w)) if regions is None else regions, h, w)
    random_boxes, (rh, rw) = _random_boxes(regions, h, w, n, seed)
    fill_list = [float(fill)] * c if isinstance(fill, (int, float)) else [float(v) for v in fill]
    x0 = to_input(images, chain, transform)
    fill_t = torch.tensor(fill_list, dtype=x0.dtype, device=x0.device).view(1, c, 1, 1)

    def feats(x: torch.Tensor) -> list[torch.Tensor]:
        acts, _ = chain.run(x, taps=idxs, to_end=False)
        return [acts[i].flatten(1) for i in idxs]

    base = feats(x0)
    names = [*regions, "random"]
    per_region = [
        *(torch.tensor([list(b)] * n, dtype=torch.int64) for b in regions.values()),
        random_boxes,
    ]
    d = torch.stack(  # (R, L, G, pairs)
        [
            _layer_distances(base, feats(_mask(x0, boxes, fill_t)), groups, group_size)
            for boxes in per_region
        ]
    )
    flat = d.flatten(2)
    group_means = d.mean(dim=3)
    layer_names = [chain.layers[i].name for i in idxs]
    return Correspondence(
        regions=names,
        layers=layer_names,
        mean=flat.mean(dim=2),
        std=flat.std(dim=2, correction=0),
        std_groups=group_means.std(dim=2, correction=0),
        pair_distances=d,
        boxes=regions,
        random_boxes=random_boxes,
        group_size=group_size,
        groups=groups,
        fill=fill_list,
        choices=_choices(group_size, groups, regions, (rh, rw), seed, fill_list, layer_names),
    )


def correspondence_summary(
    cor: Correspondence, class_name: str = "", said: Callable[[str], str] = str
) -> dict[str, Any]:
    """Table plus a one-sentence observation comparing fixed regions with the random control."""
    fixed = cor.mean[:-1].mean(dim=0)  # (L,)
    rand = cor.mean[-1]
    consistent = [ly for ly, f, r in zip(cor.layers, fixed, rand) if f < r]
    parts = "; ".join(
        f"{said(ly)}: {float(f):.3f} vs {float(r):.3f}" for ly, f, r in zip(cor.layers, fixed, rand)
    )
    who = f" of class {class_name}" if class_name else ""
    if len(consistent) == len(cor.layers):
        verdict = "masking the same region gives more consistent sign changes than random "
        verdict += "regions at every layer"
    elif consistent:
        only = ", ".join(said(ly) for ly in consistent)
        verdict = f"the same region is more consistent than random only at {only}"
    else:
        verdict = "masking the same region is no more consistent than masking random regions"
    sentence = (
        f"Mean normalised sign-change distance Delta{who} (fixed regions averaged vs random; "
        f"lower = more consistent) — {parts}: {verdict}."
    )
    return {
        "class": class_name,
        "table": cor.table(),
        "fixed_regions_mean": fixed.tolist(),
        "random_mean": rand.tolist(),
        "layers_more_consistent_than_random": consistent,
        "observation": sentence,
        "choices": cor.choices,
    }


PAPER_CLASS = "dog"  # Zeiler & Fergus 2014, Fig. 5 / Table 1: five dog images


def choose_class(
    classes: Sequence[str], requested: str | None, raw_names: Sequence[str] | None = None
) -> tuple[str, str]:
    """The class whose images the correspondence measure uses, and why (for the JSON/report).

    Args:
        classes: display names of classes ``0..K-1``; raw_names: the data set's own names
            (a requested raw name maps to its display name).
        requested: a class name, or ``None``: the paper's class ``"dog"`` when a class has
            that name (``"dog"`` or ``"dog (...)"``), otherwise the first class.

    Returns:
        ``(display name, reason)``; ConvscopeError for an unknown requested name.
    """
    raw = list(raw_names) if raw_names is not None else list(classes)
    if requested is not None:
        name = classes[raw.index(requested)] if requested in raw else requested
        if name not in classes:
            raise ConvscopeError(
                f"correspondence class {requested!r}: expected one of {', '.join(raw)}"
            )
        return name, f"class {name!r} as requested"
    dog = [n for n in classes if n == PAPER_CLASS or n.startswith(PAPER_CLASS + " (")]
    if dog:
        return dog[0], f"class {dog[0]!r}: the paper's class (dogs, Fig. 5)"
    return classes[0], (
        f"class {classes[0]!r} (class 0): no class is named {PAPER_CLASS!r} (the paper's class, "
        "Fig. 5), so the first class is used; name one with the correspondence class option"
    )
