"""``build_site(run_dir)``: the unit explorer of one run as a static site.

Layout of the site (default ``RUN/explore``)::

    index.html                    layers in order
    layers/<layer>.html           every unit of a layer as a tile
    units/<layer>/<u>.html        one page per unit (its own URL); <u>.png its sprite sheet
    tiles/<layer>/<u>.png         the tile: strongest patch and projection
    explore.css, explore.js       the only style and script
    .convscope-explore            marks the folder as ours (so a rebuild may replace it)

The site is written to a temporary sibling folder and moved into place at the end; a folder
at ``out`` that convscope did not write is refused, and a rebuild removes only files the
previous build wrote.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
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
from convscope.errors import ConvscopeError
from convscope.explore import images, pages
from convscope.explore.assets import CSS, JS
from convscope.explore.compute import CHOICES, LayerUnits, default_layers, layer_units
from convscope.progress import NoProgress, Progress
from convscope.runs import RunDir
from convscope.studies._zf import zf_context
from convscope.studies.base import RunContext

log = logging.getLogger(__name__)

MARKER = ".convscope-explore"
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


class _Writer:
    """Writes files under the temporary site folder and counts their bytes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bytes = 0
        self.files = 0
        self.written: list[str] = []
        self._once: set[str] = set()

    def once(self, rel: str, rgb: np.ndarray | None) -> str:
        """Write a PNG the first time ``rel`` is asked for; return ``rel``."""
        if rel not in self._once:
            assert rgb is not None
            self.write(rel, images.png(rgb))
            self._once.add(rel)
        return rel

    def write(self, rel: str, data: bytes | str) -> None:
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        b = data.encode() if isinstance(data, str) else data
        p.write_bytes(b)
        self.bytes += len(b)
        self.files += 1
        self.written.append(rel)


def _scale(h: int, w: int) -> int:
    return max(1, CELL_PX // max(h, w))


def _write_layer(
    w: _Writer,
    ly: LayerUnits,
    labels: torch.Tensor,
    classes: Sequence[str],
    files: dict[str, str],
    filt: dict[str, Any] | None,
    tick: Any,
) -> dict[str, Any]:
    """Unit pages, sprites, tiles and the layer page of one layer; its index row."""
    lf = files[ly.name]
    n_test = len(labels)
    t = ly.topk
    assert t.patches is not None and t.projection_patches is not None
    ph, pw = int(t.patches.shape[-2]), int(t.patches.shape[-1])
    sc = _scale(ph, pw)
    k, s = t.values.shape[1], ly.steps.shape[0]
    sheet_hw = (4 * ph, max(k, s) * pw)
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
        tile_pair = [rows[0][0], rows[1][0]]
        top_src: list[str | None] = [None] * k
        evo_src: list[str | None] = [None] * s
        if whole:  # the patch is the whole test image: one shared file per image
            for j, e in enumerate(d["top"]):
                top_src[j] = w.once(f"img/test/{e['test_index']}.png", rows[0][j])
            for j, n in enumerate(d["evolution"]["test_index"]):
                evo_src[j] = w.once(f"img/test/{n}.png", rows[2][j])
            rows[0], rows[2] = [], []
        if d["dead"]:
            rows[0] = rows[1] = []
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


def _prepare_out(out: Path) -> Path:
    """Check ``out`` may be (re)written; return a fresh temporary sibling folder."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise ConvscopeError(
            f"{out}: exists and was not written by convscope explore; choose another --out"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))


def _move_into_place(tmp: Path, out: Path) -> None:
    """A new site: one rename. A rebuild: each new file moved over the old one, then the files
    the previous build listed and this one did not are removed; others are left alone."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = set(io.read_json(out / MARKER).get("files", []))
    new = io.read_json(tmp / MARKER)["files"]
    for rel in [*new, MARKER]:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / rel, out / rel)
    for rel in sorted(old - set(new)):
        p = out / rel
        if ".." not in Path(rel).parts and p.is_file():
            p.unlink()
    shutil.rmtree(tmp, ignore_errors=True)


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
    run_dir: str | Path,
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
        ``{"out", "index", "layers", "units", "files", "bytes", "seconds"}``.
    """
    t0 = time.monotonic()
    rd = RunDir(run_dir)
    rd.config()
    out = Path(out) if out is not None else rd.path / "explore"
    steps = _snapshots(rd)
    ctx = zf_context(RunContext(rd.path, device=device))
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

    tmp = _prepare_out(out)
    try:
        first = first_conv(ctx.model)[0]
        filt = (
            _filters(ctx.model)
            if first in names and chain.layers[chain.index(first)].module is not None
            else None
        )
        w = _Writer(tmp)
        w.write("explore.css", CSS)
        w.write("explore.js", JS)
        maxima, evolutions = _shared_passes(chain, images_t, ctx.normalize, steps, load, resolved)
        summaries = []
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
            tick(ly.n_units, f"computed {n}")
            summaries.append(
                _write_layer(w, ly, labels, ctx.classes, files, filt if n == first else None, tick)
            )
        summary = rd.summary() or {}
        acc = summary.get("final_test_accuracy")
        info = {
            "run": str(rd.path),
            "model": rd.config().model.model,
            "data": ctx.dataset.source,
            "accuracy": "n/a" if acc is None else f"{acc:.4f}",
            "n_test": len(labels),
            "steps": steps,
            "choices": {**CHOICES, "class_names": ctx.class_names_from},
        }
        w.write("index.html", pages.index_page(info, summaries))
        io.write_json(
            tmp / MARKER, {"run": str(rd.path), "version": __version__, "files": w.written}
        )
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
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
