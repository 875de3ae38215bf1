"""Occlusion sensitivity (Zeiler & Fergus 2014, §4.2, Fig. 7).

A grey square slides over the image; for each position the occluded copy is classified and
three maps are read off:

* (b) the total activation of the map (in a chosen layer) that responds most strongly to the
  unoccluded image;
* (d) the probability of the true class;
* (e) the most probable class.

Occluded copies of all images are evaluated together in batches of ``batch_size``.

Recorded choices: the square is placed with its top-left corner at ``0, stride, 2*stride, ...``
and always fully inside the image (the last position ``H - size`` is added if the stride
misses it); map cell ``(i, j)`` is the square at ``(ys[i], xs[j])``. ``fill`` is a value in
model-input space (after normalisation); :func:`mean_fill` gives the data set's mean pixel
there, the default the runner uses. The "strongest map" is the one with the largest maximum
over positions on the unoccluded image. Defaults suit 28x28 images: an 8 px square, stride 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from convscope.analysis.zf._common import Transform, chain_on, check_images, to_input
from convscope.analysis.zf.graph import Chain
from convscope.analysis.zf.reuse import PrefixReuse
from convscope.errors import ConvscopeError

DEFAULT_SIZE = 8  # px, occluder side for 28x28 inputs
DEFAULT_STRIDE = 2  # px between occluder positions


def mean_fill(mean_01: Sequence[float], normalize: Any | None = None) -> list[float]:
    """The data set's per-channel mean pixel (on the [0, 1] scale) in model-input space.

    Args:
        mean_01: per-channel mean of the training images on [0, 1] (``Dataset.channel_stats``).
        normalize: the run's ``Normalize`` (its ``mean``/``std``), or ``None`` for [0, 1] input.
    """
    mean_01 = [float(v) for v in mean_01]
    if normalize is None or getattr(normalize, "mean", None) is None:
        return mean_01
    return [(v - m) / max(s, 1e-8) for v, m, s in zip(mean_01, normalize.mean, normalize.std)]


def occluder_positions(extent: int, size: int, stride: int) -> torch.Tensor:
    """Top-left coordinates along one axis: ``0, stride, ...`` and ``extent - size``."""
    if not 0 < size <= extent:
        raise ConvscopeError(f"occluder size: expected 1..{extent}, got {size}")
    if stride <= 0:
        raise ConvscopeError(f"occluder stride: expected a positive integer, got {stride}")
    pos = list(range(0, extent - size + 1, stride))
    if pos[-1] != extent - size:
        pos.append(extent - size)
    return torch.tensor(pos, dtype=torch.int64)


def occlusion_masks(
    hw: tuple[int, int], size: int, stride: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(ys (ny,), xs (nx,), masks (ny*nx, H, W) bool)``, masks in row-major position order."""
    h, w = hw
    ys, xs = occluder_positions(h, size, stride), occluder_positions(w, size, stride)
    rows = torch.arange(h)
    cols = torch.arange(w)
    in_y = (rows >= ys[:, None]) & (rows < ys[:, None] + size)  # (ny, H)
    in_x = (cols >= xs[:, None]) & (cols < xs[:, None] + size)  # (nx, W)
    masks = in_y[:, None, :, None] & in_x[None, :, None, :]  # (ny, nx, H, W)
    return ys, xs, masks.reshape(-1, h, w).to(device)


@dataclass
class Occlusion:
    """Occlusion maps for ``N`` images over ``ny x nx`` square positions (arrays on CPU).

    Attributes:
        ys, xs: ``(ny,)``, ``(nx,)`` top-left corners of the square.
        labels: ``(N,)`` true classes.
        map_index: ``(N,)`` the map of ``layer`` strongest on each unoccluded image.
        activation: ``(N, ny, nx)`` (b) total activation of that map.
        prob_true: ``(N, ny, nx)`` (d) probability of the true class.
        top_class: ``(N, ny, nx)`` (e) most probable class; top_prob its probability.
        clean_activation, clean_prob_true, clean_top_class: ``(N,)`` unoccluded values.
    """

    layer: str
    size: int
    stride: int
    fill: list[float]
    ys: torch.Tensor
    xs: torch.Tensor
    labels: torch.Tensor
    map_index: torch.Tensor
    activation: torch.Tensor
    prob_true: torch.Tensor
    top_class: torch.Tensor
    top_prob: torch.Tensor
    clean_activation: torch.Tensor
    clean_prob_true: torch.Tensor
    clean_top_class: torch.Tensor
    choices: dict[str, Any] = field(default_factory=dict)

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        names = ("ys", "xs", "labels", "map_index", "activation", "prob_true", "top_class")
        names += ("top_prob", "clean_activation", "clean_prob_true", "clean_top_class")
        return {prefix + n: getattr(self, n).numpy() for n in names}


def _checked_arguments(
    labels: Sequence[int] | torch.Tensor,
    n: int,
    c: int,
    fill: float | Sequence[float],
    batch_size: int,
) -> tuple[torch.Tensor, list[float]]:
    """The labels as an ``(N,)`` int64 tensor and the fill per channel, or one clear error."""
    labels_t = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    if labels_t.shape[0] != n:
        raise ConvscopeError(f"labels: expected {n} labels, got {labels_t.shape[0]}")
    if batch_size <= 0:
        raise ConvscopeError(f"batch_size: expected a positive integer, got {batch_size}")
    fill_list = [float(fill)] * c if isinstance(fill, (int, float)) else [float(v) for v in fill]
    if len(fill_list) != c:
        raise ConvscopeError(f"fill: expected 1 or {c} values, got {len(fill_list)}")
    return labels_t, fill_list


def _all_rows(
    chain: Chain,
    idx: int,
    x0: torch.Tensor,
    masks: torch.Tensor,
    fill_t: torch.Tensor,
    batch_size: int,
    reuse: PrefixReuse | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every image under every mask row: ``(N, rows)`` totals of the image's strongest map,
    ``(N, rows, K)`` logits (both float64) and the ``(N,)`` strongest map of each image.

    Row 0 of ``masks`` is empty (the unoccluded image), evaluated in the same passes; it comes
    first, so each image's strongest map is known before its occluded rows are summed, and only
    that map is summed. Batches are aligned to images, so each batch is one broadcast `where`
    (no gathers); results stay on the device until the end.
    """
    n, c, h, w = x0.shape
    n_rows = masks.shape[0]
    map_index = torch.zeros(n, dtype=torch.int64, device=chain.device)
    totals_list, logits_all = [], []

    passes = 0

    def run(xb: torch.Tensor, i0: int, k: int, first: bool) -> None:
        """Rows of images i0..i0+k-1 (all rows of each, or one chunk of one image)."""
        nonlocal passes
        if reuse is None:
            acts, logits = chain.run(xb, taps=[idx])
        else:
            acts, logits = reuse.run(chain, passes, xb, [idx])
        passes += 1
        if logits is None or logits.dim() != 2:
            shape = None if logits is None else tuple(logits.shape)
            raise ConvscopeError(f"model output {shape}: expected (B, classes)")
        a = acts[idx].view(k, -1, *acts[idx].shape[1:])  # (k, rows, M, ...)
        if first:  # row 0 is the unoccluded image: pick its strongest map (max over positions)
            clean = a[:, 0]
            strength = clean.flatten(2).amax(2) if clean.dim() > 2 else clean
            map_index[i0 : i0 + k] = strength.argmax(dim=1)
        for j, m in enumerate(map_index[i0 : i0 + k].tolist()):
            sel = a[j, :, m]  # (rows, H_l, W_l) or (rows,)
            totals_list.append(sel.flatten(1).sum(1) if sel.dim() > 1 else sel)
        logits_all.append(logits)

    if n_rows <= batch_size:
        per_batch = batch_size // n_rows
        for i0 in range(0, n, per_batch):
            i1 = min(n, i0 + per_batch)
            xb = torch.where(masks[None, :, None], fill_t[None], x0[i0:i1, None])
            run(xb.reshape(-1, c, h, w), i0, i1 - i0, True)
    else:
        for i in range(n):
            for p0 in range(0, n_rows, batch_size):
                p1 = min(n_rows, p0 + batch_size)
                xb = torch.where(masks[p0:p1, None], fill_t, x0[i : i + 1])
                run(xb, i, 1, p0 == 0)
    act_all = torch.cat(totals_list).double().view(n, n_rows)  # (N, P + 1)
    logits = torch.cat(logits_all).double().view(n, n_rows, -1)
    return act_all, logits, map_index


def _choices(size: int, stride: int, fill_list: list[float], layer_read: str) -> dict[str, Any]:
    return {
        "source": "Zeiler & Fergus 2014 (arXiv 1311.2901) section 4.2 (Occlusion "
        "Sensitivity), Fig. 7",
        "size_px": size,
        "stride_px": stride,
        "fill": fill_list,
        "fill_space": "model input (after normalisation)",
        "positions": "square fully inside the image; top-left at 0, stride, ... and H-size",
        "strongest_map": "largest max-over-positions activation on the unoccluded image",
        "map_b": "sum over positions of that map's activation, per occluder position",
        "layer_read": layer_read,
    }


@torch.no_grad()
def occlusion_maps(
    model: nn.Module | Chain,
    images: torch.Tensor,
    labels: Sequence[int] | torch.Tensor,
    layer: str | int,
    *,
    size: int = DEFAULT_SIZE,
    stride: int = DEFAULT_STRIDE,
    fill: float | Sequence[float] = 0.0,
    transform: Transform | None = None,
    batch_size: int = 256,
    block_output: bool = True,
    device: str | torch.device | None = None,
    reuse: PrefixReuse | None = None,
) -> Occlusion:
    """Slide a ``size`` x ``size`` square of value ``fill`` over each image (Fig. 7).

    Args:
        model: the CNN or its :class:`Chain`, on its device (``device`` moves it).
        images: ``(N, C, H, W)``, uint8 with ``transform`` or float model inputs.
        labels: ``(N,)`` true classes.
        layer: where map (b) is read; ``"conv2"`` means its rectified output.
        size, stride: occluder side and step in pixels.
        fill: occluder value in model-input space, scalar or per channel (see
            :func:`mean_fill`).
        batch_size: occluded copies per forward pass, across images.
        reuse: layer outputs of an earlier call on the same images with a model of the same
            graph, reused where its weights are the same (:class:`.reuse.PrefixReuse`; the
            first call records them).

    Returns:
        :class:`Occlusion`.
    """
    chain = chain_on(model, device)
    check_images(images)
    idx = chain.resolve(layer, block_output)
    n, c, h, w = images.shape
    labels_t, fill_list = _checked_arguments(labels, n, c, fill, batch_size)
    dev = chain.device
    x0 = to_input(images, chain, transform)  # (N, C, H, W)
    fill_t = torch.tensor(fill_list, dtype=x0.dtype, device=dev).view(1, c, 1, 1)
    ys, xs, masks = occlusion_masks((h, w), size, stride, dev)
    masks = torch.cat([masks.new_zeros((1, h, w)), masks])  # (P + 1, H, W): row 0 unoccluded
    n_rows = masks.shape[0]
    if reuse is not None:
        reuse.begin(chain, (x0, fill_t, masks, batch_size, idx), n * n_rows, (c, h, w))
    act_all, logits, map_index = _all_rows(chain, idx, x0, masks, fill_t, batch_size, reuse)
    probs = torch.softmax(logits, dim=2)  # (N, P + 1, K)
    if int(labels_t.max()) >= probs.shape[2] or int(labels_t.min()) < 0:
        raise ConvscopeError(f"labels: expected classes in 0..{probs.shape[2] - 1}")
    lab = labels_t.to(dev)
    pt_all = probs.gather(2, lab.view(n, 1, 1).expand(n, n_rows, 1))[..., 0]
    mp, mc = probs.max(dim=2)
    act, pt = act_all[:, 1:].cpu(), pt_all[:, 1:].cpu()
    top_c, top_p = mc[:, 1:].cpu(), mp[:, 1:].cpu()
    clean_act, clean_pt, clean_top = act_all[:, 0].cpu(), pt_all[:, 0].cpu(), mc[:, 0].cpu()
    shape = (n, len(ys), len(xs))
    return Occlusion(
        layer=chain.layers[idx].name,
        size=size,
        stride=stride,
        fill=fill_list,
        ys=ys,
        xs=xs,
        labels=labels_t,
        map_index=map_index.cpu(),
        activation=act.reshape(shape),
        prob_true=pt.reshape(shape),
        top_class=top_c.reshape(shape),
        top_prob=top_p.reshape(shape),
        clean_activation=clean_act,
        clean_prob_true=clean_pt,
        clean_top_class=clean_top,
        choices=_choices(size, stride, fill_list, chain.layers[idx].name),
    )


def centre_mask(occ: Occlusion, hw: tuple[int, int]) -> torch.Tensor:
    """``(ny, nx)`` bool: occluder centres inside the central half of the image (the object
    proxy used by :func:`occlusion_summary`)."""
    h, w = hw
    cy = occ.ys.double() + occ.size / 2.0
    cx = occ.xs.double() + occ.size / 2.0
    in_y = (cy - h / 2.0).abs() < h / 4.0
    in_x = (cx - w / 2.0).abs() < w / 4.0
    return in_y[:, None] & in_x[None, :]


def occlusion_summary(
    occ: Occlusion, hw: tuple[int, int], classes: Sequence[str]
) -> dict[str, Any]:
    """Numbers and a one-sentence observation for the report.

    Without object masks, "occluding the object" is approximated by squares centred in the
    central half of the image (objects in CIFAR-10 are mostly centred); the rest is
    "background". Recorded under ``choices``.
    """
    centre = centre_mask(occ, hw)
    drop = occ.clean_prob_true[:, None, None] - occ.prob_true  # (N, ny, nx)
    d_centre = float(drop[:, centre].mean())
    d_border = float(drop[:, ~centre].mean())
    flips = (occ.top_class != occ.clean_top_class[:, None, None]).double().mean()
    act_drop = 1.0 - occ.activation / occ.clean_activation[:, None, None].clamp_min(1e-12)
    min_pos = occ.prob_true.flatten(1).argmin(1)
    more = "more" if d_centre > d_border else "less"
    sentence = (
        f"Occluding the image centre (object proxy) lowers the true-class probability by "
        f"{d_centre:.3f} on average, {more} than occluding the border ({d_border:.3f}); "
        f"{float(flips) * 100:.1f}% of occluder positions change the predicted class."
    )
    return {
        "images": int(occ.labels.shape[0]),
        "classes": [classes[int(i)] for i in occ.labels] if classes else [],
        "clean_prob_true": occ.clean_prob_true.tolist(),
        "mean_prob_drop_centre": d_centre,
        "mean_prob_drop_border": d_border,
        "fraction_positions_class_changed": float(flips),
        "mean_map_activation_drop_fraction": float(act_drop.mean()),
        "min_prob_position_yx": [
            [int(occ.ys[int(p) // len(occ.xs)]), int(occ.xs[int(p) % len(occ.xs)])] for p in min_pos
        ],
        "observation": sentence,
        "choices": {
            **occ.choices,
            "object_proxy": "occluder centre within the central half of the image in both "
            "axes; everything else is background",
        },
    }
