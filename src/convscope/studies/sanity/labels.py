"""Data randomisation (Adebayo et al. 2018, arXiv 1810.03292, §3.2): do a run's attribution
maps depend on the labels it learned?

A group study: the group holds a run and its *label twin*, the same data, model and seed with
``permute_labels`` set, trained on the training labels shuffled among the images; its optimiser
and budget may differ (fitting random labels takes longer and often a smaller learning rate;
``stop_at_train_accuracy`` stops it once fitted) and the differences are recorded. The maps of
both models for the same seeded test images and the true class are compared with the measures
of the parameter test (:mod:`convscope.studies.sanity`). Whether the twin fitted the permuted
labels (its training accuracy against ``target``) is recorded, since a twin that did not fit
them has learned little of anything, and a map that stays the same is then weaker evidence.

The combined verdict per method (weights and labels / weights only / labels only / neither /
not testable, :mod:`convscope.studies.sanity.combined`) reads the weights test from the run's
saved ``sanity`` result (``RUN/analysis/sanity.json``, written by the run's own analyses, which
run before group analyses); without it the combined answer says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from convscope.analysis.sanity import verdicts as V
from convscope.analysis.sanity.similarity import MEASURES
from convscope.errors import ConvscopeError
from convscope.studies.base import (
    FigureRef,
    GroupContext,
    RunContext,
    Study,
    StudyResult,
    Verdict,
    register,
)
from convscope.studies.sanity import CITATION, Prepared, prepare
from convscope.studies.sanity.checks import compare_models
from convscope.studies.sanity.combined import RULE, combined_table, combined_verdict
from convscope.train.target import SUMMARY_KEY


@dataclass(frozen=True)
class LabelOptions:
    images: int = 8  # the same draw as the sanity study's with the same seed
    seed: int = 0
    methods: tuple[str, ...] | None = None
    ig_steps: int = 16
    occlusion_size: int = 8
    occlusion_stride: int = 4
    target: float = 0.9  # training accuracy on the permuted labels that counts as fitted


def _pairs(ctx: GroupContext) -> list[tuple[RunContext, list[RunContext]]]:
    """Each run without ``permute_labels`` with its twins of the same training seed (a profile
    with several seeds trains a run and a twin per seed), in the group's order."""
    plain = [r for r in ctx.runs if r.rd.config().data.permute_labels is None]
    twins = [r for r in ctx.runs if r.rd.config().data.permute_labels is not None]
    if not plain or not twins:
        raise ConvscopeError(
            f"group {ctx.group}: sanity_labels needs a run and at least one twin with "
            f"permute_labels set; got {len(plain)} run(s) without and {len(twins)} with"
        )
    by_seed: dict[int, RunContext] = {}
    for r in plain:
        seed = r.rd.config().train.seed
        if seed in by_seed:
            raise ConvscopeError(
                f"group {ctx.group}: sanity_labels needs one run without permute_labels per "
                f"seed; seed {seed} has {by_seed[seed].path.name} and {r.path.name}"
            )
        by_seed[seed] = r
    paired: dict[int, list[RunContext]] = {s: [] for s in by_seed}
    for t in twins:
        c = t.rd.config()
        base_run = by_seed.get(c.train.seed)
        base = base_run.rd.config() if base_run is not None else None
        same = base is not None and c.model == base.model
        data = base is not None and {**vars(c.data), "permute_labels": None} == vars(base.data)
        if not (same and data):
            raise ConvscopeError(
                f"{t.path}: not a label twin of a run of group {ctx.group} (a run with its "
                "seed, model and data other than permute_labels)"
            )
        paired[c.train.seed].append(t)
    return [(by_seed[s], ts) for s, ts in paired.items() if ts]


def _reached(run: RunContext, target: float) -> dict[str, Any]:
    rows = [r for r in run.rd.metrics() if r.get("train_accuracy") is not None]
    if not rows:
        return {"train_accuracy": None, "step": None, "target": target, "reached": False}
    hit = [r["step"] for r in rows if r["train_accuracy"] >= target]
    return {
        "train_accuracy": float(rows[-1]["train_accuracy"]),
        "test_accuracy": rows[-1].get("test_accuracy"),
        "step": int(rows[-1]["step"]),
        "target": target,
        "reached": bool(hit),
        "first_step_at_target": hit[0] if hit else None,
        "permute_labels": run.rd.config().data.permute_labels,
        "stop_at_train_accuracy": (run.rd.summary() or {}).get(SUMMARY_KEY),
    }


# keys that do not change what a run learns (or are recorded elsewhere): not listed as differences
_SAME = {
    "seed",
    "keep_checkpoints",
    "device",
    "threads",
    "stop_at_train_accuracy",
    "eval_every",
    "train_eval_size",
    "test_eval_size",
    "checkpoint_every",
    "activation_stats_every",
    "activation_stats_size",
}


def _differs(plain: RunContext, twin: RunContext) -> dict[str, list[Any]]:
    """Optimiser and training keys where the twin differs from the run: ``{key: [run, twin]}``."""
    a, b = plain.rd.config(), twin.rd.config()
    out: dict[str, list[Any]] = {}
    for sec in ("optim", "train"):
        va, vb = vars(getattr(a, sec)), vars(getattr(b, sec))
        out.update({k: [va[k], vb[k]] for k in va if k not in _SAME and va[k] != vb[k]})
    return out


def _weights_tests(plain: RunContext) -> tuple[dict[str, Any], str]:
    """The weights test per method from the run's saved ``sanity`` result, and where from (or
    why not)."""
    import json

    from convscope.studies.runner import result_path

    path = result_path(plain.path, "sanity")
    if not path.is_file():
        return (
            {},
            f"no sanity result for the run ({path.name} absent: add 'sanity' to its analyses)",
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        methods = doc["numbers"]["methods"]
        return {
            m: r["weights"] for m, r in methods.items()
        }, f"{plain.path.name}/analysis/{path.name}"
    except (OSError, ValueError, KeyError, TypeError) as e:
        return {}, f"{path}: unreadable sanity result ({type(e).__name__})"


@dataclass
class _Comparison:
    """What comparing every twin with its run gave: per method and measure, one array of image
    similarities per twin; per method, per twin, which of its maps are constant; the twins'
    fit records, the figures and the arrays saved beside the JSON."""

    sims: dict[str, dict[str, list[np.ndarray]]]
    flat: dict[str, list[np.ndarray]]
    fits: list[dict[str, Any]]
    figs: list[FigureRef]
    arrays: dict[str, np.ndarray]


def _compare_twins(
    ctx: GroupContext,
    pairs: list[tuple[RunContext, list[RunContext]]],
    p: Prepared,
    opts: LabelOptions,
) -> _Comparison:
    """Compare each twin's maps with its own run's; figures for the first seed's twins."""
    from convscope.studies.sanity.figures import maps_grid

    plain = pairs[0][0]
    c = _Comparison(
        sims={m: {k: [] for k in MEASURES} for m in p.methods},
        flat={m: [] for m in p.methods},  # twin map constant?
        fits=[],
        figs=[],
        arrays={"test_index": np.array(p.idx)},
    )
    twins = [(pl, t) for pl, ts in pairs for t in ts]
    prepared = {plain.path: p}
    for i, (pl, t) in enumerate(twins):
        pp = prepared.get(pl.path) or prepared.setdefault(pl.path, prepare(pl, opts))
        model = t.rd.load_model(None, device=pl.device)
        maps, s = compare_models(pp.model, model, pp.methods, pp.x, pp.target)
        for m, a in maps.items():
            c.flat[m].append(np.ptp(a.reshape(len(a), -1), axis=1) == 0)
        for m, d in s.items():
            for k, v in d.items():
                c.sims[m][k].append(v)
                c.arrays[f"{m}_{k}_twin{i}"] = v
        c.fits.append(
            {
                "run": t.path.name,
                "paired_with": pl.path.name,
                **_reached(t, opts.target),
                "differs_from_run": _differs(pl, t),
            }
        )
        if pl is not plain:  # one figure per seed would repeat the first seed's story
            continue
        fig = maps_grid(p.raw.cpu().numpy(), maps, p.titles(), notes=p.limits)
        c.figs.append(
            FigureRef(
                ctx.save_figure(fig, f"sanity_labels_maps_{i}"),
                f"The maps of the twin trained on permuted labels ({t.path.name})",
            )
        )
    return c


def _label_test(
    stats: dict[str, float], constant: bool, fitted: bool, target: float
) -> dict[str, Any]:
    """The label test of one method from its mean similarities to the twins."""
    if constant:
        return V.untestable("the twin's maps are constant (it learned nothing)")
    if not fitted:
        return V.untestable(
            f"the twin did not fit the permuted labels (training accuracy below "
            f"{target:g}); a twin that learned little has trivially different maps"
        )
    return V.depends(max(stats["spearman_abs"], stats["spearman"]), "labels")


def _label_verdict(m: str, lab: dict[str, Any], stats: dict[str, float]) -> Verdict:
    if lab["value"] is None:
        return Verdict(
            "not testable",
            f"{m}: {lab['words']}; rank correlation with the twin |map| "
            f"{stats['spearman_abs']:.2f}, signed {stats['spearman']:.2f}",
        )
    return Verdict(
        "supported" if lab["passes"] else "not supported",
        f"{m} {lab['words']}: rank correlation with the permuted-label twin "
        f"{lab['value']:.2f} (|map| {stats['spearman_abs']:.2f}, signed "
        f"{stats['spearman']:.2f}; threshold < {V.RHO_THRESHOLD})",
    )


def _label_results(
    methods: Any, c: _Comparison, fitted: bool, target: float
) -> tuple[dict[str, Any], dict[str, Verdict]]:
    """Per method its similarities to the twins and label test, and the ``<m>.labels``
    verdicts."""
    per_method: dict[str, Any] = {}
    verdicts: dict[str, Verdict] = {}
    for m in methods:
        stats = {k: float(np.nanmean(np.stack(v))) for k, v in c.sims[m].items()}
        per_twin = {k: [float(np.nanmean(x)) for x in v] for k, v in c.sims[m].items()}
        constant = all(bool(np.all(f)) for f in c.flat[m])
        lab = _label_test(stats, constant, fitted, target)
        per_method[m] = {
            "similarity_to_twin": stats,
            "per_twin": per_twin,  # image means, one per twin (a seed each): the seed spread
            "labels": lab,
        }
        verdicts[f"{m}.labels"] = _label_verdict(m, lab, stats)
    return per_method, verdicts


def _combined_verdict(c: dict[str, Any]) -> str:
    if c["answer"] == "not testable":
        return "not testable"
    return "supported" if c["answer"] == "weights and labels" else "not supported"


def _observations(
    per_method: dict[str, Any],
    fits: list[dict[str, Any]],
    fitted: bool,
    both: dict[str, Any],
    weights_from: str,
) -> list[str]:
    parts = ", ".join(
        f"{m} {r['similarity_to_twin']['spearman_abs']:.2f}" for m, r in per_method.items()
    )
    fit_words = "; ".join(
        f"{f['run']} reached training accuracy {f['train_accuracy']:.2f} on the permuted "
        f"labels (target {f['target']:.2f}: {'reached' if f['reached'] else 'not reached'})"
        for f in fits
        if f["train_accuracy"] is not None
    )
    return [
        f"Between the model and its twin trained on permuted labels, the maps keep a rank "
        f"correlation of |map| of {parts}. Depend on the labels (below {V.RHO_THRESHOLD}): "
        f"{', '.join(m for m, r in per_method.items() if r['labels']['passes']) or 'none'}"
        + ("" if fitted else " (untestable: the twin did not fit the permuted labels)")
        + ".",
        f"Twin: {fit_words}.",
        "Combined with the weights test ("
        + weights_from
        + "): "
        + "; ".join(f"{m} {c['words']}" for m, c in both.items())
        + ".",
    ]


def _choices() -> dict[str, str]:
    return {
        "twin": "the run's config with permute_labels set: training labels shuffled among the "
        "training images with that seed, test labels untouched; same model, seed and data; its "
        "optimiser and budget may differ (see twins[].differs_from_run) and "
        "stop_at_train_accuracy may stop it once it fits them",
        "images": "the sanity study's seeded test images; the class explained is the true one",
        "statistic": V.STAT_LABELS + " (over images and twins)",
        "verdict_labels": V.RHO_WHY,
        "verdict_combined": RULE,
    }


def _run_group(ctx: GroupContext, opts: LabelOptions) -> StudyResult:
    pairs = _pairs(ctx)
    plain = pairs[0][0]  # the first seed's run: its images, maps and weights test are shown
    p = prepare(plain, opts)
    c = _compare_twins(ctx, pairs, p, opts)
    ctx.write_npz("sanity_labels", **c.arrays)
    fitted = all(f["reached"] for f in c.fits)
    per_method, verdicts = _label_results(p.methods, c, fitted, opts.target)
    weights, weights_from = _weights_tests(plain)
    both = {
        m: combined_verdict(weights.get(m), r["labels"], missing_weights=weights_from)
        for m, r in per_method.items()
    }
    for m, cv in both.items():
        verdicts[f"{m}.weights_and_labels"] = Verdict(
            _combined_verdict(cv), f"{m} {cv['words']}: {cv['evidence']}"
        )
    numbers = {
        "methods": per_method,
        "twins": c.fits,
        "combined": both,
        "weights_from": weights_from,
        "run": plain.path.name,
        "not_computed": p.limits,
        "citation": CITATION,
    }
    obs = _observations(per_method, c.fits, fitted, both, weights_from)
    return StudyResult(numbers, obs, verdicts, c.figs, _choices())


@register
class SanityLabels(Study):
    name = "sanity_labels"
    title = "Do the pictures depend on the labels? (data randomisation)"
    paper_section = "Adebayo et al. 2018, §3.2"
    description = (
        "The maps of a run against those of its twin trained on permuted labels (same model, "
        "seed, trained until it fits them or its budget ends): a map that shows what the network learned about the classes "
        "changes when the labels it learned are noise."
    )
    scope = "group"
    order = 76
    reads = ("final checkpoints of a run and its permuted-label twin", "data", "metrics")
    Options = LabelOptions
    verdict_rules = {
        "<method>.labels": f"rank correlations of |map| and signed with a twin that fitted "
        f"the permuted labels < {V.RHO_THRESHOLD}",
        "<method>.weights_and_labels": RULE,
    }

    def render(self, saved: dict[str, Any], view: Any) -> list[Any] | None:
        return view.default(saved, extra=[combined_table(saved)], skip={"combined"})

    def run_group(self, ctx: GroupContext, opts: LabelOptions) -> StudyResult:
        with torch.inference_mode(False):
            return _run_group(ctx, opts)
