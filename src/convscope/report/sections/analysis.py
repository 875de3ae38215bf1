"""Any registered analysis in the report, read from its saved JSON (never recomputed).

Each ``[[analysis]]`` table of the experiment becomes, under its group's section, one section per
analysis: the study's ``description``, then per analysed run (or once, for a group-scope
analysis) what :meth:`~convscope.studies.base.Study.render` returns, by default
:meth:`RenderView.default`: observations, verdicts, figures, tables of its numbers, and the
recorded options and choices. An analysis that has not written its JSON gets the command that
fills it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convscope import io
from convscope.errors import ConfigError
from convscope.paths import group_dir
from convscope.report.document import (
    Block,
    Bullets,
    Details,
    Figure,
    Fold,
    Para,
    Section,
    Table,
    verdict_bullets,
)
from convscope.report.results import Entry, Experiment, Run
from convscope.report.tables import all_numbers, human, readable_tables

SCHEMA_PREFIX = "convscope.study/"


# --- generic numbers -------------------------------------------------------------------------
def _fmt_scalar(v: Any) -> str | None:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, str):
        return v if len(v) <= 80 else None
    if v is None:
        return "–"
    return None


# not numbers about the result: where it came from, how it was drawn, what it is called
SKIP_KEYS = {
    "observation",
    "observations",
    "sentence",
    "choices",
    "figures",
    "run",
    "device",
    "citation",
    "cites",
    "source",
    "data",
    "applicable",
    "gabor_params",
    "observation_uses",
    "class_names",  # where the names came from, not a result (and wrong once they are set)
}
MAX_ROWS = 40


def _is_matrix(v: Any) -> bool:
    return (
        isinstance(v, dict)
        and isinstance(v.get("rows"), list)
        and isinstance(v.get("columns"), list)
        and isinstance(v.get("mean"), list)
    )


def flatten_numbers(
    obj: Any, prefix: str = "", depth: int = 0, skip: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """(dotted key, value) rows of the scalars in an analysis JSON (short lists joined).

    Keys in :data:`SKIP_KEYS` or ``skip`` (top level), ``*_choices`` and matrix objects (shown
    as their own tables) are left out.
    """
    rows: list[tuple[str, str]] = []
    if isinstance(obj, dict):
        if _is_matrix(obj):
            return rows
        for k, v in obj.items():
            k = str(k)
            if k in SKIP_KEYS or k.endswith("_choices") or (depth == 0 and k in skip):
                continue
            key = f"{prefix}.{k}" if prefix else k
            rows.extend(flatten_numbers(v, key, depth + 1))
    elif isinstance(obj, list):
        if len(obj) <= 8 and all(
            not isinstance(x, dict | list) and _fmt_scalar(x) is not None for x in obj
        ):
            rows.append((prefix, ", ".join(_fmt_scalar(x) or "" for x in obj)))
        elif all(isinstance(x, dict) for x in obj) and len(obj) <= 12 and depth < 3:
            for i, x in enumerate(obj):
                name = x.get("layer") or x.get("name") or str(i)
                rows.extend(flatten_numbers(x, f"{prefix}[{name}]", depth + 1))
    else:
        v = _fmt_scalar(obj)
        if v is not None:
            rows.append((prefix, v))
    return rows


def matrix_tables(obj: Any, path: str = "") -> list[Table]:
    """``{"rows", "columns", "mean"[, "std"]}`` objects as tables of ``mean ± std``."""
    out: list[Table] = []
    if not isinstance(obj, dict):
        return out
    if _is_matrix(obj):
        mean, std = obj["mean"], obj.get("std")
        rows = []
        for i, r in enumerate(obj["rows"]):
            cells = [str(r)]
            for j in range(len(obj["columns"])):
                try:
                    m = float(mean[i][j])
                    text = f"{m:.3f}"
                    if isinstance(std, list):
                        text += f" ± {float(std[i][j]):.3f}"
                except (IndexError, TypeError, ValueError):
                    text = "–"
                cells.append(text)
            rows.append(cells)
        cap = ("" if path in ("", "table") else f"{human(path).removeprefix('table ')}: ") + (
            "mean" + (" ± std" if isinstance(std, list) else "")
        )
        out.append(Table(["", *map(str, obj["columns"])], rows, caption=cap))
        return out
    for k, v in obj.items():
        if k not in SKIP_KEYS:
            out.extend(matrix_tables(v, f"{path}.{k}" if path else str(k)))
    return out


# --- rendering ---------------------------------------------------------------------------------
@dataclass
class RenderView:
    """Where a saved result lives, for turning it into blocks (paths relative to OUT)."""

    out: Path
    base: Path  # the run (or group) directory the JSON's figure paths are relative to
    label: str

    def rel(self, p: str) -> str:
        full = self.base / p
        return full.relative_to(self.out).as_posix() if full.is_relative_to(self.out) else p

    def default(
        self, saved: dict[str, Any], extra: Sequence[Block] = (), skip: Iterable[str] = ()
    ) -> list[Block]:
        blocks: list[Block] = []
        obs = [str(o) for o in saved.get("observations") or []]
        if obs:
            blocks.append(Bullets(obs, "obs", "Observations"))
        if (vb := verdict_bullets(saved)) is not None:
            blocks.append(vb)
        shown = 0
        for f in saved.get("figures") or []:
            if isinstance(f, dict) and isinstance(f.get("path"), str):
                src = self.rel(f["path"])
                cap = str(f.get("caption") or Path(f["path"]).stem)
                fig = Figure(src, f"{cap} — run `{self.label}` (`{src}`).")
                # the first figure carries the argument; the others (other layers, other
                # scales) are one click away, each under its caption
                blocks.append(fig if not shown else Fold(f"Figure: {cap}", [fig]))
                shown += 1
        numbers = saved.get("numbers") or {}
        tables: list[Block] = [*extra, *matrix_tables(numbers)]
        if not extra:  # per-layer / per-case records as tables with named columns and units
            tables.extend(readable_tables(numbers, SKIP_KEYS | set(skip)))
        for i, t in enumerate(tables):  # the first table open, the others one click away
            cap = t.caption.rstrip(".") if isinstance(t, Table) else ""
            blocks.append(t if i == 0 or not cap else Fold(f"Table: {cap}", [t]))
        rows = flatten_numbers(numbers)
        if rows:  # every number under its JSON key, folded
            blocks.append(
                Details(
                    f"All {len(rows)} numbers of `{saved.get('study', '?')}`", all_numbers(rows)
                )
            )
        items = [f"option {k} = {v!r}" for k, v in (saved.get("options") or {}).items()]
        for k, v in (saved.get("choices") or {}).items():
            items.append(f"{k}: {v}")
        if items:
            blocks.append(Details(f"Options and choices recorded by `{saved.get('study')}`", items))
        return blocks


def load_saved(path: Path) -> dict[str, Any] | None:
    """A study JSON, or None when absent; raises ValueError for one that is not ours."""
    if not path.is_file():
        return None
    d = io.read_json(path)
    if not isinstance(d, dict) or not str(d.get("schema", "")).startswith(SCHEMA_PREFIX):
        raise ValueError("not a convscope study result (no 'schema')")
    return d


def _study(spec: str) -> Any:
    try:
        from convscope.studies.base import resolve

        return resolve(spec)
    except ConfigError:
        return None  # e.g. a user's module that is not importable here: default rendering


def _about(cls: Any, name: str, places: list[tuple[Run | None, Path]]) -> tuple[str, str, str]:
    """An analysis's title, paper section and description: its class's, or, when the class
    cannot be imported here (a user's module), what its first saved result recorded."""
    if cls is not None:
        return cls.title, cls.paper_section, cls.description
    for _, path in places:
        try:
            d = load_saved(path)
        except (ValueError, OSError):
            d = None
        if d is not None:
            title, ref, about = (
                str(d.get(k) or "") for k in ("title", "paper_section", "description")
            )
            return title or name, ref, about
    return name, "", ""


def saved_results(exp: Experiment, entry: Entry, name: str) -> list[tuple[Run | None, Path]]:
    """Where ``name`` of ``entry`` saved (or will save) its JSON: per run, or the group's."""
    if entry.scope.get(name) == "group":
        return [(None, group_dir(exp.out, entry.group) / "analysis" / f"{name}.json")]
    by_rel = {r.dir: r for r, _ in exp.all_runs()}
    return [(by_rel.get(rel), exp.out / rel / "analysis" / f"{name}.json") for rel in entry.runs]


def entry_sections(
    exp: Experiment, entry: Entry, out_label: str, numbers: list[str], prefix: str
) -> list[Section]:
    """One section per analysis of ``entry`` (``numbers``: their section numbers)."""
    out = []
    for (spec, name), number in zip(zip(entry.what, entry.names), numbers):
        cls = _study(spec)
        places = saved_results(exp, entry, name)
        heading, ref, description = _about(cls, name, places)
        title = entry.title if entry.title and len(entry.names) == 1 else ""
        if not title:
            title = heading + (f" ({ref})" if ref else "")
        sid = f"sec-{number.replace('.', '-')}" if number else f"{prefix}-{name}"
        s = Section(sid, number, title)
        if description:
            s.blocks.append(Para(description, "note"))
        for run, path in places:
            label = run.label if run else entry.group
            base = path.parent.parent
            if len(places) > 1:
                s.blocks.append(
                    Para(f"Run `{label}` (`{base.relative_to(exp.out).as_posix()}`):", "note")
                )
            try:
                saved = load_saved(path)
            except (ValueError, OSError) as e:
                s.blocks.append(
                    Para(
                        f"`{path.relative_to(exp.out).as_posix()}` could not be read ({e}).", "warn"
                    )
                )
                continue
            if saved is None:
                s.blocks.append(_missing(exp, run, entry, spec, out_label))
                continue
            view = RenderView(exp.out, base, label)
            blocks = cls().render(saved, view) if cls is not None else None
            s.blocks.extend(blocks if blocks is not None else view.default(saved))
        out.append(s)
    return out


def _missing(exp: Experiment, run: Run | None, entry: Entry, spec: str, out_label: str) -> Para:
    if run is None:
        return Para(
            f"`{spec}` compares the runs of group `{entry.group}` and has not written its result "
            f"yet; `convscope run EXPERIMENT --out {out_label}` runs it once the group's runs "
            "have finished.",
            "missing",
        )
    hint = f"`convscope analyze {out_label.rstrip('/')}/{run.dir} --what {spec}`"
    if exp.planned(run.dir).get("analysis") == "failed":
        return Para(
            f"The analyses of run `{run.label}` failed during `convscope run` (its log says "
            f"why). Retry with {hint}.",
            "warn",
        )
    return Para(
        f"`{spec}` has not written its result for run `{run.label}` yet. Fill it with {hint}.",
        "missing",
    )


def group_studies(exp: Experiment, group: str) -> dict[str, list[dict[str, Any]]]:
    """The saved results of every analysis of ``group``, by analysis name (for claim rules)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for e in exp.entries:
        if e.group != group:
            continue
        for name in e.names:
            for _, path in saved_results(exp, e, name):
                try:
                    d = load_saved(path)
                except (ValueError, OSError):
                    d = None
                if d is not None:
                    out.setdefault(name, []).append(d)
    return out
