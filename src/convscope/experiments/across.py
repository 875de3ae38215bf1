"""Group-level analyses of an experiment (``[[analysis]] across = true``), run by
``convscope run`` once every run of the group has finished.

Writes ``OUT/groups/<group>/across.json``, ``across.md`` and ``figures/across_*.png``
(:func:`convscope.analysis.across_summary.write_group`). A result newer than every run's
``summary.json`` is kept (a finished sweep run again does not redo it).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from convscope.analysis.across import RunRef
from convscope.errors import ConvscopeError
from convscope.experiments.spec import Experiment
from convscope.runs import FINISHED, RunDir

log = logging.getLogger(__name__)

GROUPS_DIR = "groups"
RESULT = "across.json"


def result_dir(out: Path, group: str) -> Path:
    return out / GROUPS_DIR / group


def _up_to_date(path: Path, refs: list[RunRef]) -> bool:
    if not path.is_file():
        return False
    t = path.stat().st_mtime
    return all((r.path / "summary.json").stat().st_mtime <= t for r in refs)


def run_across(exp: Experiment, dirs: dict[str, Path], out: Path) -> list[dict[str, Any]]:
    """Run every ``exp.across`` analysis whose group has finished.

    Args:
        dirs: run hash -> run directory.

    Returns:
        One status row per analysis, for ``experiment.json``: ``{"group", "title", "dir",
        "status", "error"?}``; status is completed, skipped (a run is not finished) or failed.
    """
    from convscope.analysis.across_summary import write_group

    rows = []
    for a in exp.across:
        g = next(g for g in exp.groups if g.name == a.group)
        d = result_dir(out, a.group)
        row: dict[str, Any] = {"group": a.group, "title": a.title, "dir": f"{GROUPS_DIR}/{a.group}"}
        refs = [RunRef(r.label, r.seed, dirs[r.hash]) for r in g.runs]
        if not all(RunDir(r.path).status() in FINISHED for r in refs):
            rows.append({**row, "status": "skipped"})
            continue
        if _up_to_date(d / RESULT, refs):
            rows.append({**row, "status": "completed"})
            continue
        try:
            s = write_group(refs, d, reference=a.reference or None, title=a.title)
        except Exception as e:  # trained runs are never lost to a failed analysis
            msg = str(e) if isinstance(e, ConvscopeError) else f"{type(e).__name__}: {e}"
            log.error("group %s: across-group analysis failed: %s", a.group, msg)
            rows.append({**row, "status": "failed", "error": msg})
            continue
        log.info("group %s: across-group analysis of %d runs", a.group, len(s.get("runs", [])))
        rows.append({**row, "status": "completed"})
    return rows
