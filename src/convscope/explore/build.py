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
import math
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
from convscope.analysis.gabor import PARAM_NAMES, fit_filters
from convscope.analysis.zf._common import Transform
from convscope.analysis.zf.deconvnet import NoDeconvRule
from convscope.analysis.zf.evolution import Evolution, feature_evolution_of_layers
from convscope.analysis.zf.graph import Chain
from convscope.analysis.zf.topk import Maxima, max_per_map_of_layers
from convscope.errors import ConvscopeError, EnvironmentProblem
from convscope.explore import images, pages
from convscope.explore import random_weights as rw
from convscope.explore.assets import CSS, JS
from convscope.explore.compute import CHOICES, LayerUnits, default_layers, layer_units
from convscope.explore.output import MARKER, SiteWriter, Staging
from convscope.progress import NoProgress, Progress
from convscope.runs import FINISHED, RunDir
from convscope.studies._zf import zf_context
from convscope.studies.base import RunContext

log = logging.getLogger(__name__)

__all__ = ["MARKER", "build_site", "safe_name", "unit_data"]
MAX_SNAPSHOTS = 8
CELL_PX = 80  # displayed size of one patch, about
STRIP = 12  # tiles on the index page per layer


def safe_name(name: str) -> str:
    """A layer name as a file name (``layer1.0.conv1`` stays, other characters become _)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "layer"


def _num(v: float) -> float | None:
    v = float(v)
    return None if math.isnan(v) or math.isinf(v) else v


def _snapshots(rd: RunDir) -> list[int]:
    steps = rd.checkpoint_steps()
    if not steps:
        raise ConvscopeError(f"{rd.checkpoint_dir}: no step_*.pt snapshots; train the run first")
    if len(steps) > MAX_SNAPSHOTS:  # keep the first and last, spread the rest
        pick = np.unique(np.round(np.linspace(0, len(steps) - 1, MAX_SNAPSHOTS)).astype(int))
        steps = [steps[i] for i in pick]
    return steps


def unit_data(
    ly: LayerUnits,
    u: int,
    labels: torch.Tensor,
    classes: Sequence[str],
    files: dict[str, str],
) -> dict[str, Any]:
    """The numbers of unit ``u`` (JSON-ready; the page shows exactly these)."""
    t = ly.topk
    dead = bool(ly.dead[u])
    top = []
    if not dead:
        for j in range(t.values.shape[1]):
            if float(t.values[u, j]) <= 0:  # ties at 0: the order means nothing
                break
            n = int(t.image_index[u, j])
            top.append(
                {
                    "test_index": n,
                    "class": int(labels[n]),
                    "class_name": classes[int(labels[n])],
                    "value": float(t.values[u, j]),
                    "y": int(t.y[u, j]),
                    "x": int(t.x[u, j]),
                    "box": [int(b) for b in t.boxes[u, j]],
                }
            )
    per = ly.per_image[:, u].double()
    settle = int(ly.settle[u])
    d: dict[str, Any] = {
        "layer": ly.name,
        "read": ly.read,
        "unit": u,
        "kind": ly.kind,
        "dead": dead,
        "max": float(ly.per_image[:, u].max()),
        "mean": float(per.mean()),
        "purity": _num(ly.purity[u]),
        "top": top,
        "evolution": {
            "steps": ly.steps.tolist(),
            "values": [float(v) for v in ly.evo_values[u]],
            "test_index": [int(v) for v in ly.evo_image[u]],
            "settle_step": None if settle < 0 else settle,
        },
        "histogram": {
            "edges": [float(v) for v in ly.hist_edges[u]],
            "counts": [int(v) for v in ly.hist_counts[u]],
        },
        "class_means": {
            "classes": list(classes),
            "values": [_num(v) for v in ly.class_means[u]],
        },
    }
    if ly.inputs is not None:
        row = ly.inputs[u]
        order = [int(i) for i in np.argsort(-row, kind="stable")[:8] if row[i] > 0]
        d["inputs"] = [
            {
                "layer": ly.input_layer,
                "unit": c,
                "contribution": float(row[c]),
                **({"href": f"{files[ly.input_layer]}/{c}.html"} if ly.input_layer else {}),
            }
            for c in order
        ]
    return d


def _png(rgb: np.ndarray | None) -> Any:
    def encode() -> bytes:
        assert rgb is not None
        return images.png(rgb)

    return encode


def _scale(h: int, w: int) -> int:
    return max(1, CELL_PX // max(h, w))


def _write_layer(
    w: SiteWriter,
    ly: LayerUnits,
    labels: torch.Tensor,
    classes: Sequence[str],
    files: dict[str, str],
    filt: dict[str, Any] | None,
    tick: Any,
    rand: tuple[rw.RandomWeights, rw.RandomTopK | None] | None = None,
) -> dict[str, Any]:
    """Unit pages, sprites, tiles and the layer page of one layer; its index row."""
    lf = files[ly.name]
    n_test = len(labels)
    t = ly.topk
    assert t.patches is not None and t.projection_patches is not None
    ph, pw = int(t.patches.shape[-2]), int(t.patches.shape[-1])
    sc = _scale(ph, pw)
    k, s = t.values.shape[1], ly.steps.shape[0]
    r = rand[1] if rand is not None else None
    sheet_hw = ((5 if r is not None else 4) * ph, max(k, s) * pw)
    style = pages.sheet_style((ph, pw), sheet_hw, sc)
    whole = ly.rf.full
    alive_tiles, dead_tiles = [], []
    m = ly.n_units
    for u in range(m):
        d = unit_data(ly, u, labels, classes, files)
        rows: list[list[np.ndarray | None]] = [
            [images.to_rgb8(p.numpy(), False) for p in t.patches[u]],
            [images.to_rgb8(p.numpy(), True) for p in t.projection_patches[u]],
            [images.to_rgb8(p, False) for p in ly.evo_patch[u]],
            [images.to_rgb8(p, True) for p in ly.evo_proj[u]],
        ]
        if r is not None:  # row 4: the top projections under random weights
            rows.append([images.to_rgb8(p.numpy(), True) for p in r.projection_patches[u]])
        tile_pair = [rows[0][0], rows[1][0]]
        top_src: list[str | None] = [None] * k
        evo_src: list[str | None] = [None] * s
        if whole:  # the patch is the whole test image: one shared file per image
            for j, e in enumerate(d["top"]):
                top_src[j] = w.once(f"img/test/{e['test_index']}.png", _png(rows[0][j]))
            for j, n in enumerate(d["evolution"]["test_index"]):
                evo_src[j] = w.once(f"img/test/{n}.png", _png(rows[2][j]))
            rows[0], rows[2] = [], []
        if d["dead"]:
            rows[0] = rows[1] = []
            rows[rw.SHEET_RANDOM :] = [[] for _ in rows[rw.SHEET_RANDOM :]]
        w.write(f"units/{lf}/{u}.png", images.png(images.sheet(rows, (ph, pw))))
        src = f"{u}.png"

        def c(r: int, col: int, alt: str, whole_src: str | None = None, src: str = src) -> str:
            if whole_src is not None:
                return pages.whole_cell(f"../../{whole_src}", alt)
            return pages.sprite_cell(src, r, col, (ph * sc, pw * sc), alt)

        view: dict[str, Any] = {
            "prev": f"{u - 1}.html" if u > 0 else None,
            "next": f"{u + 1}.html" if u < m - 1 else None,
            "layer_file": lf,
            "n_test": n_test,
            "style": style,
            "top_cells": [
                (c(0, j, f"test #{e['test_index']}", top_src[j]), c(1, j, "projection"))
                for j, e in enumerate(d["top"])
            ],
            "evo_cells": [
                (c(2, j, f"step {st}", evo_src[j]), c(3, j, f"projection, step {st}"))
                for j, st in enumerate(d["evolution"]["steps"])
            ],
        }
        if r is not None and rand is not None and not d["dead"]:
            d["random_weights"] = rw.unit_numbers(
                r, u, len(d["top"]), rand[0].seed, rand[0].torch_seed
            )
            view["random_html"] = rw.section(
                d,
                [
                    (c(1, j, "projection"), c(rw.SHEET_RANDOM, j, "projection, random weights"))
                    for j in range(len(d["top"]))
                ],
            )
        if filt is not None:
            d["filter"] = {"r2": _num(filt["r2"][u]), "gabor": filt["params"][u]}
            fh, fw = filt["cell"]
            w.write(f"units/{lf}/{u}-filter.png", filt["png"][u])
            view["filter_cells"] = [
                pages.cell(f"{u}-filter.png", 0, j, (fh, fw), (fh, 2 * fw), _scale(fh, fw), a)
                for j, a in enumerate(("filter", "Gabor fit"))
            ]
        w.write(f"units/{lf}/{u}.html", pages.unit_page(d, view))
        td = {
            "unit": u,
            "href": f"../units/{lf}/{u}.html",
            "dead": d["dead"],
            "max": d["max"],
            "purity": d["purity"],
            "settle": d["evolution"]["settle_step"],
            "size": ph * sc,
            "img": "",
        }
        if not d["dead"]:
            w.write(
                f"tiles/{lf}/{u}.png",
                images.png(images.sheet([tile_pair], (ph, pw))),
            )
            td["img"] = "".join(
                pages.cell(f"../tiles/{lf}/{u}.png", 0, j, (ph, pw), (ph, 2 * pw), sc, a, True)
                for j, a in enumerate(("patch", "projection"))
            )
        (dead_tiles if d["dead"] else alive_tiles).append(td)
        tick(1)
    alive_p = ly.purity[~np.isnan(ly.purity)]
    rf = "whole image" if ly.rf.full else f"{ly.rf.size[0]} x {ly.rf.size[1]} px"
    summary = {
        "name": ly.name,
        "display": ly.display or ly.name,
        "read": ly.read,
        "out_shape": list(ly.out_shape),
        "rf": rf,
        "units": m,
        "dead": int(ly.dead.sum()),
        "dead_fraction": float(ly.dead.mean()),
        "mean_purity": float(alive_p.mean()) if alive_p.size else None,
        "n_test": n_test,
        "href": f"layers/{lf}.html",
    }
    w.write(
        f"layers/{lf}.html",
        pages.layer_page(
            summary, [pages.tile(x) for x in alive_tiles], [pages.tile(x) for x in dead_tiles]
        ),
    )
    strongest = sorted(alive_tiles, key=lambda x: -x["max"])[:STRIP]
    summary["strip"] = "".join(
        pages.cell(
            f"tiles/{lf}/{x['unit']}.png",
            0,
            1,
            (ph, pw),
            (ph, 2 * pw),
            max(1, sc // 2),
            f"unit {x['unit']}",
            True,
        )
        for x in strongest
    )
    return summary


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
    """First conv layer: its filters and Gabor fits as data and per-filter PNG pairs."""
    wts = first_conv_weights(model)
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
    try:
        evs = feature_evolution_of_layers(list(steps), load, images, reads, transform=transform)
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
    images_t, labels = ctx.test
    cache: dict[int, torch.nn.Module] = {}

    def load(step: int) -> torch.nn.Module:
        if step not in cache:
            cache[step] = rd.load_model(step, device=ctx.device)
        return cache[step]

    resolved = {n: chain.resolve(chain.index(n)) for n in names}
    explored = {i: n for n, i in resolved.items()}
    files: dict[str, str] = {}
    for n in names:
        f = safe_name(n)
        while f in files.values():
            f += "_"
        files[n] = f
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
            maxima, evolutions = _shared_passes(
                chain, images_t, ctx.normalize, steps, load, resolved
            )
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
                summaries.append(_write_layer(w, ly, labels, ctx.classes, files, fl, tick, rand))
            w.write("index.html", pages.index_page(_info(rd, ctx, labels, steps), summaries))
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
