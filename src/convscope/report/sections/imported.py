"""Runs a group names with ``imported`` (written by ``convscope import``, trained elsewhere):
no training record, so no curves; the group's section says so in one line, with each run's
test accuracy at import, and its analyses show as for any run."""

from __future__ import annotations

import dataclasses

from convscope.report.document import Block, Para
from convscope.report.results import Configuration, Group, Run
from convscope.report.stats import pct


def imported_runs(g: Group) -> list[Run]:
    return [r for r in g.runs if r.imported is not None]


def trained_part(g: Group) -> Group:
    """``g`` without its imported runs (``g`` itself when it has none)."""
    if not imported_runs(g):
        return g
    configs = [Configuration(c.label, [r for r in c.runs if r.imported is None]) for c in g.configs]
    return dataclasses.replace(g, configs=[c for c in configs if c.runs])


def imported_blocks(g: Group) -> list[Block]:
    """One line about the group's imported runs (none: no block)."""
    runs = imported_runs(g)
    if not runs:
        return []
    parts = []
    for r in runs:
        n = (r.summary or {}).get("test_images")
        acc = pct(r.final_test_accuracy) + (f" on {n} test images" if n else "")
        parts.append(f"`{r.label}` (`{r.imported}`, {r.status}): test accuracy {acc}")
    many = len(runs) > 1
    return [
        Para(
            f"No training curves for {'these runs' if many else 'this run'}: "
            f"{'they were' if many else 'it was'} trained outside convscope and imported with "
            "`convscope import`, so there is no training record. " + "; ".join(parts) + ".",
            "note",
        )
    ]
