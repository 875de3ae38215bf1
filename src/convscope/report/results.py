"""Read an experiment's output directory (``OUT``) into plain objects; never trains.

Layout read (written by ``convscope run``)::

    OUT/experiment.json    {"name", "profile", "data_root", "data_note", "groups": [...],
                            "analysis": [{"run": "runs/<dir>", "what": [...]}]}
    OUT/runs/<dir>/        run directories (see :mod:`convscope.runs`)

A group's runs with the same ``label`` are one *configuration* (its seeds). Missing or
unfinished run directories are kept, with status ``"missing"`` / their summary's status, so the
report can say what is absent instead of failing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convscope import io
from convscope.errors import ConvscopeError
from convscope.experiments.schema import (
    ClaimSpec,
    EntryRecord,
    ExperimentRecord,
    GroupRecord,
    RunRecord,
)

METRICS = ("test_accuracy", "train_accuracy", "train_loss")
STATUS_MISSING = "missing"  # listed in experiment.json, no summary.json on disk


def _num(v: Any) -> float:
    """A metric value as float: JSON ``null`` (NaN), ``"inf"``/``"-inf"`` (see convscope.io)."""
    if v is None:
        return math.nan
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return math.nan
    return float(v)


@dataclass
class Curve:
    """One run's recorded metrics. Every array is ``(T,)``, ordered by ``steps``."""

    steps: np.ndarray
    values: dict[str, np.ndarray]

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> Curve:
        rows = sorted((r for r in rows if "step" in r), key=lambda r: int(r["step"]))
        steps = np.array([int(r["step"]) for r in rows], dtype=np.int64)
        values = {m: np.array([_num(r.get(m)) for r in rows], dtype=np.float64) for m in METRICS}
        return cls(steps, values)

    def __len__(self) -> int:
        return int(self.steps.size)


@dataclass
class Run:
    """One run listed in ``experiment.json`` and what its directory holds."""

    label: str
    seed: int | None
    hash: str
    dir: str  # relative to OUT, e.g. "runs/cnn-0-abc123"
    path: Path
    config: dict[str, Any]
    summary: dict[str, Any] | None
    curve: Curve
    data_info: dict[str, Any] | None
    planned: dict[str, Any] = field(default_factory=dict)  # experiment.json status.runs[dir]
    imported: str | None = None  # a run `convscope import` wrote: its path in the experiment file

    @property
    def status(self) -> str:
        """The run's summary status; without summary.json, what the runner recorded."""
        if self.summary is not None and self.summary.get("status"):
            return str(self.summary["status"])
        return str(self.planned.get("status") or STATUS_MISSING)

    @property
    def error(self) -> str | None:
        """Why the run stopped: summary ``reason`` or the runner's ``error``."""
        return (self.summary or {}).get("reason") or self.planned.get("error")

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    @property
    def diverged_step(self) -> int | None:
        if not self.diverged:
            return None
        s = (self.summary or {}).get("diverged_step")
        if s is not None:
            return int(s)
        return int(self.curve.steps[-1]) if len(self.curve) else None

    def _summary_or_curve(self, key: str, reduce: str) -> float | None:
        v = (self.summary or {}).get(key)
        if v is not None and math.isfinite(_num(v)):
            return _num(v)
        acc = self.curve.values["test_accuracy"]
        acc = acc[np.isfinite(acc)]
        if acc.size == 0:
            return None
        return float(acc.max() if reduce == "max" else acc[-1])

    @property
    def best_test_accuracy(self) -> float | None:
        return self._summary_or_curve("best_test_accuracy", "max")

    @property
    def final_test_accuracy(self) -> float | None:
        return self._summary_or_curve("final_test_accuracy", "last")

    @property
    def last_step(self) -> int:
        return int(self.curve.steps[-1]) if len(self.curve) else 0

    @property
    def model(self) -> str:
        return str(self.config.get("model", {}).get("model", "?"))

    @property
    def hidden_size(self) -> int | None:
        h = self.config.get("model", {}).get("hidden_size")
        return None if h is None else int(h)

    @property
    def optim(self) -> dict[str, Any]:
        return dict(self.config.get("optim", {}))

    @property
    def dataset_name(self) -> str:
        """The data set's name from the run's ``data.json`` (else from its config)."""
        if self.data_info and self.data_info.get("name"):
            return str(self.data_info["name"])
        data = str(self.config.get("data", {}).get("data", ""))
        return Path(data.rstrip("/")).name or data or "?"


@dataclass
class Configuration:
    """The runs of one label in a group (one per seed)."""

    label: str
    runs: list[Run]

    @property
    def first(self) -> Run:
        return self.runs[0]

    @property
    def present(self) -> list[Run]:
        """Runs with at least one recorded metric row."""
        return [r for r in self.runs if len(r.curve)]


@dataclass
class Group:
    name: str
    title: str
    section: str
    configs: list[Configuration]
    description: str = ""
    report: str = "full"  # "full": curves and tables; "analyses": its analyses only
    titled: bool = True
    milestones: dict[str, float] = field(default_factory=dict)

    @property
    def runs(self) -> list[Run]:
        return [r for c in self.configs for r in c.runs]


Entry = EntryRecord  # one ``[[analysis]]`` table, as experiment.json records it


@dataclass
class Experiment:
    """Everything the report reads, loaded once."""

    out: Path
    name: str
    profile: str
    data_root: str | None
    data_note: str
    file: str
    groups: dict[str, Group]
    analysis: list[dict[str, Any]]
    raw: dict[str, Any] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    claims: list[ClaimSpec] = field(default_factory=list)
    chapters: dict[str, str] = field(default_factory=dict)
    _rules: tuple[dict[str, Any], str] | None = field(default=None, repr=False, compare=False)

    def claim_rules(self) -> tuple[dict[str, Any], str]:
        """The experiment's curve rules (its ``claim_rules`` plugin, imported only when it is
        the code the user ran: :func:`convscope.report.claims.trusted_rules`), and why none."""
        from convscope.report.claims import RulesRef, trusted_rules

        if self._rules is None:
            rec = self.raw.get("claim_rules")
            if not isinstance(rec, dict):
                self._rules = ({}, "the experiment names no claim_rules")
            else:
                get = lambda k: str(rec.get(k, ""))  # noqa: E731
                self._rules = trusted_rules(
                    RulesRef(get("ref"), get("file"), get("sha256")), self.out
                )
        return self._rules

    def planned(self, rel: str) -> dict[str, Any]:
        """What the runner recorded for run dir ``rel`` (status, error, analysis)."""
        st = self.raw.get("status")
        runs = st.get("runs") if isinstance(st, dict) else None
        p = runs.get(rel) if isinstance(runs, dict) else None
        return p if isinstance(p, dict) else {}

    def group(self, name: str) -> Group | None:
        return self.groups.get(name)

    def all_runs(self) -> list[tuple[Run, list[str]]]:
        """Distinct runs (by directory) with the groups that list them, in listing order."""
        seen: dict[str, tuple[Run, list[str]]] = {}
        for g in self.groups.values():
            for r in g.runs:
                if r.dir in seen:
                    if g.name not in seen[r.dir][1]:
                        seen[r.dir][1].append(g.name)
                else:
                    seen[r.dir] = (r, [g.name])
        return list(seen.values())

    def dataset_names(self) -> list[str]:
        names: list[str] = []
        for r, _ in self.all_runs():
            if r.data_info is not None and r.dataset_name not in names:
                names.append(r.dataset_name)
        return names


def _safe_rel(out: Path, rel: str, where: str) -> Path:
    """``OUT/rel``, refusing absolute paths and paths that leave OUT."""
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts:
        raise ConvscopeError(f"{where}: run dir {rel!r} must be a relative path inside OUT")
    return out / p


def load_run(
    out: Path, entry: dict[str, Any], where: str, planned: dict[str, Any] | None = None
) -> Run:
    """One run entry of ``experiment.json`` and its directory (absent files are tolerated)."""
    rec = RunRecord.from_json(entry, where)
    rel = rec.dir
    path = _safe_rel(out, rel, where)
    summary = None
    sp = path / "summary.json"
    if sp.is_file():
        summary = io.read_json(sp)
    dp = path / "data.json"
    data_info = io.read_json(dp) if dp.is_file() else None
    config = rec.config
    if config is None:
        cp = path / "config.json"
        config = io.read_json(cp) if cp.is_file() else {}
    seed = rec.seed if "seed" in entry else config.get("train", {}).get("seed")
    return Run(
        label=rec.label or str(config.get("name") or path.name),
        seed=None if seed is None else int(seed),
        hash=rec.hash,
        dir=rel,
        path=path,
        config=config,
        summary=summary,
        curve=Curve.from_rows(io.read_jsonl(path / "metrics.jsonl")),
        data_info=data_info,
        planned=planned or {},
        imported=rec.imported,
    )


def _load_group(out: Path, g: Any, where: str, planned: dict[str, Any]) -> Group:
    """One ``groups[i]`` entry of ``experiment.json``, with its runs by configuration."""
    rec = GroupRecord.from_json(g, where)  # the object, its name and its runs, checked
    configs: dict[str, Configuration] = {}
    for ri, entry in enumerate(g["runs"]):
        rel = str(entry.get("dir", "")).rstrip("/")
        p = planned.get(rel) if isinstance(planned.get(rel), dict) else None
        run = load_run(out, entry, f"{where}.runs[{ri}]", p)
        configs.setdefault(run.label, Configuration(run.label, [])).runs.append(run)
    return Group(
        name=rec.name,
        title=rec.title,
        section=rec.section,
        configs=list(configs.values()),
        description=rec.description,
        report=rec.report,
        titled=rec.titled,
        milestones=rec.milestones,
    )


def load_experiment(out_dir: str | Path) -> Experiment:
    """Read ``OUT/experiment.json`` and every run it lists.

    Raises:
        ConvscopeError: no or malformed ``experiment.json``.
    """
    out = Path(out_dir)
    ep = out / "experiment.json"
    if not ep.is_file():
        raise ConvscopeError(f"{ep}: not found; `convscope run EXPERIMENT --out {out}` writes it")
    try:
        raw = io.read_json(ep)
    except ValueError as e:
        raise ConvscopeError(f"{ep}: not valid JSON ({e})") from None
    rec = ExperimentRecord.from_json(raw, str(ep))  # the one schema, checked key by key
    planned = rec.status.get("runs") if isinstance(rec.status.get("runs"), dict) else {}
    groups: dict[str, Group] = {}
    for gi, g in enumerate(raw["groups"]):
        group = _load_group(out, g, f"{ep}: groups[{gi}]", planned)
        groups[group.name] = group
    for i, e in enumerate(rec.entries):
        for rel in e.runs:
            _safe_rel(out, rel, f"{ep}: entries[{i}]")
    return Experiment(
        out=out,
        name=rec.name or out.name,
        profile=rec.profile,  # "" = the file has no profiles
        data_root=rec.data_root,
        data_note=rec.data_note,
        file=rec.file,
        groups=groups,
        analysis=rec.analysis,
        raw=raw,
        entries=rec.entries,
        claims=rec.claims,
        chapters=rec.chapters,
    )
