"""Per-unit numbers for the explorer, from the Zeiler & Fergus compute functions.

Everything here is arrays in, arrays out; no files and no HTML. For one explored layer,
:func:`layer_units` calls :func:`~convscope.analysis.zf.topk.topk_per_map` (top-k over the
test split, with projections and receptive-field patches),
:func:`~convscope.analysis.zf.topk.max_per_map` (each test image's activation per unit) and
:func:`~convscope.analysis.zf.evolution.feature_evolution` (the strongest test image per unit
at each snapshot), and derives per unit what the pages show (recorded in :data:`CHOICES`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from convscope.analysis.zf._common import Transform
from convscope.analysis.zf.deconvnet import NoDeconvRule
from convscope.analysis.zf.evolution import Evolution, feature_evolution
from convscope.analysis.zf.graph import (
    AVGPOOL,
    BN,
    CONV,
    DROPOUT,
    FLATTEN,
    LINEAR,
    MAXPOOL,
    RELU,
    Chain,
)
from convscope.analysis.zf.receptive import ReceptiveField, extract_patches, receptive_fields
from convscope.analysis.zf.topk import Maxima, TopK, max_per_map, topk_per_map
from convscope.errors import ConvscopeError

K = 9  # top images per unit, as in Zeiler & Fergus 2014, Fig. 2
HIST_BINS = 20
N_INPUTS = 8  # strongest inputs listed for a fully connected unit

CHOICES = {
    "split": "every number and image is over the test split",
    "activation": "a unit is a feature map (conv: its maximum over positions for each image) "
    "or a neuron (fully connected), read after its ReLU where one follows",
    "top_k": f"the {K} test images with the largest activation (topk_per_map, which also "
    "decides ties)",
    "dead": "a unit whose largest activation over the whole test split is <= 0; its top "
    "images are ties at 0 and are not shown (nor are zero-valued top images of other units)",
    "class_purity": f"share of the {K} top images in their most common class; only for units "
    f"whose {K} top values are all positive (otherwise some are ties at 0)",
    "distribution": f"histogram ({HIST_BINS} equal bins over the unit's own min..max) of each "
    "test image's activation",
    "class_means": "mean over each class's test images of the image's activation",
    "evolution": "at each kept snapshot, the strongest test image and its projection "
    "(feature_evolution over the test split; `convscope analyze --what evolution` uses the "
    "training split, Zeiler & Fergus Fig. 4)",
    "settle_step": "first snapshot from which the strongest test image stays the same to the "
    "last snapshot; none for units dead at the last snapshot",
    "inputs": "fully connected units: input contribution = weight x mean test input, summed "
    "over the positions of each input map; the largest positive ones are listed",
}

# kinds that keep channel c of their input as channel c of their output
_CHANNEL_PRESERVING = (RELU, MAXPOOL, AVGPOOL, BN, DROPOUT, FLATTEN)


@dataclass
class LayerUnits:
    """What the explorer shows for one layer: ``M`` units, ``k`` top images, ``S`` snapshots,
    ``N`` test images, ``n`` classes.

    Attributes:
        name: the name the user gave (``"conv2"``); ``read``: the chain layer read (``relu2``).
        index: chain index read; kind: ``"conv"`` or ``"linear"``.
        out_shape: per-image output shape ``(M, H, W)`` or ``(M,)``.
        rf: receptive field of its units.
        topk: :class:`TopK` over the test split (projections and patches).
        per_image: ``(N, M)`` each test image's activation per unit.
        dead: ``(M,)`` bool; purity: ``(M,)`` (NaN for dead units).
        hist_counts ``(M, HIST_BINS)``, hist_edges ``(M, HIST_BINS + 1)``.
        class_means: ``(M, n)``.
        steps: ``(S,)``; evo_values, evo_image: ``(M, S)``; evo_proj, evo_patch:
            ``(M, S, C, ph, pw)`` projection and image cut to the receptive field.
        settle: ``(M,)`` settle step, -1 where undefined.
        inputs: fully connected layers: ``(M, C_in)`` contributions per input map, else None;
        input_layer: explored layer whose units are those input maps (or None).
    """

    name: str
    read: str
    index: int
    kind: str
    out_shape: tuple[int, ...]
    rf: ReceptiveField
    topk: TopK
    per_image: torch.Tensor
    dead: np.ndarray
    purity: np.ndarray
    hist_counts: np.ndarray
    hist_edges: np.ndarray
    class_means: np.ndarray
    steps: np.ndarray
    evo_values: np.ndarray
    evo_image: np.ndarray
    evo_proj: np.ndarray
    evo_patch: np.ndarray
    settle: np.ndarray
    inputs: np.ndarray | None = None
    input_layer: str | None = None
    display: str = ""  # how a reader sees the layer: features.0 (Conv2d 3→16, 3×3)

    @property
    def n_units(self) -> int:
        return int(self.topk.values.shape[0])


def default_layers(chain: Chain) -> list[str]:
    """Every conv layer and every fully connected layer but the last (the logits), in order."""
    linears = [i for i, ly in enumerate(chain.layers) if ly.kind == LINEAR]
    keep = [
        ly.name
        for i, ly in enumerate(chain.layers)
        if ly.kind == CONV or (ly.kind == LINEAR and i != linears[-1])
    ]
    if not keep:
        raise ConvscopeError("model has no conv or hidden fully connected layer to explore")
    return keep


def purity(labels: torch.Tensor, image_index: torch.Tensor, values: torch.Tensor) -> np.ndarray:
    """``(M,)`` share of each row's ``k`` images in their most common class; NaN for a unit
    with a non-positive value among its top ``k`` (its order there is a tie at 0)."""
    top = labels[image_index]  # (M, k)
    out = np.array([float(torch.bincount(r).max()) / r.numel() for r in top])
    out[~(values > 0).all(dim=1).numpy()] = np.nan
    return out


def source(chain: Chain, i: int) -> int:
    """The chain index layer ``i`` reads (its first input; -1 for the model's input)."""
    inputs = getattr(chain.layers[i], "inputs", ())  # graphs name their inputs
    return int(inputs[0]) if inputs else i - 1


def settle_steps(steps: Sequence[int], image: np.ndarray, alive_end: np.ndarray) -> np.ndarray:
    """``(M,)`` first snapshot step from which ``image[m, s:]`` is constant; -1 if not alive."""
    out = np.full(image.shape[0], -1, dtype=np.int64)
    for m, row in enumerate(image):
        if not alive_end[m]:
            continue
        changed = np.nonzero(row[1:] != row[:-1])[0]
        out[m] = steps[int(changed[-1]) + 1] if len(changed) else steps[0]
    return out


def histograms(per_image: np.ndarray, bins: int = HIST_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Per unit, ``numpy.histogram`` over the unit's own range: counts ``(M, bins)``, edges
    ``(M, bins + 1)``."""
    counts = np.empty((per_image.shape[1], bins), dtype=np.int64)
    edges = np.empty((per_image.shape[1], bins + 1))
    for m in range(per_image.shape[1]):
        counts[m], edges[m] = np.histogram(per_image[:, m].astype(np.float64), bins=bins)
    return counts, edges


def class_means(per_image: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``(M, n)`` mean activation per class (NaN for a class without test images)."""
    out = np.full((per_image.shape[1], n_classes), np.nan)
    for c in range(n_classes):
        sel = labels == c
        if sel.any():
            out[:, c] = per_image[sel].astype(np.float64).mean(0)
    return out


def linear_inputs(
    chain: Chain, index: int, images: torch.Tensor, transform: Transform, input_shape: tuple
) -> np.ndarray:
    """For the Linear layer at chain ``index``: ``(J, C)`` mean contribution of each input map
    (``W[j] * mean input``, summed over each map's positions; one map per feature when the
    input is a plain vector)."""
    layer = chain.layers[index]
    assert isinstance(layer.module, torch.nn.Linear)
    total = None
    src = source(chain, index)
    with torch.no_grad():
        for s in range(0, images.shape[0], 500):
            x = transform(images[s : s + 500].to(chain.device)).to(chain.dtype)
            feats = chain.run(x, taps=[src], to_end=False)[0][src] if src >= 0 else x
            part = feats.flatten(1).double().sum(0)
            total = part if total is None else total + part
    assert total is not None
    mean_x = total / images.shape[0]
    w = layer.module.weight.detach().double()
    contrib = (w * mean_x[None, :]).cpu().numpy()  # (J, D)
    shapes = chain.output_shapes(input_shape)
    before = src
    while before >= 0 and chain.layers[before].kind == FLATTEN:
        before = source(chain, before)
    src = shapes[before] if before >= 0 else tuple(input_shape)
    channels = src[0] if len(src) == 3 and int(np.prod(src)) == contrib.shape[1] else None
    if channels is None:
        return contrib
    return contrib.reshape(contrib.shape[0], channels, -1).sum(2)


def input_layer(chain: Chain, index: int, explored: dict[int, str]) -> str | None:
    """The explored layer (by read index) whose units feed chain layer ``index`` channel by
    channel, or None."""
    j = source(chain, index)
    while j >= 0:
        if j in explored:
            return explored[j]
        if chain.layers[j].kind not in _CHANNEL_PRESERVING:
            return None
        j = source(chain, j)
    return None


def _topk(
    chain: Chain, images: torch.Tensor, read: int, transform: Transform, maxima: Maxima
) -> TopK:
    """The layer's top-k test images; grey projections where it has no deconvnet rule."""
    t = topk_per_map(
        chain,
        images,
        read,
        k=min(K, images.shape[0]),
        transform=transform,
        block_output=False,
        maxima=maxima,
    )
    if t.projection_patches is None and t.patches is not None:  # no deconvnet rule: grey
        zeros = torch.zeros(t.patches.shape, dtype=torch.float32)
        t = dataclasses.replace(t, projection_patches=zeros)
    return t


def _evolution(
    steps: Sequence[int],
    load_model: Callable[[int], torch.nn.Module],
    images: torch.Tensor,
    idx: int,
    transform: Transform,
) -> Evolution:
    """The feature evolution of chain layer ``idx`` over the test images."""
    try:
        return feature_evolution(list(steps), load_model, images, idx, transform=transform)
    except NoDeconvRule:  # the strongest images still evolve; their projections are grey
        ev = feature_evolution(
            list(steps), load_model, images, idx, transform=transform, with_projections=False
        )
        n_maps, n_steps = ev.image_index.shape
        ev.projections = torch.zeros((n_maps, n_steps, *images.shape[1:]))
        return ev


def _evolution_patches(
    ev: Evolution, images: torch.Tensor, rf: ReceptiveField
) -> tuple[np.ndarray, np.ndarray]:
    """``(M, S, C, ph, pw)`` projections and image patches of the evolution, cut to the
    receptive field."""
    m, s = ev.image_index.shape
    flat_img = ev.image_index.reshape(-1)
    evo_proj = extract_patches(ev.projections.flatten(0, 1), rf, ev.y.reshape(-1), ev.x.reshape(-1))
    evo_patch = extract_patches(images[flat_img], rf, ev.y.reshape(-1), ev.x.reshape(-1))
    return (
        evo_proj.view(m, s, *evo_proj.shape[1:]).numpy(),
        evo_patch.view(m, s, *evo_patch.shape[1:]).numpy(),
    )


def layer_units(
    chain: Chain,
    name: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    n_classes: int,
    transform: Transform,
    steps: Sequence[int],
    load_model: Callable[[int], torch.nn.Module],
    explored: dict[int, str],
    maxima: Maxima | None = None,
    evolution: Evolution | None = None,
) -> LayerUnits:
    """Every number and image the explorer shows for layer ``name`` (see :class:`LayerUnits`).

    Args:
        images, labels: the test split ``(N, C, H, W)`` uint8 and ``(N,)``.
        steps, load_model: the snapshots for the evolution (at least one).
        explored: read index -> name of the explored layers (for input links).
        maxima, evolution: this layer's per-image maxima over ``images``
            (:func:`~convscope.analysis.zf.topk.max_per_map_of_layers`) and its feature
            evolution, when already computed for several layers at once.
    """
    at = chain.index(name)
    idx = chain.resolve(at)
    kind = chain.layers[at].kind
    if kind not in (CONV, LINEAR):
        raise ConvscopeError(
            f"layer {name!r}: is a {kind} layer; the explorer shows conv and fully connected layers"
        )
    read = chain.resolve(idx)
    if maxima is None:
        maxima = max_per_map(chain, images, read, transform=transform, block_output=False)
    t = _topk(chain, images, read, transform, maxima)
    per_image, _, shape = maxima
    dead = (t.values[:, 0] <= 0).numpy()
    pim = per_image.numpy()
    counts, edges = histograms(pim)
    ev = evolution or _evolution(steps, load_model, images, idx, transform)
    rf = receptive_fields(chain)[idx]
    evo_proj, evo_patch = _evolution_patches(ev, images, rf)
    inputs = src = None
    if kind == LINEAR:
        inputs = linear_inputs(chain, at, images, transform, tuple(images.shape[1:]))
        src = input_layer(chain, at, explored)
    return LayerUnits(
        name=name,
        read=chain.layers[idx].name,
        index=idx,
        kind=kind,
        out_shape=tuple(int(v) for v in shape),
        rf=rf,
        topk=t,
        per_image=per_image,
        dead=dead,
        purity=purity(labels, t.image_index, t.values),
        hist_counts=counts,
        hist_edges=edges,
        class_means=class_means(pim, labels.numpy(), n_classes),
        steps=np.asarray(list(steps), dtype=np.int64),
        evo_values=ev.values.numpy(),
        evo_image=ev.image_index.numpy(),
        evo_proj=evo_proj,
        evo_patch=evo_patch,
        settle=settle_steps(list(steps), ev.image_index.numpy(), ev.values[:, -1].numpy() > 0),
        inputs=inputs,
        input_layer=src,
        display=chain.display(at),
    )
