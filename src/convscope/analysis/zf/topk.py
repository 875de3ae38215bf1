"""Top-k activations per feature map, with projections and patches (Zeiler & Fergus 2014, Fig. 2).

For every map of a layer, the ``k`` (9 in the paper) strongest activations over a data split,
from ``k`` distinct images: each image's activation in a map is its maximum over positions, and
the ``k`` images with the largest maxima win. Each comes with its deconvnet projection (§2.1) and
the image patch under its receptive field. The data go through the network once per layer,
batched over images, keeping only the per-image per-map maximum and its position; the winners'
projections are then computed in batches.

Recorded choices: ties between images are broken by the lower image index, ties between
positions within a map by the first position in row-major order (``torch.max``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from convscope.analysis.zf._common import (
    FORWARD_BATCH,
    Transform,
    batches,
    chain_on,
    check_images,
    to_input,
)
from convscope.analysis.zf.deconvnet import (
    DECONV_CHOICES,
    NoDeconvRule,
    Units,
    project,
    projection_rules,
)
from convscope.analysis.zf.graph import Chain
from convscope.analysis.zf.receptive import ReceptiveField, extract_patches, receptive_fields
from convscope.errors import ConvscopeError

Maxima = tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]  # values, positions, map shape


@torch.no_grad()
def max_per_map(
    model: nn.Module | Chain,
    images: torch.Tensor,
    layer: str | int,
    *,
    transform: Transform | None = None,
    batch_size: int = FORWARD_BATCH,
    block_output: bool = True,
    device: str | torch.device | None = None,
) -> Maxima:
    """One forward pass: each image's maximum activation in each map of ``layer``.

    Args:
        images: ``(N, C, H, W)``, uint8 with ``transform``, or float model inputs.

    Returns:
        ``(values, positions, map_shape)``: ``values`` ``(N, M)`` float, ``positions``
        ``(N, M)`` int64 row-major index into the ``(H_l, W_l)`` map (0 for a fully connected
        layer), and the layer's per-image output shape ``(M, H_l, W_l)`` or ``(M,)``; on CPU.
    """
    chain = chain_on(model, device)
    idx = chain.resolve(layer, block_output)
    return max_per_map_of_layers(
        chain, images, [idx], transform=transform, batch_size=batch_size, block_output=False
    )[idx]


@torch.no_grad()
def max_per_map_of_layers(
    model: nn.Module | Chain,
    images: torch.Tensor,
    layers: Sequence[str | int],
    *,
    transform: Transform | None = None,
    batch_size: int = FORWARD_BATCH,
    block_output: bool = True,
    device: str | torch.device | None = None,
    predictions: list[torch.Tensor] | None = None,
    also: tuple[Sequence[int], Callable[[dict[int, torch.Tensor]], None]] | None = None,
) -> dict[int, Maxima]:
    """:func:`max_per_map` of several layers from one forward pass over ``images``; keyed by
    each layer's chain index (after :meth:`Chain.resolve`). With ``predictions`` (a list),
    the pass runs to the logits and appends each batch's predicted classes ``(B,)`` to it.
    ``also``: ``(chain indices, f)``: those layers are tapped too, and each batch's taps
    (theirs and ``layers``', by chain index) go to ``f``, for another analysis that reads
    the same pass."""
    chain = chain_on(model, device)
    check_images(images)
    idxs = sorted({chain.resolve(ly, block_output) for ly in layers})
    taps = sorted({*idxs, *(also[0] if also else ())})
    vals: dict[int, list[torch.Tensor]] = {i: [] for i in idxs}
    poss: dict[int, list[torch.Tensor]] = {i: [] for i in idxs}
    shapes: dict[int, tuple[int, ...]] = {}
    for _, x in batches(images, chain, transform, batch_size):
        acts, logits = chain.run(x, taps=taps, to_end=predictions is not None)
        if predictions is not None:
            predictions.append(logits.argmax(1))
        if also:
            also[1](acts)
        for idx in idxs:
            act = acts[idx]
            shapes[idx] = tuple(act.shape[1:])
            if act.dim() == 4:
                v, p = _map_maxima(act)
            elif act.dim() == 2:
                v, p = act, torch.zeros_like(act, dtype=torch.int64)
            else:
                raise ConvscopeError(
                    f"layer {chain.layers[idx].name!r}: output {tuple(act.shape)}; expected "
                    "(B, C, H, W) or (B, C)"
                )
            vals[idx].append(v)  # kept on the device until the end: no sync per batch
            poss[idx].append(p)
    return {i: (torch.cat(vals[i]).cpu(), torch.cat(poss[i]).cpu(), shapes[i]) for i in idxs}


_POOLED_DTYPES = (torch.float32, torch.float64, torch.bfloat16)


def pools_whole_maps(act: torch.Tensor) -> bool:
    """Whether ``act`` ``(N, M, H, W)`` takes its per-map maxima fastest by a whole-map
    ``max_pool2d``: channels-last, where ``max``/``amax`` over the positions of few channels
    is several times slower (the maxima, NaN included, come out the same)."""
    return (
        act.dim() == 4
        and act.dtype in _POOLED_DTYPES
        and act.is_contiguous(memory_format=torch.channels_last)
    )


def _map_maxima(act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, M, H, W)`` -> each map's maximum and the row-major index of its first maximum,
    both ``(N, M)``. A channels-last map goes through ``max_pool2d`` over the whole map (its
    kernel keeps the first maximum, as ``max`` does, and is several times faster there); any
    other layout, and a batch with a NaN (where the two kernels keep different indices), takes
    ``max`` over the flattened positions."""
    n, m = act.shape[0], act.shape[1]
    if pools_whole_maps(act):
        v, p = F.max_pool2d(act, kernel_size=tuple(act.shape[2:]), return_indices=True)
        v, p = v.view(n, m), p.view(n, m)
        if not bool(torch.isnan(v).any()):
            return v, p
    # (N, H*W, M) without a copy when channels-last; max returns the first maximum's index
    return act.permute(0, 2, 3, 1).reshape(n, -1, m).max(dim=1)


TIE_SEED = 0  # seed of the permutation that orders equal maxima (see :func:`rank_images`)


def rank_images(values: torch.Tensor, k: int, seed: int = TIE_SEED) -> torch.Tensor:
    """``(N, M)`` per-image maxima -> ``(M, k)`` image indices, strongest first.

    Ties (a partly dead map's zeros) are broken by a fixed random permutation of the images
    (``seed``), not by image index: a split sorted by class would otherwise hand every tie to
    the first class.
    """
    n = values.shape[0]
    if not 0 < k <= n:
        raise ConvscopeError(f"k: expected 1..{n} (number of images), got {k}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    permuted = values[perm].T
    if k == 1 and not bool(torch.isnan(permuted).any()):
        # the stable sort's first entry is the first maximum, which argmax keeps (and a sort
        # of 50,000 images per map is most of feature evolution's ranking time)
        return perm[permuted.argmax(dim=1, keepdim=True)]
    order = torch.sort(permuted, dim=1, descending=True, stable=True).indices
    return perm[order[:, :k]]


def class_purity(
    values: torch.Tensor, image_index: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per map, the share of its top-k images in their most common class.

    Args:
        values: ``(M, k)`` the top-k activations (strongest first).
        image_index: ``(M, k)`` their images; labels: ``(N,)`` the images' classes.

    Returns:
        ``(purity, eligible)``: ``(M,)`` float64 purity (NaN where not eligible) and ``(M,)``
        bool: maps whose k entries are all positive. A map with any non-positive entry among
        its top k is left out: its order there is a tie, not a preference.
    """
    eligible = (values > 0).all(dim=1)
    k = values.shape[1]
    top_labels = labels[image_index]
    purity = torch.full((values.shape[0],), float("nan"), dtype=torch.float64)
    for m in torch.nonzero(eligible).flatten().tolist():
        purity[m] = float(torch.bincount(top_labels[m]).max()) / k
    return purity, eligible


@dataclass
class TopK:
    """Top-k result for one layer (arrays on CPU). ``M`` maps, ``k`` per map.

    Attributes:
        layer: the layer read (name after :meth:`Chain.resolve`).
        maps: ``(M,)`` map indices.
        values: ``(M, k)`` activation values, strongest first.
        image_index: ``(M, k)`` index into the searched images (distinct within a row).
        y, x: ``(M, k)`` position of each activation in its map (0 for fully connected).
        projections: ``(M, k, C, H, W)`` deconvnet projections, or ``None``.
        patches: ``(M, k, C, ph, pw)`` input patches under each unit's receptive field (the whole
            image for fully connected layers), dtype of the given images; ``None`` if skipped.
        projection_patches: ``(M, k, C, ph, pw)`` projections cut to the same box.
        boxes: ``(M, k, 4)`` clipped receptive-field boxes ``(y0, y1, x0, x1)``, half-open.
        receptive_field: the layer's field (size/jump/start per axis).
        choices: recorded choices.
    """

    layer: str
    maps: torch.Tensor
    values: torch.Tensor
    image_index: torch.Tensor
    y: torch.Tensor
    x: torch.Tensor
    projections: torch.Tensor | None
    patches: torch.Tensor | None
    projection_patches: torch.Tensor | None
    boxes: torch.Tensor
    receptive_field: dict[str, Any]
    choices: dict[str, Any] = field(default_factory=dict)

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """The arrays as numpy, for ``np.savez``."""
        names = ("maps", "values", "image_index", "y", "x", "boxes")
        names += ("projections", "patches", "projection_patches")
        return {prefix + n: getattr(self, n).numpy() for n in names if getattr(self, n) is not None}


def topk_per_map(
    model: nn.Module | Chain,
    images: torch.Tensor,
    layer: str | int,
    *,
    k: int = 9,
    maps: Sequence[int] | None = None,
    transform: Transform | None = None,
    batch_size: int = FORWARD_BATCH,
    chunk_size: int = 256,
    block_output: bool = True,
    with_projections: bool = True,
    with_patches: bool = True,
    device: str | torch.device | None = None,
    progress: Callable[[str], None] | None = None,
    maxima: Maxima | None = None,
) -> TopK:
    """The ``k`` strongest activations of every map of ``layer`` over ``images`` (Fig. 2).

    Args:
        model: the CNN or its :class:`Chain`; runs on its device (``device`` moves it).
        images: ``(N, C, H, W)`` the split to search; uint8 with ``transform`` (patches are then
            uint8 too), or float model inputs.
        layer: name or chain index; ``"conv2"`` reads its rectified output (``block_output``).
        k: images per map (9 in the paper).
        maps: which maps to return (default all).
        transform: raw batch -> model input (e.g. ``Normalize``).
        batch_size: images per forward pass; chunk_size: projections per batch.
        with_projections, with_patches: skip either to save time.
        maxima: this layer's :func:`max_per_map` over ``images``, when already computed
            (:func:`max_per_map_of_layers`: several layers from one pass).

    Returns:
        :class:`TopK`.
    """
    chain = chain_on(model, device)
    idx = chain.resolve(layer, block_output)
    name = chain.layers[idx].name
    if maxima is None:
        maxima = max_per_map(
            chain, images, idx, transform=transform, batch_size=batch_size, block_output=False
        )
    win = _winners(maxima, k, maps, name)
    if progress:
        progress(f"top-{k} of {len(win.sel)} maps of {name} over {images.shape[0]} images")

    rf = receptive_fields(chain, tuple(images.shape[1:]))[idx]
    hw = (int(images.shape[2]), int(images.shape[3]))
    flat_img, flat_y, flat_x = win.top.reshape(-1), win.ys.reshape(-1), win.xs.reshape(-1)
    boxes = torch.tensor(
        [rf.box(int(a), int(b), hw) for a, b in zip(flat_y, flat_x)], dtype=torch.int64
    ).view(*win.top.shape, 4)
    projections = patches = proj_patches = None
    uniq, inverse = torch.unique(flat_img, return_inverse=True)
    projection: Any = "skipped"
    if with_projections:
        projections, proj_patches, projection = _project_winners(
            chain, images, idx, transform, win, rf, uniq, inverse, chunk_size
        )
    if with_patches:
        raw = images[uniq.to(images.device)].cpu()[inverse]
        patches = extract_patches(raw, rf, flat_y, flat_x)
        patches = patches.view(*win.top.shape, *patches.shape[1:])
    return TopK(
        layer=name,
        maps=win.sel,
        values=win.vals,
        image_index=win.top,
        y=win.ys,
        x=win.xs,
        projections=projections,
        patches=patches,
        projection_patches=proj_patches,
        boxes=boxes,
        receptive_field=rf.to_dict(),
        choices=_choices(k, name, projection),
    )


class _Winners(NamedTuple):
    """The ``k`` winning images of each selected map: ``sel`` ``(M,)`` the maps; ``top`` their
    images ``(M, k)``; ``m_idx`` the map of each entry; ``vals``, ``ys``, ``xs`` the
    activation and its position."""

    sel: torch.Tensor
    top: torch.Tensor
    m_idx: torch.Tensor
    vals: torch.Tensor
    ys: torch.Tensor
    xs: torch.Tensor


def _winners(maxima: Maxima, k: int, maps: Sequence[int] | None, name: str) -> _Winners:
    """Rank each selected map's images by their maxima (:func:`rank_images`)."""
    values, positions, shape = maxima
    n_maps = values.shape[1]
    sel = torch.arange(n_maps) if maps is None else torch.as_tensor(list(maps), dtype=torch.int64)
    if sel.numel() == 0 or int(sel.min()) < 0 or int(sel.max()) >= n_maps:
        raise ConvscopeError(f"maps: expected indices in 0..{n_maps - 1} for layer {name!r}")
    top = rank_images(values, k)[sel]  # (M, k)
    m_idx = sel[:, None].expand_as(top)
    vals = values[top, m_idx]
    pos = positions[top, m_idx]
    w = shape[2] if len(shape) == 3 else 1
    ys, xs = pos // w, pos % w
    return _Winners(sel, top, m_idx, vals, ys, xs)


def _project_winners(
    chain: Chain,
    images: torch.Tensor,
    idx: int,
    transform: Transform | None,
    win: _Winners,
    rf: ReceptiveField,
    uniq: torch.Tensor,
    inverse: torch.Tensor,
    chunk_size: int,
) -> tuple[torch.Tensor | None, torch.Tensor | None, Any]:
    """The winners' deconvnet projections, cut to the receptive field as well, and the
    recorded choice: the rules used, or why the layer has none (forward-only: values and
    patches still come)."""
    try:
        rules = projection_rules(chain, idx)
    except NoDeconvRule as e:
        return None, None, str(e) or "skipped"
    flat_y, flat_x = win.ys.reshape(-1), win.xs.reshape(-1)
    hw = (int(images.shape[2]), int(images.shape[3]))
    x_sel = to_input(images[uniq], chain, transform)
    units = Units.of(inverse, win.m_idx.reshape(-1), flat_y, flat_x)
    p = project(chain, x_sel, idx, units, block_output=False, chunk_size=chunk_size)
    projections = p.float().cpu().view(*win.top.shape, *p.shape[1:])
    proj_patches = extract_patches(projections.flatten(0, 1), rf, flat_y, flat_x).view(
        *win.top.shape, images.shape[1], *((rf.size) if not rf.full else hw)
    )
    return projections, proj_patches, {"rules": rules}


def _choices(k: int, name: str, projection: Any) -> dict[str, Any]:
    """The recorded choices of a top-k result."""
    return {
        "source": "Zeiler & Fergus 2014 (arXiv 1311.2901) Fig. 2",
        "k": k,
        "per_image_activation": "max over positions of the map; one entry per image, so "
        "the k images are distinct",
        "ties": f"equal maxima: in a fixed random order of the images (seed {TIE_SEED}), "
        "so ties carry no class information; equal positions: first in row-major order",
        "layer_read": name,
        "patch_fill": "0 where the receptive field leaves the image",
        "deconv": DECONV_CHOICES,
        "projection": projection,
    }
