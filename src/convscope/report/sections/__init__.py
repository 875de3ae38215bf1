"""Assemble the report from an experiment's saved results, following its experiment file.

Sections are the experiment's groups in file order, with their titles and section numbers; a
group's analyses (its ``[[analysis]]`` tables) are sections under it; ``[chapters]`` give
titles to section-number prefixes ("1" = "Problem 1: ...") and collect the groups numbered
under them. The claims an experiment declares (``[[claims]]``) are tested by their named rules
(:mod:`convscope.report.claims`), shown in the section they name and in a table at the top;
an experiment that declares none gets no claims table. Then a table of every run and how the
numbers are computed.

Modules: :mod:`.common` (figures, per-group numbers), :mod:`.groups` (one renderer per kind
of group), :mod:`.analysis` (any registered analysis), :mod:`.runs` (closing sections).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from convscope import __version__
from convscope.report import wording
from convscope.report.claims import GroupInput, evaluate
from convscope.report.document import Claim, Claims, Document, Para, Section, fold_long_tables
from convscope.report.results import Experiment, Group
from convscope.report.sections.analysis import entry_sections, group_studies
from convscope.report.sections.common import FigureSink, GroupNumbers, group_numbers, no_runs
from convscope.report.sections.groups import group_blocks
from convscope.report.sections.imported import imported_blocks, trained_part
from convscope.report.sections.runs import section_method, section_runs, section_summary

__all__ = ["FigureSink", "build_document"]


def _sid(number: str, name: str) -> str:
    return f"sec-{number.replace('.', '-')}" if number else f"sec-{name}"


def _has_curves(g: Group) -> bool:
    return any(r.curve.steps.size for r in g.runs)


def _group_units(
    exp: Experiment, g: Group, gn: GroupNumbers | None, figs: FigureSink, out_label: str
) -> tuple[list[Section], list[Claim], dict[str, list[dict[str, Any]]]]:
    """The top-level sections a group contributes (one, or its analyses when it has no
    heading of its own), its claims, each placed in the section it names, and its analyses'
    saved results (by analysis name)."""
    subs: list[Section] = []
    auto = 0
    for e in (e for e in exp.entries if e.group == g.name):
        if e.section and len(e.names) == 1:
            numbers = [e.section]
        else:
            base = e.section or g.section
            numbers = []
            for _ in e.names:
                auto += 1
                numbers.append(f"{base}.{auto}" if base else "")
        subs.extend(entry_sections(exp, e, out_label, numbers, _sid(g.section, g.name)))
    units: list[Section]
    if g.report == "analyses" and not g.titled:
        units = subs
    else:
        used = {r.dataset_name for r in g.runs if r.data_info is not None}
        title = g.title
        if used and all("digits" in u.lower() for u in used):
            title = wording.data_title(g.title, "digits")  # the digits replaced the data
        s = Section(_sid(g.section, g.name), g.section, title)
        if g.report == "analyses":
            if g.description:
                s.blocks.append(Para(g.description, "note"))
        elif gn is None and trained_part(g).runs:
            s.blocks.append(no_runs(trained_part(g), out_label))
        elif gn is not None:
            s.blocks.extend(group_blocks(gn, figs, g.description))
        elif g.description:
            s.blocks.append(Para(g.description))
        s.blocks.extend(imported_blocks(g))  # no curves of runs trained elsewhere: one line
        s.children = subs
        units = [s]
    ginput = None
    if gn is not None:
        ginput = GroupInput(gn.present, gn.horizon, gn.threshold, gn.dataset)
    if ginput is None:
        ginput = GroupInput([], 0, 0.0, "?")
    ginput.studies = group_studies(exp, g.name)
    mine = [c for c in exp.claims if c.group == g.name]
    rules, missing = exp.claim_rules() if mine else ({}, "")
    claims = [evaluate(c, ginput, rules, missing) for c in mine]
    every = [x for u in units for x in (u, *u.children)]
    for c in claims:
        target = next((x for x in every if x.number and x.number == c.section), None)
        target = target or (units[0] if units else None)
        if target is not None:
            target.blocks.append(Claims([c]))
    return units, claims, ginput.studies


def _chaptered(units: list[Section], chapters: dict[str, str]) -> list[Section]:
    """Top-level sections with each numbered one nested under its parent number, whichever
    group it comes from: "2.8" goes under the section numbered "2" placed before it (or, with
    none, under the chapter "2" of ``[chapters]``), "2.8.1" under "2.8"; the rest stay at the
    top, in order. A chapter collects every unit numbered under it."""
    out: list[Section] = []
    placed: dict[str, Section] = {}

    def place(sec: Section) -> None:
        for x in sec.walk():
            if x.number:
                placed.setdefault(x.number, x)

    for u in units:
        parent = None
        parts = u.number.split(".") if u.number else []
        for k in range(len(parts) - 1, 0, -1):
            parent = placed.get(".".join(parts[:k]))
            if parent is not None:
                break
        if parent is None and len(parts) > 1 and parts[0] in chapters:
            parent = Section(f"sec-{parts[0]}", parts[0], chapters[parts[0]])
            out.append(parent)
            placed[parts[0]] = parent
        if parent is None:
            out.append(u)
        else:
            parent.children.append(u)
        place(u)
    return out


def build_document(exp: Experiment, figs: FigureSink, out_label: str) -> Document:
    """The whole report for ``exp``; report figures are written through ``figs``."""
    units: list[Section] = []
    claims: list[Claim] = []
    gns: list[GroupNumbers] = []
    studies: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for g in exp.groups.values():
        trained = trained_part(g)  # runs trained elsewhere have no curves (imported_blocks)
        gn = group_numbers(trained) if _has_curves(trained) else None
        if gn is not None and g.report == "full":
            gns.append(gn)
        u, c, studies[g.name] = _group_units(exp, g, gn, figs, out_label)
        units.extend(u)
        claims.extend(c)
    sections = [section_summary(claims)] if exp.claims else []
    sections.extend(_chaptered(units, exp.chapters))
    sections.append(section_runs(exp, out_label))
    rules = [(c.quote, c.rule, c.group) for c in exp.claims]
    sections.append(section_method(gns, rules, exp, studies))
    for sec in (x for top in sections for x in top.walk()):
        if sec.id != "sec-summary":  # the claims table is the page's summary: never folded
            sec.blocks = fold_long_tables(sec.blocks)

    runs = [r for r, _ in exp.all_runs()]
    status = Counter(r.status for r in runs)
    banner = []
    if _is_builtin_digits(exp):
        banner.append(
            Para(
                "The built-in scikit-learn digits replaced the reference data (CIFAR-10 / MNIST) "
                "in this output: the numbers below are not comparable to the reference report. "
                "Pass --data-root with the reference data to reproduce it.",
                "warn",
            )
        )
    unfinished = len(runs) - status.get("completed", 0) - status.get("diverged", 0)
    if unfinished:
        banner.append(
            Para(
                f"{unfinished} of {len(runs)} runs are not finished ("
                + ", ".join(
                    f"{n} {s}" for s, n in status.items() if s not in ("completed", "diverged")
                )
                + "): sections built from them are partial.",
                "warn",
            )
        )
    meta = [
        ("Experiment", f"{exp.name}" + (f" (`{exp.file}`)" if exp.file else "")),
        ("Profile", exp.profile or "none"),
        ("Data", exp.data_note or "(no data note recorded)"),
        ("Data sets used", ", ".join(exp.dataset_names()) or "–"),
        ("Runs", f"{len(runs)}: " + ", ".join(f"{n} {s}" for s, n in status.items())),
        ("Output", f"`{out_label}`"),
        ("TensorBoard", f"`tensorboard --logdir {out_label}`"),
        ("Written by", f"convscope {__version__} (`convscope report {out_label}`)"),
    ]
    return Document(
        title=f"convscope report: {exp.name}",
        meta=meta,
        banner=banner,
        sections=sections,
    )


def _is_builtin_digits(exp: Experiment) -> bool:
    names = [n.lower() for n in exp.dataset_names()]
    note = exp.data_note.lower()
    return any(n == "digits" for n in names) or "built-in" in note or "builtin" in note
