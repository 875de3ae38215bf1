"""The sections every report ends with (all runs, how the numbers are computed) and the
claims table it opens with when its experiment declares claims."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from convscope.report import claims as claim_rules
from convscope.report import stats
from convscope.report.document import Bullets, Claim, Fold, Links, Para, Section, Table
from convscope.report.results import Experiment
from convscope.report.sections.common import GroupNumbers
from convscope.report.stats import pct


def _f(v: Any, fmt: str) -> str:
    if v is None:
        return "–"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    return format(x, fmt) if math.isfinite(x) else str(x)


def section_runs(exp: Experiment, out_label: str) -> Section:
    s = Section("sec-runs", "", "All runs")
    rows = []
    reasons: list[str] = []  # long reasons go under the table, not into a narrow cell
    for r, groups in exp.all_runs():
        sm = r.summary or {}
        status = r.status
        if r.diverged and r.diverged_step is not None:
            status += f" at {r.diverged_step}"
        if r.error and r.status in ("diverged", "failed"):
            reasons.append(f"`{r.label}` ({r.status}): {r.error}")
            status += f" [{len(reasons)}]"
        best = r.best_test_accuracy
        best_step = sm.get("best_step")
        rows.append(
            [
                f"`{r.label}`",
                ", ".join(groups),
                "–" if r.seed is None else str(r.seed),
                status,
                f"{sm.get('step', r.last_step)}/{sm.get('total_steps', '?')}",
                pct(best)
                + (f" @{best_step}" if best is not None and best_step is not None else ""),
                pct(r.final_test_accuracy),
                _f(sm.get("wall_time_s"), ".1f"),
                _f(sm.get("images_per_second"), ".0f"),
                f"`{r.dir}`",
            ]
        )
    s.blocks.append(
        Table(
            [
                "run",
                "group",
                "seed",
                "status",
                "iterations",
                "best test acc. @iteration",
                "final test acc.",
                "wall time (s)",
                "images/s",
                "directory",
            ],
            rows,
            caption="every run of this output: status, accuracy, time and directory",
        )
    )
    if reasons:
        s.blocks.append(
            Bullets(
                [f"[{i}] {text}" for i, text in enumerate(reasons, 1)], title="Why runs stopped"
            )
        )
    sites = [
        (f"{r.label}: unit explorer", f"{r.dir}/explore/index.html")
        for r, _ in exp.all_runs()
        if (exp.out / r.dir / "explore" / "index.html").is_file()
    ]
    if sites:
        s.blocks.append(Links(sites, title="Unit explorers (`convscope explore RUN` built them)"))
    s.blocks.append(
        Para(
            f"`tensorboard --logdir {out_label}` shows every run (scalars `train_loss`, "
            "`train_accuracy`, `test_accuracy`, activation histograms where recorded) with its "
            "hyperparameters in the HPARAMS tab."
        )
    )
    return s


def timing_rows(exp: Experiment) -> list[list[str]]:
    """One row per saved study result that recorded its cost (``doc["timing"]``): the analysis,
    where it ran, its wall and CPU seconds; a last row with the totals."""
    from convscope.report.sections.analysis import load_saved, saved_results

    rows: list[list[str]] = []
    seen: set[Path] = set()
    total_wall = total_cpu = 0.0
    for e in exp.entries:
        for name in e.names:
            for run, path in saved_results(exp, e, name):
                if path in seen:
                    continue
                seen.add(path)
                try:
                    saved = load_saved(path)
                except (ValueError, OSError):
                    continue
                timing = (saved or {}).get("timing")
                if not isinstance(timing, dict):
                    continue
                wall, cpu = timing.get("wall_s"), timing.get("cpu_s")
                where = f"`{run.label}`" if run is not None else f"group `{e.group}`"
                rows.append([f"`{name}`", where, _f(wall, ".1f"), _f(cpu, ".1f")])
                total_wall += float(wall or 0.0)
                total_cpu += float(cpu or 0.0)
    if rows:
        rows.append(["**all**", "", _f(total_wall, ".1f"), _f(total_cpu, ".1f")])
    return rows


def section_method(
    groups: Sequence[GroupNumbers],
    rules: Sequence[tuple[str, str, str]],
    exp: Experiment | None = None,
    studies: Mapping[str, Mapping[str, Sequence[dict[str, Any]]]] | None = None,
) -> Section:
    """``rules``: each claim's quote, rule and group; ``studies``: per group, its analyses'
    saved results (the text of a verdict's rule is read from them)."""
    s = Section("sec-method", "", "How the numbers are computed")
    items = list(stats.CHOICES.values())
    for gn in groups:
        items.append(
            f"`{gn.group.name}`: threshold {gn.threshold_note}; speed horizon {gn.horizon} "
            "iterations."
        )
    s.blocks.append(Bullets(items, "text", "Aggregation and thresholds"))
    if rules:
        curve_rules = exp.claim_rules()[0] if exp else {}
        s.blocks.append(
            Fold(
                f"How each claim is tested ({len(rules)} rules)",
                [
                    Bullets(
                        [
                            f"“{q}”: "
                            + claim_rules.rule_text(r, curve_rules, (studies or {}).get(g))
                            for q, r, g in rules
                        ],
                        "text",
                    )
                ],
            )
        )
    timings = timing_rows(exp) if exp is not None else []
    if timings:
        s.blocks.append(
            Para(
                "What each analysis cost when it ran (wall-clock seconds, and the CPU seconds of "
                "its process, all threads), as recorded in its analysis/*.json:"
            )
        )
        s.blocks.append(Table(["analysis", "run", "wall time (s)", "CPU time (s)"], timings))
    s.blocks.append(
        Para(
            "Every number in this report is read from the run directories under this output "
            "(metrics.jsonl, summary.json, analysis/*.json); the report never trains. Rerun "
            "`convscope report OUT` after more runs or analyses finish.",
            "note",
        )
    )
    return s


def section_summary(claims: Sequence[Claim]) -> Section:
    s = Section("sec-summary", "", "The experiment's claims at a glance")
    counts = Counter(c.verdict for c in claims)
    s.blocks.append(
        Para(
            f"{counts.get('supported', 0)} supported, {counts.get('not supported', 0)} not "
            f"supported, {counts.get('not testable', 0)} not testable with this output. Each "
            "verdict links to its section, where the numbers are."
        )
    )
    rows = [
        [f"[{c.section}](#sec-{c.section.replace('.', '-')})", f"“{c.quote}”", f"**{c.verdict}**"]
        for c in sorted(claims, key=lambda c: c.section)
    ]
    s.blocks.append(Table(["section", "claim", "this output"], rows))
    return s
