"""``build_site(run_dir)``: the unit explorer of one run as a static site.

Layout of the site (default ``RUN/explore``)::

    index.html                    layers in order
    layers/<layer>.html           every unit of a layer as a tile
    units/<layer>/<u>.html        one page per unit (its own URL); <u>.png its sprite sheet
    tiles/<layer>/<u>.png         the tile: strongest patch and projection
    explore.css, explore.js       the only style and script
    .convscope-explore            marks the folder as ours (so a rebuild may replace it)

The site is written to a temporary sibling folder and moved into place at the end
(:mod:`convscope.explore.output`): a folder at ``out`` that convscope did not write is refused,
a rebuild removes only files inside the site that the previous build's marker lists, and a run
still being written (its lock held) is refused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from convscope import __version__, io
from convscope.analysis.filters import first_conv, first_conv_weights
from convscope.analysis.gabor import PARAM_NAMES, fit_filters, gabor_applicable
from convscope.analysis.zf._common import Transform
from convscope.analysis.zf.deconvnet import NoDeconvRule
from convscope.analysis.zf.evolution import Evolution, feature_evolution_of_layers
from convscope.analysis.zf.graph import Chain
from convscope.analysis.zf.reuse import same_tensors
from convscope.analysis.zf.topk import Maxima, max_per_map_of_layers
from convscope.errors import ConvscopeError, EnvironmentProblem
from convscope.explore import images, pages
from convscope.explore import random_weights as rw
from convscope.explore.assets import CSS, JS
from convscope.explore.compute import CHOICES, default_layers, layer_units
from convscope.explore.layer_site import unit_data, write_layer
from convscope.explore.output import MARKER, SiteWriter, Staging
from convscope.progress import NoProgress, Progress
from convscope.runs import FINISHED, RunDir
from convscope.studies._zf import zf_context
from convscope.studies.base import RunContext

log = logging.getLogger(__name__)

__all__ = ["MARKER", "build_site", "safe_name", "unit_data"]
MAX_SNAPSHOTS = 8


def safe_name(name: str) -> str:
    """A layer name as a file name (``layer1.0.conv1`` stays, other characters become _)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "layer"


def _snapshots(rd: RunDir) -> list[int]:
    steps = rd.checkpoint_steps()
    if not steps:
        raise ConvscopeError(f"{rd.checkpoint_dir}: no step_*.pt snapshots; train the run first")
    if len(steps) > MAX_SNAPSHOTS:  # keep the first and last, spread the rest
        pick = np.unique(np.round(np.linspace(0, len(steps) - 1, MAX_SNAPSHOTS)).astype(int))
        steps = [steps[i] for i in pick]
    return steps


def _info(rd: RunDir, ctx: Any, labels: torch.Tensor, steps: list[int]) -> dict[str, Any]:
    """What the index page says about the run."""
    acc = (rd.summary() or {}).get("final_test_accuracy")
    return {
        "run": str(rd.path),
        "model": rd.config().model.model,
        "data": ctx.dataset.source,
        "accuracy": "n/a" if acc is None else f"{acc:.4f}",
        "n_test": len(labels),
        "steps": steps,
        "choices": {**CHOICES, "random_weights": rw.CHOICE, "class_names": ctx.class_names_from},
    }


def _filters(model: torch.nn.Module) -> dict[str, Any]:
    """First conv layer: its filters and Gabor fits as data and per-filter PNG pairs; kernels
    under 5x5 get the filter alone and the reason (any 9-parameter fit of 9 pixels is exact,
    as the filters study says)."""
    wts = first_conv_weights(model)
    why = gabor_applicable(tuple(wts.shape[2:]))
    if why is not None:
        return {
            "not_applicable": f"Gabor fit {why}",
            "png": [
                images.png(images.sheet([[images.to_rgb8(w, True)]], wts.shape[2:])) for w in wts
            ],
            "cell": tuple(int(v) for v in wts.shape[2:]),
        }
    fits, _ = fit_filters(wts)
    pngs = []
    for f in range(wts.shape[0]):
        pair = [images.to_rgb8(wts[f], True), images.to_rgb8(fits.fitted[f][None], True)]
        pngs.append(images.png(images.sheet([pair], wts.shape[2:])))
    return {
        "r2": fits.r2,
        "params": [dict(zip(PARAM_NAMES, map(float, p))) for p in fits.params],
        "png": pngs,
        "cell": tuple(int(v) for v in wts.shape[2:]),
    }


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Whether two models hold the same parameters and buffers, bit for bit and in the same
    layout."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and same_tensors(list(sa.values()), [sb[k] for k in sa])


def _shared_passes(
    chain: Chain,
    images: torch.Tensor,
    transform: Transform,
    steps: Sequence[int],
    load: Callable[[int], torch.nn.Module],
    resolved: dict[str, int],
) -> tuple[dict[int, Maxima], dict[int, Evolution]]:
    """Every explored layer's per-image maxima from one pass over the test images, and their
    feature evolutions from one pass per snapshot, keyed by read index. No evolutions when a
    layer has no deconvnet rule: :func:`layer_units` then works layer by layer."""
    reads = list(dict.fromkeys(chain.resolve(i) for i in resolved.values()))
    maxima = max_per_map_of_layers(chain, images, reads, transform=transform, block_output=False)
    # the last snapshot is usually the final model itself: its pass is the one just taken
    known = {steps[-1]: maxima} if steps and _same_weights(chain.model, load(steps[-1])) else {}
    try:
        evs = feature_evolution_of_layers(
            list(steps), load, images, reads, transform=transform, known=known
        )
    except NoDeconvRule:
        return maxima, {}
    return maxima, dict(zip(reads, evs))


def build_site(
    run_dir: str | Path | RunDir,
    out: str | Path | None = None,
    *,
    layers: Sequence[str] | None = None,
    device: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the unit explorer of a run (see the module docstring).

    Args:
        run_dir: a trained run directory (with ``step_*.pt`` snapshots).
        out: the site folder (default ``RUN/explore``).
        layers: conv / fully connected layer names (default: every conv layer and every fully
            connected layer but the logits).
        device: default the run's device setting.
        progress: a bar (``start/update/close``); silent when None.

    Returns:
        ``{"out", "index", "layers", "units", "files", "bytes", "seconds", "note"}``; ``note``
        says when the run is not finished (the site then shows its snapshots so far).

    Raises:
        LockedError: the run is being trained or analysed now (exit 4): its files are still
            being written.
    """
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    rd.config()
    out = Path(out) if out is not None else rd.path / "explore"
    with _run_lock(rd):
        res = _build(rd, out, layers, device, progress)
    status = rd.status_or_none()
    if status not in FINISHED:
        last = rd.checkpoint_steps()[-1]
        res["note"] = (
            f"{rd.path}: the run is not finished (status {status or 'unknown'}); the site shows "
            f"its snapshots up to step {last}, its last completed state"
        )
    return res


@contextlib.contextmanager
def _run_lock(rd: RunDir) -> Iterator[None]:
    """The run's lock, so a run still being trained is refused (exit 4). A run folder this user
    may not write (read-only, someone else's) cannot be being written by convscope here: it is
    read without the lock."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(
                io.dir_lock(
                    rd.path,
                    what="run directory",
                    advice="it is still being written: explore it once it has stopped",
                )
            )
        except EnvironmentProblem:
            if os.access(rd.path, os.W_OK):
                raise
            log.info("%s: read-only; explored without its lock", rd.path)
        yield


def _file_names(names: Sequence[str]) -> dict[str, str]:
    """Each layer's file name: :func:`safe_name`, made unique by trailing underscores."""
    files: dict[str, str] = {}
    for n in names:
        f = safe_name(n)
        while f in files.values():
            f += "_"
        files[n] = f
    return files


def _caching_loader(rd: RunDir, device: str) -> Callable[[int], torch.nn.Module]:
    """The run's model at a snapshot step, each loaded once."""
    cache: dict[int, torch.nn.Module] = {}

    def load(step: int) -> torch.nn.Module:
        if step not in cache:
            cache[step] = rd.load_model(step, device=device)
        return cache[step]

    return load


def _build(
    rd: RunDir,
    out: Path,
    layers: Sequence[str] | None,
    device: str | None,
    progress: Progress | None,
) -> dict[str, Any]:
    t0 = time.monotonic()
    steps = _snapshots(rd)
    ctx = zf_context(RunContext(rd, device=device))
    chain = ctx.chain
    names = list(layers) if layers else default_layers(chain)
    for n in names:
        chain.index(n)  # an unknown name fails before any work
    images_t, _ = ctx.test
    resolved = {n: chain.resolve(chain.index(n)) for n in names}
    shapes = chain.output_shapes(tuple(images_t.shape[1:]))
    n_units = sum(int(shapes[resolved[n]][0]) for n in names)
    bar = progress or NoProgress()
    total = 2 * n_units
    done = 0
    bar.start(total, 0, f"explore {rd.path.name}")

    def tick(n: int, stage: str = "pages") -> None:
        nonlocal done
        done += n
        bar.update(done, {"stage": stage})

    stage = Staging(out)
    try:
        with stage as tmp:
            w = SiteWriter(tmp)
            _write_site(w, rd, ctx, steps, names, resolved, tick)
            stage.commit(w.written, run=str(rd.path), version=__version__)
    finally:
        bar.close()
    return {
        "out": str(out),
        "index": str(out / "index.html"),
        "layers": names,
        "units": n_units,
        "files": w.files,
        "bytes": w.bytes,
        "seconds": time.monotonic() - t0,
    }


def _write_site(
    w: SiteWriter,
    rd: RunDir,
    ctx: Any,
    steps: list[int],
    names: list[str],
    resolved: dict[str, int],
    tick: Callable[..., None],
) -> None:
    """Every file of the site, in the order the marker lists them."""
    chain = ctx.chain
    images_t, labels = ctx.test
    load = _caching_loader(rd, ctx.device)
    explored = {i: n for n, i in resolved.items()}
    files = _file_names(names)
    w.write("explore.css", CSS)
    w.write("explore.js", JS)
    summaries = []
    first = first_conv(ctx.model)[0]
    filt = (
        _filters(ctx.model)
        if first in names and chain.layers[chain.index(first)].module is not None
        else None
    )
    rws = rw.RandomWeights(chain, rd.config().train.seed)
    maxima, evolutions = _shared_passes(chain, images_t, ctx.normalize, steps, load, resolved)
    for n in names:
        read = chain.resolve(resolved[n])
        ly = layer_units(
            chain,
            n,
            images_t,
            labels,
            len(ctx.classes),
            ctx.normalize,
            steps,
            load,
            explored,
            maxima=maxima[read],
            evolution=evolutions.get(read),
        )
        rand = (rws, rws.layer(ly, images_t, ctx.normalize))
        tick(ly.n_units, f"computed {n}")
        fl = filt if n == first else None
        summaries.append(write_layer(w, ly, labels, ctx.classes, files, fl, tick, rand))
    w.write("index.html", pages.index_page(_info(rd, ctx, labels, steps), summaries))
