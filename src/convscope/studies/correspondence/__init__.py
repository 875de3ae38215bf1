"""Zeiler & Fergus 2014 (arXiv 1311.2901) §4.3, Table 1: correspondence analysis of one run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from convscope.errors import ConvscopeError
from convscope.studies._zf import _Context, from_info, zf_context
from convscope.studies.base import RunContext, Study, StudyResult, register
from convscope.studies.correspondence.compute import (
    choose_class,
    correspondence,
    correspondence_summary,
)


@dataclass(frozen=True)
class CorrespondenceOptions:
    class_name: str | None = None  # default: dog, else the first class
    images: int = 20
    group_size: int = 5
    seed: int = 0


def _per_class(
    ctx: _Context, class_name: str, n_images: int, group_size: int, seed: int
) -> tuple[dict[str, Any], Any, dict[str, np.ndarray]]:
    """Correspondence of every class with enough test images; the chosen class's arrays."""
    images, labels = ctx.test
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
    return per_class, main, arrays


def _mixed_indices(labels: torch.Tensor, n_cls: int, n_images: int) -> list[int]:
    """Image j of the set: the (j // n_cls)-th test image of class j mod n_cls."""
    by_class = [torch.nonzero(labels == c).flatten().tolist() for c in range(n_cls)]
    mixed_idx: list[int] = []
    for j in range(n_images):
        c = j % n_cls
        r = j // n_cls
        if r < len(by_class[c]):
            mixed_idx.append(by_class[c][r])
    return mixed_idx


def _mixed_control(
    ctx: _Context, n_images: int, group_size: int, seed: int, arrays: dict[str, np.ndarray]
) -> Any:
    """Control for position: the same regions masked in groups of images of *different* classes
    (group g holds one image from each of group_size consecutive classes); None if too few."""
    images, labels = ctx.test
    n_cls = len(ctx.classes)
    mixed_idx = _mixed_indices(labels, n_cls, n_images)
    if n_cls < group_size or len(mixed_idx) < group_size:
        return None
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
    return mixed


def _all_classes_table(main: Any, all_mean: torch.Tensor, all_std: torch.Tensor) -> dict[str, Any]:
    return {
        "rows": main.regions,
        "columns": main.layers,
        "mean": all_mean.tolist(),
        "std_over_classes": all_std.tolist(),
        "text": [
            [f"{m:.3f} ± {s:.3f}" for m, s in zip(mr, sr)]
            for mr, sr in zip(all_mean.tolist(), all_std.tolist())
        ],
    }


def _all_classes_sentence(main: Any, all_mean: torch.Tensor, n_classes: int) -> str:
    fixed_all, rand_all = all_mean[:-1].mean(0), all_mean[-1]
    consistent_all = [ly for ly, f, r in zip(main.layers, fixed_all, rand_all) if f < r]
    pairs = "; ".join(
        f"{ly}: {float(f):.3f} vs {float(r):.3f}"
        for ly, f, r in zip(main.layers, fixed_all, rand_all)
    )
    return (
        f"Over all {n_classes} classes, masking the same region is more consistent than "
        f"random at {', '.join(consistent_all) if consistent_all else 'no layer'} ({pairs})."
    )


def _mixed_findings(main: Any, all_mean: torch.Tensor, mixed: Any) -> tuple[str, dict[str, Any]]:
    """The same-class vs mixed-class sentence and its numbers."""
    same_fixed = all_mean[:-1].mean(0)
    mixed_fixed = mixed.mean[:-1].mean(0)
    beyond = [ly for ly, a, b in zip(main.layers, same_fixed, mixed_fixed) if a < b]
    sentence = (
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
    return sentence, {
        "mixed_classes_fixed_regions_mean": mixed_fixed.tolist(),
        "same_class_fixed_regions_mean": same_fixed.tolist(),
        "layers_same_class_more_consistent": beyond,
        "table_mixed_classes": mixed.table(),
    }


def _choices(summary: dict[str, Any], main: Any, n_images: int, group_size: int) -> dict[str, Any]:
    return {
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
    }


def _correspondence(
    ctx: _Context, class_name: str | None, n_images: int, group_size: int, seed: int
) -> StudyResult:
    from convscope.studies.correspondence.figures import correspondence_table_figure

    class_name, class_choice = choose_class(ctx.classes, class_name, list(ctx.dataset.classes))
    per_class, main, arrays = _per_class(ctx, class_name, n_images, group_size, seed)
    mixed = _mixed_control(ctx, n_images, group_size, seed, arrays)
    all_mean = torch.stack([c.mean for c in per_class.values()]).mean(0)  # (R, L)
    all_std = torch.stack([c.mean for c in per_class.values()]).std(0, correction=0)
    arrays["all_classes_mean"] = all_mean.numpy()
    arrays["all_classes_std_over_classes"] = all_std.numpy()
    summary = correspondence_summary(main, class_name, ctx.chain.said)
    fig = correspondence_table_figure(
        summary["table"]["rows"],
        summary["table"]["columns"],
        summary["table"]["text"],
        title=f"Delta for class {class_name} (mean ± std over image pairs; lower = more "
        "consistent)",
    )
    figs = [ctx.save(fig, "zf_correspondence")]
    ctx.rd.write_npz("analysis/zf_correspondence.npz", **arrays)
    observations = [_all_classes_sentence(main, all_mean, len(per_class))]
    mixed_info: dict[str, Any] = {}
    if mixed is not None:
        sentence, mixed_info = _mixed_findings(main, all_mean, mixed)
        observations.append(sentence)
    info = {
        "observation": f"Class used: {class_choice}. {summary['observation']}",
        "observations": observations,
        "class": class_name,
        "class_choice": class_choice,
        "fixed_regions_mean": summary["fixed_regions_mean"],
        "random_mean": summary["random_mean"],
        "layers_more_consistent_than_random": summary["layers_more_consistent_than_random"],
        "table": summary["table"],
        "table_all_classes": _all_classes_table(main, all_mean, all_std),
        **mixed_info,
        "figures": figs,
        "choices": _choices(summary, main, n_images, group_size),
        **ctx.base_info(),
    }
    return from_info(info)


@register
class Correspondence(Study):
    name = "correspondence"
    title = "Correspondence analysis"
    paper_section = "Zeiler & Fergus 2014, §4.3, Table 1"
    description = "Masking the same part in several images of one class against random regions: Δ, the mean normalised Hamming distance between signs of feature differences (lower = more consistent correspondence)."
    order = 80
    reads = ("final checkpoint", "data")
    Options = CorrespondenceOptions

    def run(self, ctx: RunContext, opts: CorrespondenceOptions) -> StudyResult:
        return _correspondence(
            zf_context(ctx), opts.class_name, opts.images, opts.group_size, opts.seed
        )

    def render(self, saved: dict[str, Any], view: Any) -> list[Any] | None:
        """The report shows the Δ table, not its figure (a picture of the same table); the
        figure stays in RUN/figures for `convscope analyze` users."""
        return view.default({**saved, "figures": []})
