"""Zeiler & Fergus 2014 (arXiv 1311.2901) analyses of one run directory.

``analyze_zf(run_dir, {"deconv", "topk", "evolution", "occlusion", "invariance",
"correspondence"})`` loads the run's model and data (no training) and writes, per analysis
``what``:

* ``analysis/zf_<what>.npz``: the arrays;
* ``analysis/zf_<what>.json``: the numbers, a one-sentence ``observation`` built from them, and
  every ``choices`` made;
* ``figures/zf_<what>*.png``.

Images are picked deterministically (recorded in each JSON): the first test image of each class
that the model classifies correctly (falling back to the first image of the class).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from convscope.analysis import ZF
from convscope.analysis.zf.correspondence import correspondence, correspondence_summary
from convscope.analysis.zf.deconvnet import DECONV_CHOICES, Units, project
from convscope.analysis.zf.evolution import feature_evolution
from convscope.analysis.zf.graph import Chain, trace_chain
from convscope.analysis.zf.invariance import invariance_curves, invariance_summary
from convscope.analysis.zf.occlusion import (
    DEFAULT_SIZE,
    DEFAULT_STRIDE,
    mean_fill,
    occlusion_maps,
    occlusion_summary,
)
from convscope.analysis.zf.receptive import receptive_fields
from convscope.analysis.zf.topk import topk_per_map
from convscope.errors import ConvscopeError
from convscope.runs import RunDir

log = logging.getLogger(__name__)

WHAT = ZF


def display_classes(name: str, classes: Sequence[str]) -> tuple[list[str], str]:
    """Class names for figures and sentences, and where they came from."""
    return list(classes), "the data set's class names (set them with the config key class_names)"


CITATION = "Zeiler & Fergus 2014, arXiv 1311.2901"
DPI = 120


class _Context:
    """What every analysis of one run needs, loaded once."""

    def __init__(self, rd: RunDir, device: str | torch.device | None) -> None:
        self.rd = rd
        cfg = rd.config()
        if device is None:
            want = cfg.train.device
            device = "cuda" if want == "auto" and torch.cuda.is_available() else want
            device = "cpu" if device == "auto" else device
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConvscopeError(f"device {device!r}: CUDA is not available here")
        self.model = rd.load_model(None, device=self.device)
        try:
            self.chain: Chain = trace_chain(self.model)
        except ConvscopeError as e:
            raise ConvscopeError(
                f"{rd.path}: the Zeiler & Fergus analyses need a CNN ({cfg.model.model}): {e}"
            ) from None
        self.dataset, self.normalize = rd.load_data()
        self.classes, self.class_names_from = display_classes(
            self.dataset.name, self.dataset.classes
        )
        self.hw = (int(self.dataset.image_shape[1]), int(self.dataset.image_shape[2]))
        self.fill = mean_fill(self.dataset.channel_stats()[0], self.normalize)
        self._preds: torch.Tensor | None = None

    @property
    def test(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.dataset.test.images, self.dataset.test.labels

    def predictions(self) -> torch.Tensor:
        """``(N_test,)`` predicted classes of the final model."""
        if self._preds is None:
            out = []
            with torch.no_grad():
                for s in range(0, len(self.dataset.test), 500):
                    x = self.normalize(self.dataset.test.images[s : s + 500].to(self.device))
                    out.append(self.model(x).argmax(1).cpu())
            self._preds = torch.cat(out)
        return self._preds

    def pick(self, classes: Sequence[int], per_class: int = 1) -> list[int]:
        """Test indices: per class, the first ``per_class`` correctly classified images
        (then the first misclassified ones if there are not enough)."""
        labels = self.dataset.test.labels
        preds = self.predictions()
        out: list[int] = []
        for c in classes:
            idx = torch.nonzero(labels == c).flatten().tolist()
            good = [i for i in idx if int(preds[i]) == c]
            bad = [i for i in idx if int(preds[i]) != c]
            out.extend((good + bad)[:per_class])
        return out

    def layer_names(self, layers: Sequence[str] | None) -> list[int]:
        if layers is None:
            return self.chain.default_layers()
        return [self.chain.resolve(ly) for ly in layers]

    def save(self, fig: Figure, name: str) -> str:
        from convscope.plots.save import save_png

        path = self.rd.figures_dir / f"{name}.png"
        save_png(fig, path, dpi=DPI)
        return str(path)

    def base_info(self) -> dict[str, Any]:
        return {
            "run": str(self.rd.path),
            "data": self.dataset.source,
            "model": self.rd.config().model.model,
            "layers": self.chain.names,
            "device": str(self.device),
            "class_names": self.class_names_from,
            "citation": CITATION,
        }


def _support90(p: torch.Tensor) -> float:
    """Pixels holding 90% of the squared projection (summed over channels): ``(C, H, W)``."""
    e = p.double().pow(2).sum(0).flatten().sort(descending=True).values
    total = float(e.sum())
    if total == 0:
        return 0.0
    return float(int(torch.searchsorted(e.cumsum(0), 0.9 * total)) + 1)


def _deconv(ctx: _Context, layers: Sequence[str] | None, n_images: int) -> dict[str, Any]:
    from convscope.plots.zf import deconv_figure

    chain = ctx.chain
    idxs = list(dict.fromkeys([*ctx.layer_names(layers), chain.penultimate()]))
    picked = ctx.pick(range(min(n_images, len(ctx.classes))))
    raw, labels = ctx.test[0][picked], ctx.test[1][picked]
    x = ctx.normalize(raw.to(ctx.device))
    rfs = receptive_fields(chain)
    arrays: dict[str, np.ndarray] = {"image_index": np.array(picked), "labels": labels.numpy()}
    projections, captions, per_layer = {}, {}, []
    with torch.no_grad():
        acts, _ = chain.run(x, taps=idxs, to_end=False)
    for i in idxs:
        name = chain.layers[i].name
        a = acts[i]
        flat = a.flatten(1).argmax(1)
        if a.dim() == 4:
            h, w = a.shape[2:]
            ch, rem = flat // (h * w), flat % (h * w)
            ys, xs = rem // w, rem % w
        else:
            ch, ys, xs = flat, torch.zeros_like(flat), torch.zeros_like(flat)
        units = Units.of(torch.arange(len(picked)), ch.cpu(), ys.cpu(), xs.cpu())
        p = project(chain, x, i, units, block_output=False).float().cpu()
        values = a.flatten(1).max(1).values.float().cpu()
        projections[name] = p
        captions[name] = [
            f"map {int(c)} ({int(y)},{int(xx)})" if a.dim() == 4 else f"unit {int(c)}"
            for c, y, xx in zip(ch, ys, xs)
        ]
        support = [_support90(pi) for pi in p]
        rf = rfs[i]
        per_layer.append(
            {
                "layer": name,
                "receptive_field_px": list(rf.size) if not rf.full else list(ctx.hw),
                "mean_support90_px": float(np.mean(support)),
                "mean_activation": float(values.mean()),
            }
        )
        arrays[f"{name}_projections"] = p.numpy()
        arrays[f"{name}_unit"] = np.stack([ch.cpu(), ys.cpu(), xs.cpu()], 1)
        arrays[f"{name}_value"] = values.numpy()
    titles = [f"{ctx.classes[int(c)]} (test {i})" for c, i in zip(labels, picked)]
    figs = [
        ctx.save(deconv_figure(raw, projections, titles=titles, captions=captions), "zf_deconv")
    ]
    parts = ", ".join(
        f"{r['layer']} {r['mean_support90_px']:.0f} px (receptive field "
        f"{r['receptive_field_px'][0]}x{r['receptive_field_px'][1]})"
        for r in per_layer
    )
    grows = all(
        a["mean_support90_px"] <= b["mean_support90_px"] for a, b in zip(per_layer, per_layer[1:])
    )
    sentence = (
        f"90% of the energy of the strongest unit's projection lies in {parts}; the projected "
        f"structure {'grows' if grows else 'does not grow monotonically'} with depth."
    )
    ctx.rd.write_npz("analysis/zf_deconv.npz", **arrays)
    info = {
        "observation": sentence,
        "per_layer": per_layer,
        "images": [{"test_index": i, "class": ctx.classes[int(c)]} for i, c in zip(picked, labels)],
        "figures": figs,
        "choices": {
            **DECONV_CHOICES,
            "unit": "per image and layer, the strongest activation (argmax over maps and "
            "positions)",
            "images": "first correctly classified test image of each of the first classes",
            "support90": "fewest pixels holding 90% of the projection's squared values",
        },
        **ctx.base_info(),
    }
    ctx.rd.write_json("analysis/zf_deconv.json", info)
    return info


def _chance_purity(labels: torch.Tensor, k: int, draws: int = 2000, seed: int = 0) -> float:
    """Expected share of the most common class among ``k`` images drawn without replacement."""
    rng = np.random.default_rng(seed)
    lab = labels.numpy()
    picks = np.stack([rng.choice(len(lab), size=k, replace=False) for _ in range(draws)])
    counts = np.apply_along_axis(lambda r: np.bincount(lab[r]).max(), 1, picks)
    return float(counts.mean() / k)


def _topk(ctx: _Context, layers: Sequence[str] | None, k: int) -> dict[str, Any]:
    from convscope.plots.zf import topk_grid

    images, labels = ctx.test
    arrays: dict[str, np.ndarray] = {}
    per_layer, figs = [], []
    for i in ctx.layer_names(layers):
        t = topk_per_map(ctx.chain, images, i, k=k, transform=ctx.normalize)
        arrays.update(t.arrays(prefix=f"{t.layer}_"))
        top_labels = labels[t.image_index]  # (M, k)
        alive = t.values[:, 0] > 0  # a dead map's ties put test images 0..k-1 first
        purity = torch.tensor(
            [float(torch.bincount(r).max()) / k for r in top_labels[alive]], dtype=torch.float64
        )
        dead = int((~alive).sum())
        per_layer.append(
            {
                "layer": t.layer,
                "maps": int(t.values.shape[0]),
                "receptive_field_px": t.receptive_field["size"]
                if not t.receptive_field["full"]
                else list(ctx.hw),
                "mean_top1_activation": float(t.values[:, 0].mean()),
                "maps_never_active": dead,
                "mean_class_purity": float(purity.mean()) if len(purity) else None,
            }
        )
        fig = topk_grid(
            t.projection_patches,
            t.patches,
            maps=t.maps.tolist(),
            values=t.values[:, 0],
            title=f"{t.layer}: top {k} test activations per map (receptive field "
            f"{per_layer[-1]['receptive_field_px'][0]} px)",
        )
        figs.append(ctx.save(fig, f"zf_topk_{t.layer}"))
    chance = _chance_purity(labels, k)
    known = [r for r in per_layer if r["mean_class_purity"] is not None]
    parts = ", ".join(
        f"{r['layer']} {100 * r['mean_class_purity']:.0f}% ({r['maps'] - r['maps_never_active']}"
        f" of {r['maps']} maps active)"
        for r in known
    )
    rising = all(a["mean_class_purity"] <= b["mean_class_purity"] for a, b in zip(known, known[1:]))
    sentence = (
        f"The {k} strongest test images of an active map share their most common class {parts} "
        f"of the time (chance {100 * chance:.0f}%): maps become "
        f"{'more' if rising else 'not steadily more'} class-specific with depth."
        if known
        else f"No map of {', '.join(r['layer'] for r in per_layer)} is ever active on the test "
        "split."
    )
    ctx.rd.write_npz("analysis/zf_topk.npz", **arrays)
    info = {
        "observation": sentence,
        "per_layer": per_layer,
        "chance_class_purity": chance,
        "split": "test",
        "k": k,
        "figures": figs,
        "choices": {
            "source": f"{CITATION}, section 4 (Feature Visualization), Fig. 2",
            "split": f"the whole test split ({len(labels)} images)",
            "per_image_activation": "max over positions; the k images per map are distinct",
            "ties": "equal maxima: lower image index first",
            "figure": "projections cut to the receptive field (grey = 0) next to the patches; "
            "live maps strongest first, never-active maps listed by index under the figure",
            "class_purity": "share of the k images in their most common class; chance by "
            "drawing k test images at random (2000 draws, seed 0)",
            "maps_never_active": "maps whose strongest test activation is <= 0; left out of "
            "the class purity (their tied zeros would pick test images 0..k-1)",
            "deconv": DECONV_CHOICES,
        },
        **ctx.base_info(),
    }
    ctx.rd.write_json("analysis/zf_topk.json", info)
    return info


def _evolution(
    ctx: _Context, layers: Sequence[str] | None, show_maps: int, max_checkpoints: int
) -> dict[str, Any]:
    from convscope.plots.zf import evolution_grid

    steps = ctx.rd.checkpoint_steps()
    if not steps:
        raise ConvscopeError(f"{ctx.rd.checkpoint_dir}: no step_*.pt snapshots for evolution")
    if len(steps) > max_checkpoints:  # keep the first and last, spread the rest
        pick = np.unique(np.round(np.linspace(0, len(steps) - 1, max_checkpoints)).astype(int))
        steps = [steps[i] for i in pick]
    images = ctx.dataset.train.images
    arrays: dict[str, np.ndarray] = {"steps": np.array(steps)}
    per_layer, figs = [], []

    def load(step: int) -> nn.Module:
        return ctx.rd.load_model(step, device=ctx.device)

    for i in ctx.layer_names(layers):
        ev = feature_evolution(
            steps, load, images, ctx.chain.layers[i].name, transform=ctx.normalize
        )
        arrays.update(ev.arrays(prefix=f"{ev.layer}_"))
        alive = ev.values[:, -1] > 0  # dead maps tie at 0: their "top image" means nothing
        img = ev.image_index[alive]  # (M', S)
        changed = img[:, 1:] != img[:, :-1]  # (M', S-1)
        # settle: first checkpoint from which the top training image no longer changes
        settle = []
        for row in changed:
            later = torch.nonzero(row).flatten()
            settle.append(steps[int(later[-1]) + 1] if len(later) else steps[0])
        stable_last = float((~changed[:, -1]).double().mean()) if changed.numel() else float("nan")
        per_layer.append(
            {
                "layer": ev.layer,
                "maps": int(ev.image_index.shape[0]),
                "maps_active_at_the_end": int(alive.sum()),
                "median_settle_step": float(np.median(settle)) if settle else None,
                "mean_settle_step": float(np.mean(settle)) if settle else None,
                "share_same_top_image_last_two_checkpoints": stable_last,
            }
        )
        order = torch.argsort(ev.values[:, -1], descending=True, stable=True)[:show_maps]
        order = order.sort().values
        fig = evolution_grid(
            ev.projections[order],
            steps,
            maps=ev.maps[order].tolist(),
            title=f"{ev.layer}: strongest training activation per map across checkpoints",
        )
        figs.append(ctx.save(fig, f"zf_evolution_{ev.layer}"))
    known = [r for r in per_layer if r["median_settle_step"] is not None]
    parts = ", ".join(f"{r['layer']} at step {r['median_settle_step']:.0f}" for r in known)
    if len(steps) < 3 or len(known) < 2:
        verdict = "too few checkpoints or active maps to compare layers"
    elif all(a["median_settle_step"] <= b["median_settle_step"] for a, b in zip(known, known[1:])):
        verdict = "lower layers settle no later than higher ones"
    else:
        verdict = "a lower layer settles later than a higher one"
    sentence = (
        f"Across {len(steps)} checkpoints (steps {steps[0]}..{steps[-1]}), the strongest "
        f"training image of an active map stops changing (median over maps) for {parts}: "
        f"{verdict}."
    )
    ctx.rd.write_npz("analysis/zf_evolution.npz", **arrays)
    info = {
        "observation": sentence,
        "steps": steps,
        "per_layer": per_layer,
        "figures": figs,
        "choices": {
            "source": f"{CITATION}, section 4 (Feature Evolution during Training), Fig. 4",
            "split": f"the whole training split ({len(images)} images)",
            "checkpoints": f"the run's step_*.pt snapshots (at most {max_checkpoints}, evenly "
            "spread, first and last kept)",
            "settle_step": "first checkpoint from which a map's strongest training image stays "
            "the same to the end; maps inactive (max <= 0) at the last checkpoint are left out",
            "figure_maps": f"the {show_maps} maps with the strongest final activation, in map "
            "order",
            "deconv": DECONV_CHOICES,
        },
        **ctx.base_info(),
    }
    ctx.rd.write_json("analysis/zf_evolution.json", info)
    return info


def _occlusion(
    ctx: _Context,
    layer: str | None,
    size: int,
    stride: int,
    n_show: int,
    per_class_stats: int,
) -> dict[str, Any]:
    from convscope.plots.zf import occlusion_figure

    n_cls = len(ctx.classes)
    idx = ctx.chain.default_layers()[-1] if layer is None else ctx.chain.resolve(layer)
    stat_idx = ctx.pick(range(n_cls), per_class=per_class_stats)
    show = ctx.pick(range(min(n_show, n_cls)))
    images, labels = ctx.test
    occ = occlusion_maps(
        ctx.chain,
        images[stat_idx],
        labels[stat_idx],
        idx,
        size=size,
        stride=stride,
        fill=ctx.fill,
        transform=ctx.normalize,
    )
    rows = [stat_idx.index(i) for i in show]
    fig = occlusion_figure(
        images[show],
        occ.activation[rows],
        occ.prob_true[rows],
        occ.top_class[rows],
        ys=occ.ys,
        xs=occ.xs,
        size=size,
        labels=labels[show].tolist(),
        classes=ctx.classes,
        map_index=occ.map_index[rows].tolist(),
        layer=occ.layer,
    )
    figs = [ctx.save(fig, "zf_occlusion")]
    summary = occlusion_summary(occ, ctx.hw, ctx.classes)
    ctx.rd.write_npz(
        "analysis/zf_occlusion.npz",
        test_index=np.array(stat_idx),
        shown_rows=np.array(rows),
        **occ.arrays(),
    )
    summary.pop("classes", None)
    summary.pop("clean_prob_true", None)
    summary.pop("min_prob_position_yx", None)
    info = {
        "observation": summary.pop("observation"),
        **summary,
        "clean_accuracy_on_these_images": float(
            (occ.clean_top_class == occ.labels).double().mean()
        ),
        "figures": figs,
        "choices": {
            **summary.pop("choices"),
            "images": f"per class, the first {per_class_stats} correctly classified test images "
            f"({len(stat_idx)} in all) for the numbers; the figure shows the first of each of "
            f"the first {len(show)} classes",
            "fill_is": "the training set's mean pixel, normalised like the model's input",
        },
        **ctx.base_info(),
    }
    ctx.rd.write_json("analysis/zf_occlusion.json", info)
    return info


def _invariance(ctx: _Context, per_class: int, n_show: int) -> dict[str, Any]:
    from convscope.plots.zf import invariance_figure

    n_cls = len(ctx.classes)
    picked = ctx.pick(range(n_cls), per_class=per_class)
    # the figure shows one image of each of the first n_show classes
    show_rows = [picked.index(i) for i in ctx.pick(range(min(n_show, n_cls)))]
    images, labels = ctx.test
    inv = invariance_curves(
        ctx.chain, images[picked], labels[picked], fill=ctx.fill, transform=ctx.normalize
    )
    curves_show = {k: {n: v[show_rows] for n, v in c.items()} for k, c in inv.curves.items()}
    fig = invariance_figure(
        inv.params,
        curves_show,
        low_layer=inv.low_layer,
        high_layer=inv.high_layer,
        labels=[int(labels[picked[r]]) for r in show_rows],
        classes=ctx.classes,
    )
    figs = [ctx.save(fig, "zf_invariance")]
    summary = invariance_summary(inv)
    ctx.rd.write_npz(
        "analysis/zf_invariance.npz", test_index=np.array(picked), shown_rows=np.array(show_rows),
        **inv.arrays(),
    )  # fmt: skip
    summary.pop("params", None)
    info = {
        "observation": summary.pop("observation"),
        **summary,
        "figures": figs,
        "choices": {
            **summary.pop("choices"),
            "observation_uses": summary.pop("observation_uses"),
            "images": f"per class, the first {per_class} correctly classified test images "
            f"({len(picked)} in all) for the numbers; the figure shows one image of each of "
            f"the first {len(show_rows)} classes",
            "fill_is": "the training set's mean pixel, normalised like the model's input",
            "params": {k: v.tolist() for k, v in inv.params.items()},
        },
        **ctx.base_info(),
    }
    ctx.rd.write_json("analysis/zf_invariance.json", info)
    return info


def _correspondence(
    ctx: _Context, class_name: str | None, n_images: int, group_size: int, seed: int
) -> dict[str, Any]:
    from convscope.plots.zf import correspondence_table_figure

    images, labels = ctx.test
    raw_names = list(ctx.dataset.classes)
    if class_name is None:  # the paper uses dogs
        dog = [i for i, n in enumerate(ctx.classes) if n == "dog" or n.startswith("dog (")]
        class_name = ctx.classes[dog[0]] if dog else ctx.classes[0]
    elif class_name in raw_names:
        class_name = ctx.classes[raw_names.index(class_name)]
    if class_name not in ctx.classes:
        raise ConvscopeError(
            f"correspondence class {class_name!r}: expected one of {', '.join(raw_names)}"
        )
    arrays: dict[str, np.ndarray] = {}
    per_class: dict[str, Any] = {}
    main = None
    for c, name in enumerate(ctx.classes):
        idx = torch.nonzero(labels == c).flatten()[:n_images]
        if len(idx) < group_size:
            continue
        cor = correspondence(
            ctx.chain,
            images[idx],
            group_size=group_size,
            fill=ctx.fill,
            seed=seed,
            transform=ctx.normalize,
        )
        per_class[name] = cor
        if name == class_name:
            main = cor
            arrays.update(cor.arrays(prefix="main_"))
            arrays["main_test_index"] = idx.numpy()
    if main is None:
        raise ConvscopeError(
            f"correspondence class {class_name!r}: fewer than {group_size} test images"
        )
    # control for position: the same regions masked in groups of images of *different* classes
    # (group g holds one image from each of group_size consecutive classes)
    by_class = [torch.nonzero(labels == c).flatten().tolist() for c in range(len(ctx.classes))]
    mixed_idx: list[int] = []
    n_cls = len(ctx.classes)
    for j in range(n_images):
        c = j % n_cls
        r = j // n_cls
        if r < len(by_class[c]):
            mixed_idx.append(by_class[c][r])
    mixed = None
    if n_cls >= group_size and len(mixed_idx) >= group_size:
        mixed = correspondence(
            ctx.chain,
            images[mixed_idx],
            group_size=group_size,
            fill=ctx.fill,
            seed=seed,
            transform=ctx.normalize,
        )
        arrays.update(mixed.arrays(prefix="mixed_"))
        arrays["mixed_test_index"] = np.array(mixed_idx)
    all_mean = torch.stack([c.mean for c in per_class.values()]).mean(0)  # (R, L)
    all_std = torch.stack([c.mean for c in per_class.values()]).std(0, correction=0)
    arrays["all_classes_mean"] = all_mean.numpy()
    arrays["all_classes_std_over_classes"] = all_std.numpy()
    summary = correspondence_summary(main, class_name)
    fixed_all, rand_all = all_mean[:-1].mean(0), all_mean[-1]
    consistent_all = [ly for ly, f, r in zip(main.layers, fixed_all, rand_all) if f < r]
    fig = correspondence_table_figure(
        summary["table"]["rows"],
        summary["table"]["columns"],
        summary["table"]["text"],
        title=f"Delta for class {class_name} (mean ± std over image pairs; lower = more "
        "consistent)",
    )
    figs = [ctx.save(fig, "zf_correspondence")]
    ctx.rd.write_npz("analysis/zf_correspondence.npz", **arrays)
    table_all = {
        "rows": main.regions,
        "columns": main.layers,
        "mean": all_mean.tolist(),
        "std_over_classes": all_std.tolist(),
        "text": [
            [f"{m:.3f} ± {s:.3f}" for m, s in zip(mr, sr)]
            for mr, sr in zip(all_mean.tolist(), all_std.tolist())
        ],
    }
    pairs = "; ".join(
        f"{ly}: {float(f):.3f} vs {float(r):.3f}"
        for ly, f, r in zip(main.layers, fixed_all, rand_all)
    )
    observations = [
        f"Over all {len(per_class)} classes, masking the same region is more consistent than "
        f"random at {', '.join(consistent_all) if consistent_all else 'no layer'} ({pairs})."
    ]
    mixed_info: dict[str, Any] = {}
    if mixed is not None:
        same_fixed = all_mean[:-1].mean(0)
        mixed_fixed = mixed.mean[:-1].mean(0)
        beyond = [ly for ly, a, b in zip(main.layers, same_fixed, mixed_fixed) if a < b]
        observations.append(
            "Same regions, images of one class vs of different classes (a control for "
            "position): "
            + "; ".join(
                f"{ly}: {float(a):.3f} vs {float(b):.3f}"
                for ly, a, b in zip(main.layers, same_fixed, mixed_fixed)
            )
            + (
                f"; same-class groups are more consistent at {', '.join(beyond)}."
                if beyond
                else "; same-class groups are not more consistent at any layer."
            )
        )
        mixed_info = {
            "mixed_classes_fixed_regions_mean": mixed_fixed.tolist(),
            "same_class_fixed_regions_mean": same_fixed.tolist(),
            "layers_same_class_more_consistent": beyond,
            "table_mixed_classes": mixed.table(),
        }
    info = {
        "observation": summary["observation"],
        "observations": observations,
        "class": class_name,
        "fixed_regions_mean": summary["fixed_regions_mean"],
        "random_mean": summary["random_mean"],
        "layers_more_consistent_than_random": summary["layers_more_consistent_than_random"],
        "table": summary["table"],
        "table_all_classes": table_all,
        **mixed_info,
        "figures": figs,
        "choices": {
            **summary["choices"],
            "images": f"the first {n_images} test images of the class ({main.groups} groups of "
            f"{group_size})",
            "all_classes": "the same measure for every class; mean, and std over classes",
            "fill_is": "the training set's mean pixel, normalised like the model's input",
            "caveat": "a fixed region changes features at the same positions in every image, "
            "so spatial layers agree on the unchanged (sign 0) positions for fixed regions more "
            "than for random ones; compare the gap between layers, not only its sign",
            "mixed_classes_control": f"the same regions in groups of {group_size} images from "
            f"{group_size} different classes (image j of the set: the (j // classes)-th test "
            "image of class j mod classes); lower Delta within a class than across classes "
            "means correspondence beyond position",
        },
        **ctx.base_info(),
    }
    ctx.rd.write_json("analysis/zf_correspondence.json", info)
    return info


def analyze_zf(
    run_dir: str | Path,
    what: set[str] | Sequence[str],
    *,
    device: str | torch.device | None = None,
    layers: Sequence[str] | None = None,
    k: int = 9,
    deconv_images: int = 4,
    evolution_maps: int = 16,
    max_checkpoints: int = 12,
    occlusion_layer: str | None = None,
    occlusion_size: int = DEFAULT_SIZE,
    occlusion_stride: int = DEFAULT_STRIDE,
    occlusion_show: int = 4,
    occlusion_per_class: int = 10,
    invariance_per_class: int = 5,
    invariance_show: int = 5,
    correspondence_class: str | None = None,
    correspondence_images: int = 20,
    group_size: int = 5,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, str]:
    """Run the requested Zeiler & Fergus analyses on a run directory (no training).

    Args:
        run_dir: a run directory with checkpoints.
        what: any of :data:`WHAT`.
        device: default the run's device setting (``auto``: CUDA if available).
        layers: layers for deconv/topk/evolution (default every conv block's output).
        k: images per map for top-k (9 in the paper).
        others: see the module docstrings; every value used is recorded in the JSON.

    Returns:
        ``{what: path of the JSON written}``.
    """
    what = set(what)
    unknown = what - set(WHAT)
    if unknown:
        raise ConvscopeError(
            f"analyze: unknown part {', '.join(sorted(unknown))}; expected any of {', '.join(WHAT)}"
        )
    rd = RunDir(run_dir)
    rd.config()
    if not rd.checkpoint_steps() and not rd.last_checkpoint_path.is_file():
        raise ConvscopeError(f"{rd.checkpoint_dir}: no checkpoint; train the run first")
    ctx = _Context(rd, device)
    say = progress or (lambda m: log.info("%s", m))
    out: dict[str, str] = {}
    jobs: list[tuple[str, Callable[[], Any]]] = [
        ("deconv", lambda: _deconv(ctx, layers, deconv_images)),
        ("topk", lambda: _topk(ctx, layers, k)),
        ("evolution", lambda: _evolution(ctx, layers, evolution_maps, max_checkpoints)),
        (
            "occlusion",
            lambda: _occlusion(
                ctx,
                occlusion_layer,
                occlusion_size,
                occlusion_stride,
                occlusion_show,
                occlusion_per_class,
            ),
        ),
        ("invariance", lambda: _invariance(ctx, invariance_per_class, invariance_show)),
        (
            "correspondence",
            lambda: _correspondence(
                ctx, correspondence_class, correspondence_images, group_size, seed
            ),
        ),
    ]
    for name, job in jobs:
        if name in what:
            say(f"zf {name}: {rd.path}")
            job()
            out[name] = str(rd.analysis_dir / f"zf_{name}.json")
    return out
