"""Activation statistics of every layer, on a fixed batch of test images, over training.

Zeiler & Fergus 2014 (arXiv 1311.2901) follow features through training (Sec. 4, "Feature
Evolution during Training", Fig. 4)
and the reference report plots each layer's activation histograms in TensorBoard, noting that
"the early layers converge very quickly while the fully connected layers take longer". This
module measures that, for any model.

Where activations are taken, and what a dead unit is: :mod:`convscope.analysis.hook_points`.

Choices (recorded in :data:`STAT_CHOICES`): the model is in eval mode (dropout off); std is the
population std (ddof 0); percentiles use linear interpolation (numpy's default); the histogram
has :data:`N_BINS` equal bins over the record's own min..max; "zero" means exactly 0.0; a unit
is a feature map (conv: max over batch and positions), a neuron (linear), or a hidden unit
(recurrent: max over batch and time steps). The fixed batch is the first ``size`` indices of a
permutation of the test split drawn from a private generator seeded with
:data:`BATCH_SEED` (the same images for every run on the same data), sorted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from convscope.analysis.hook_points import HookPoint, find_hook_points, take
from convscope.analysis.zf.graph import Chain, as_chain
from convscope.config import TrainConfig
from convscope.errors import ConvscopeError

# re-exported: the statistics of one layer's activations live in .stats
from convscope.studies.activations.stats import (  # noqa: F401
    BATCH_SEED,
    N_BINS,
    PERCENTILES,
    SCALAR_STATS,
    STAT_CHOICES,
    _units,
    layer_stats,
    unit_max,
)
from convscope.train.memory_format import model_memory_format

log = logging.getLogger(__name__)

STREAM = "activations"


def fixed_batch_indices(n: int, size: int, seed: int = BATCH_SEED) -> np.ndarray:
    """Sorted indices of the fixed measurement batch: ``min(size, n)`` of ``range(n)``.

    Uses a private ``torch.Generator``; the global RNG is untouched.
    """
    if n <= 0:
        raise ConvscopeError("activation statistics: the test split is empty")
    if size <= 0:
        raise ConvscopeError(
            f"config key 'activation_stats_size': expected a positive integer, got {size}"
        )
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(n, generator=g)[: min(size, n)]
    return np.sort(idx.numpy())


def _row(
    step: int, n_images: int, layers: dict[str, dict[str, Any]], points: list[HookPoint]
) -> dict[str, Any]:
    return {
        "step": int(step),
        "n_images": int(n_images),
        "layers": {p.name: layers[p.name] for p in points},
        "points": {p.name: {k: v for k, v in asdict(p).items() if k != "name"} for p in points},
    }


def stats_row(
    step: int, acts: dict[str, torch.Tensor], points: list[HookPoint], bins: int = N_BINS
) -> dict[str, Any]:
    """One record from captured activations (:func:`convscope.analysis.hook_points.capture`):
    ``{"step", "n_images", "layers": {name: layer_stats}, "points": {name: where it was
    taken}}``."""
    layers = {p.name: layer_stats(acts[p.name], p.kind, bins) for p in points}
    return _row(step, next(iter(acts.values())).shape[0], layers, points)


class ActivationMeter:
    """Measures a model's activation statistics on one fixed, pre-normalised batch.

    Args:
        x: ``(B, C, H, W)`` normalised float input on the model's device.
        bins: histogram bins per layer.
    """

    def __init__(self, x: torch.Tensor, bins: int = N_BINS) -> None:
        self.x = x
        self.bins = bins
        self.points: list[HookPoint] | None = None
        self._chain: Chain | None = None

    def chain(self, model: nn.Module) -> Chain:
        """The model's layer graph, traced once per model object."""
        if self._chain is None or self._chain.model is not model:
            self._chain = as_chain(model)
        return self._chain

    def measure(self, model: nn.Module, step: int) -> dict[str, Any]:
        chain = self.chain(model)
        if self.points is None:
            self.points = find_hook_points(chain)
            log.info(
                "activation statistics at %s",
                ", ".join(f"{p.name}={p.module or '<model>'}" for p in self.points),
            )
        points = self.points
        with torch.no_grad():  # the graph runs in eval mode itself
            taps, _ = chain.run(self.x, [p.index for p in points], to_end=False)
        layers = {
            p.name: layer_stats(take(taps[p.index], chain, p), p.kind, self.bins) for p in points
        }
        return _row(step, self.x.shape[0], layers, points)


def measurement_batch(
    dataset: Any, normalize: Callable[[torch.Tensor], torch.Tensor], size: int, device: Any = "cpu"
) -> tuple[torch.Tensor, np.ndarray]:
    """The fixed batch: normalised ``(B, C, H, W)`` float images on ``device``, and indices."""
    idx = fixed_batch_indices(len(dataset.test), size)
    images = dataset.test.images[torch.from_numpy(idx)]
    return normalize(images.to(device)), idx


def write_tensorboard(tb: Any, row: dict[str, Any]) -> None:
    """Histograms (tags ``Layer_1_Activations``, ..., ``Logits``) and scalars
    (``Layer_1_Activations/mean``, ``/std``, ``/zero_fraction``) for one record."""
    step = row["step"]
    for name, s in row["layers"].items():
        counts = np.asarray(s["hist_counts"], dtype=np.float64)
        edges = np.asarray(s["hist_edges"], dtype=np.float64)
        n = float(counts.sum())
        tb.add_histogram_raw(
            name,
            min=s["min"],
            max=s["max"],
            num=n,
            sum=s["mean"] * n,
            sum_squares=n * (s["std"] ** 2 + s["mean"] ** 2),
            bucket_limits=edges[1:].tolist(),
            bucket_counts=counts.tolist(),
            global_step=step,
        )
        for stat in SCALAR_STATS:
            tb.add_scalar(f"{name}/{stat}", s[stat], step)


class ActivationStatsCallback:
    """Training-loop callback: activation statistics every ``every`` iterations.

    Writes TensorBoard histograms and scalars (:func:`write_tensorboard`) and appends one row per
    call to the run's ``activations.jsonl`` (``ctx.records.append("activations", row)``).
    The model's training mode, gradients and the global RNG are left as they were.

    Args:
        every: iterations between records (the loop also calls at step 0 and the last step).
        size: number of fixed test images (``train.activation_stats_size``).
        bins: histogram bins per layer.
    """

    def __init__(
        self,
        every: int = TrainConfig.activation_stats_every,
        size: int = TrainConfig.activation_stats_size,
        bins: int = N_BINS,
    ) -> None:
        if every <= 0:
            raise ConvscopeError(
                f"config key 'activation_stats_every': expected a positive integer, got {every}"
            )
        fixed_batch_indices(1, size)  # validates size
        self.every = every
        self.size = size
        self.bins = bins
        self._meter: ActivationMeter | None = None
        self._off = False

    def __call__(self, ctx: Any) -> None:
        if self._meter is None:
            x, _ = measurement_batch(ctx.dataset, ctx.normalize, self.size, ctx.device)
            # the loop's memory format (channels-last unless the model cannot run it)
            x = x.contiguous(memory_format=model_memory_format(ctx.model))
            self._meter = ActivationMeter(x, self.bins)
        if self._off:
            return
        try:
            row = self._meter.measure(ctx.model, ctx.step)
        except ConvscopeError as e:  # a model the layer graph cannot trace: train without
            self._off = True
            log.warning("activation statistics off for this run: %s", e)
            return
        if getattr(ctx, "tb", None) is not None:
            write_tensorboard(ctx.tb, row)
        ctx.records.append(STREAM, row)


def activation_rows_over_checkpoints(
    run_dir: str | Path,
    size: int | None = None,
    steps: list[int] | None = None,
    bins: int = N_BINS,
    device: str | torch.device = "cpu",
) -> list[dict[str, Any]]:
    """Recompute the callback's rows from a run's checkpoints (no training).

    Args:
        run_dir: a run directory.
        size: fixed-batch size; default ``train.activation_stats_size`` of the run's config.
        steps: checkpoint steps; default all of them.
    """
    from convscope.runs import RunDir

    rd = RunDir(run_dir)
    cfg = rd.config()
    all_steps = rd.checkpoint_steps()
    if not all_steps:
        raise ConvscopeError(
            f"{rd.checkpoint_dir}: no checkpoints to compute activation statistics from"
        )
    use = all_steps if steps is None else [s for s in steps if s in all_steps]
    dataset, normalize = rd.load_data()
    x, _ = measurement_batch(dataset, normalize, size or cfg.train.activation_stats_size, device)
    meter = ActivationMeter(x, bins)
    rows = []
    for s in use:
        model = rd.load_model(s, device=device)
        rows.append(meter.measure(model, s))
        log.info("activation statistics: step %d", s)
    return rows


def rows_to_arrays(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Stack records into arrays (sorted by step; a repeated step keeps its last record):
    ``steps (S,)`` and per layer ``"<layer>.<stat>"``:
    scalars ``(S,)``, ``percentiles (S, 7)``, ``hist_edges (S, bins+1)``, ``hist_counts (S, bins)``,
    ``unit_max (S, U)``, recurrent ``step_mean/step_std/step_zero_fraction (S, T)``."""
    if not rows:
        raise ConvscopeError("activation statistics: no records")
    by_step = {int(r["step"]): r for r in rows}  # a repeated step: the last record wins
    if len(by_step) < len(rows):
        log.warning(
            "activation statistics: %d repeated steps, kept the last record of each",
            len(rows) - len(by_step),
        )
    rows = [by_step[s] for s in sorted(by_step)]
    out: dict[str, np.ndarray] = {"steps": np.array([r["step"] for r in rows], dtype=np.int64)}
    for name in rows[0]["layers"]:
        for key in rows[0]["layers"][name]:
            vals = [r["layers"][name][key] for r in rows]
            out[f"{name}.{key}"] = np.asarray(
                vals, dtype=np.int64 if key == "hist_counts" else np.float64
            )
    return out


def layer_names(arrays: dict[str, np.ndarray]) -> list[str]:
    """Layer names in an arrays dict, in record order (``Layer_1_Activations``, ..., ``Logits``)."""
    seen: list[str] = []
    for k in arrays:
        if "." in k:
            name = k.split(".", 1)[0]
            if name not in seen:
                seen.append(name)
    return seen


def dead_units(
    model: nn.Module,
    images: torch.Tensor,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int = 128,  # not more: larger batches outgrow the CPU caches
    device: str | torch.device = "cpu",
    points: list[HookPoint] | None = None,
) -> dict[str, dict[str, Any]]:
    """Dead units on all of ``images``, per layer except the logits (:data:`DEAD_RULES`: after
    a rectifier, never above ``f(0)``; elsewhere, constant).

    Args:
        images: ``(N, C, H, W)`` uint8 (e.g. the whole test split), processed in batches.
        normalize: uint8 batch -> float input.

    Returns:
        ``{layer: {"n_units", "n_dead", "dead_fraction", "dead": [indices], "after", "kind",
        "dead_rule", "threshold", "unit_max": [max per unit]}}``.
    """
    if images.dim() != 4 or images.shape[0] == 0:
        raise ConvscopeError(
            f"dead units: expected images (N, C, H, W) with N > 0, got {tuple(images.shape)}"
        )
    if batch_size <= 0:
        raise ConvscopeError(f"dead units: batch_size must be positive, got {batch_size}")
    model = model.to(device)
    chain = as_chain(model)
    if points is None:
        points = find_hook_points(chain)
    extrema = UnitExtrema(chain, points)
    with torch.no_grad():  # the graph runs in eval mode itself
        for i in range(0, images.shape[0], batch_size):
            x = normalize(images[i : i + batch_size].to(device))
            taps, _ = chain.run(x, extrema.taps, to_end=False)
            extrema.update(taps)
    return extrema.dead()


class UnitExtrema:
    """Each unit's largest (and, where a constant-unit rule reads it, smallest) activation
    over the batches given to :meth:`update`, at the hook points ``points`` of ``chain``
    (the logits left out): what :func:`dead_units` decides on. A pass over the images that
    other analyses share feeds it batch by batch (``taps``: the chain indices it reads)."""

    def __init__(self, chain: Chain, points: list[HookPoint]) -> None:
        self.chain = chain
        self.points = [p for p in points if p.kind != "logits"]
        self.taps = [p.index for p in self.points]
        self.maxima: dict[str, torch.Tensor] = {}
        self.minima: dict[str, torch.Tensor] = {}

    def update(self, taps: dict[int, Any]) -> None:
        """One batch's outputs of the chain, keyed by index (at least :attr:`taps`)."""
        maxima, minima = self.maxima, self.minima
        for p in self.points:
            t = take(taps[p.index], self.chain, p)
            hi = _units(t, p.kind)
            maxima[p.name] = torch.maximum(maxima[p.name], hi) if p.name in maxima else hi
            if p.dead_rule != "rectifier":  # only a constant-unit rule reads the minimum
                lo = -_units(-t, p.kind)
                minima[p.name] = torch.minimum(minima[p.name], lo) if p.name in minima else lo

    def dead(self) -> dict[str, dict[str, Any]]:
        """The :func:`dead_units` result of the batches seen."""
        out = {}
        for p in self.points:
            m = self.maxima[p.name].float().cpu()
            if p.dead_rule == "rectifier":
                dead_mask = m <= p.threshold
            else:
                lo = self.minima[p.name].float().cpu()
                dead_mask = (m - lo) <= 1e-6 * torch.clamp(m.abs(), min=1.0)
            dead = torch.nonzero(dead_mask).flatten().tolist()
            out[p.name] = {
                "layer": p.layer,
                "kind": p.kind,
                "after": p.after,
                "dead_rule": p.dead_rule,
                "threshold": p.threshold,
                "n_units": int(m.numel()),
                "n_dead": len(dead),
                "dead_fraction": len(dead) / max(int(m.numel()), 1),
                "dead": dead,
                "unit_max": m.tolist(),
            }
        return out
