"""Inside the network, across a sweep: what each configuration of a group does to the units.

Named in an experiment file as ``[[analysis]] group = "optimizers"  what = ["across"]``; it runs
once every run of the group has finished and writes ``OUT/groups/<group>/analysis/across.json``
(and ``across.md``, the tables and sentences ready to quote).

A group-level study (``scope = "group"``): for every run of the group (every seed) it reads the
activation records and model snapshots training wrote -- no retraining -- and measures dead units
per layer (at the end and over training), the first layer's Gabor fit against its own
initialisation, when each layer's statistics settle, and how far each layer's weights moved from
initialisation (:mod:`convscope.studies.across.compute`). Configurations (runs sharing a label) are
compared with their seed spread: Welch t-tests against a reference configuration, Holm-corrected
per quantity (:mod:`convscope.studies.across.summary`, :mod:`convscope.analysis.significance`).

Verdicts, one per kind of quantity (``dead_fraction_differs``, ``gabor_differs``,
``settle_step_differs``, ``weight_change_differs``): "supported" when some configuration differs
from the reference after correction, "not supported" when tests were made and none did, "not
testable" with fewer than two seeds per configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from convscope import io
from convscope.formatting import p_value
from convscope.studies.across import files
from convscope.studies.across.compute import RunRef
from convscope.studies.across.files import collect
from convscope.studies.across.summary import FAMILIES, markdown, summarize
from convscope.studies.base import FigureRef, GroupContext, Study, StudyResult, Verdict, register


@dataclass(frozen=True)
class AcrossOptions:
    reference: str = ""  # label of the configuration compared against; "" = the group's first
    alpha: float = 0.05  # significance level after Holm correction
    gabor: bool = True  # fit Gabor functions to first-layer filters (the costly part)


def _verdict(summary: dict[str, Any], family: str) -> Verdict:
    comps = [c for cols in summary["comparisons"].get(family, {}).values() for c in cols]
    hits = [c for c in comps if c["significant"]]
    tested = [c for c in comps if c["p_holm"] is not None]
    ref = summary["reference"]
    if hits:
        best = min(hits, key=lambda c: c["p_holm"])
        return Verdict(
            "supported",
            f"{len(hits)} of {len(tested)} comparisons with {ref} differ after Holm correction "
            f"(smallest corrected p = {p_value(best['p_holm'])}, {best['label']})",
        )
    if tested:
        return Verdict(
            "not supported",
            f"none of {len(tested)} comparisons with {ref} differs after Holm correction",
        )
    return Verdict("not testable", "fewer than two seeds per configuration: no test")


@register
class Across(Study):
    name = "across"
    title = "Inside the network, per configuration"
    paper_section = "Zeiler & Fergus 2014, §4 (feature evolution), §4.1 (dead features)"
    description = (
        "What each setting of the group does to the units, from the activation statistics and "
        "snapshots every run recorded (no retraining): dead units per layer, the first layer's "
        "Gabor fit against its initialisation, when each layer settles and how far its weights "
        "moved. Mean ± sample std over seeds; configurations are compared with the reference by "
        "Welch's t-test, Holm-corrected over each column's comparisons."
    )
    scope = "group"
    order = 90
    reads = ("activations.jsonl", "checkpoints (snapshots)")
    Options = AcrossOptions

    def run_group(self, ctx: GroupContext, opts: AcrossOptions) -> StudyResult:
        refs = [
            RunRef(r.label, getattr(r, "seed", None), r.path)
            if getattr(r, "seed", None) is not None
            else RunRef(r.label, r.rd.config().train.seed, r.path)
            for r in ctx.runs
        ]
        runs, notes = collect(refs, opts.gabor)
        s = summarize(runs, opts.reference or None, opts.alpha)
        s["notes"] = notes
        io.atomic_write_bytes(ctx.dir / "analysis" / "across.md", markdown(s).encode())
        figs = [
            FigureRef(ctx.save_figure(fig, f"across_{name}"), caption)
            # files.figures, not a name imported here: importing the submodule
            # studies.across.figures rebinds the package's name `figures` to that module
            for name, fig, caption in (files.figures(s, runs) if runs else [])
        ]
        choices = s.pop("choices", {})
        observations = [o["text"] for o in s.pop("observations", [])] + s.pop("notes")
        verdicts = {f"{f.name}_differs": _verdict(s, f.name) for f in FAMILIES} if runs else {}
        return StudyResult(
            numbers={**s, "runs": runs},
            observations=observations,
            verdicts=verdicts,
            figures=figs,
            choices=choices,
        )

    def render(self, saved: dict[str, Any], view: Any) -> list[Any] | None:
        from convscope.report.document import verdict_bullets
        from convscope.studies.across.report import across_blocks

        figs = {}
        for f in saved.get("figures") or []:
            if isinstance(f, dict) and isinstance(f.get("path"), str):
                stem = f["path"].rsplit("/", 1)[-1].removesuffix(".png")
                figs[stem.removeprefix("across_")] = f
        summary = {**(saved.get("numbers") or {}), "figures": figs}
        summary["choices"] = saved.get("choices") or {}
        blocks = across_blocks(summary, view.rel, [str(o) for o in saved.get("observations") or []])
        if (vb := verdict_bullets(saved)) is not None:
            blocks.append(vb)
        return blocks
