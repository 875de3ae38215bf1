"""The one schema of ``OUT/experiment.json``: dataclasses that ``convscope run`` writes and the
report reads (:mod:`convscope.experiments.run`, :mod:`convscope.report.results`).

The experiment file is expanded into a plan (:mod:`convscope.experiments.spec`: run configs to
train, analyses to run); what the plan left on disk is this record: every group with its runs'
folders, every ``[[analysis]]`` table with the run folders it covers, the claims, and each
run's status. ``to_json`` gives the file's layout (keys in this order); ``from_json`` checks
a file read back, naming the key that is wrong.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from convscope.errors import ConvscopeError


def need(d: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``d[key]`` of type ``kind``, or one line naming the key (ConvscopeError)."""
    if key not in d:
        raise ConvscopeError(f"{where}: missing key '{key}'")
    if not isinstance(d[key], kind):
        raise ConvscopeError(f"{where}: key '{key}' has the wrong type ({type(d[key]).__name__})")
    return d[key]


@dataclass
class ClaimSpec:
    """A claim the experiment makes: quote, report section, group, and a named rule."""

    quote: str
    section: str
    group: str
    rule: str

    @classmethod
    def from_json(cls, c: Any, where: str) -> ClaimSpec:
        if not isinstance(c, dict):
            raise ConvscopeError(f"{where}: expected an object")
        return cls(*(str(need(c, k, str, where)) for k in ("quote", "section", "group", "rule")))


@dataclass
class EntryRecord:
    """One ``[[analysis]]`` table: analyses shown under ``group``, in file order."""

    group: str
    what: list[str]  # as given (registered names or import paths)
    names: list[str]  # registered names (the JSON file names)
    scope: dict[str, str]  # name -> "run" | "group"
    section: str
    title: str
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)  # run folders, relative to OUT

    @classmethod
    def from_json(cls, e: Any, where: str) -> EntryRecord:
        if not isinstance(e, dict):
            raise ConvscopeError(f"{where}: expected an object naming one of the groups")
        names = [str(n) for n in need(e, "names", list, where)]
        opts = e.get("options")
        return cls(
            group=str(e.get("group")),
            what=[str(w) for w in e.get("what") or names],
            names=names,
            scope={str(k): str(v) for k, v in (e.get("scope") or {}).items()},
            section=str(e.get("section") or ""),
            title=str(e.get("title") or ""),
            options=opts if isinstance(opts, dict) else {},
            runs=[str(r).rstrip("/") for r in e.get("runs") or []],
        )


@dataclass
class RunRecord:
    """One run of a group: its label, seed, identity, folder and config."""

    label: str
    seed: int | None
    hash: str
    dir: str  # relative to OUT, e.g. "runs/cnn-s0-abc123"
    config: dict[str, Any] | None = None
    imported: str | None = None  # the source folder of a run `convscope import` made

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if self.imported is None:
            d.pop("imported")
        return d

    @classmethod
    def from_json(cls, entry: Any, where: str) -> RunRecord:
        if not isinstance(entry, dict):
            raise ConvscopeError(f"{where}: expected an object")
        config = entry.get("config")
        seed = entry.get("seed")
        return cls(
            label=str(entry.get("label") or ""),
            seed=None if seed is None else int(seed),
            hash=str(entry.get("hash", "")),
            dir=str(need(entry, "dir", str, where)).rstrip("/"),
            config=config if isinstance(config, dict) else None,
            imported=entry["imported"] if isinstance(entry.get("imported"), str) else None,
        )


@dataclass
class GroupRecord:
    """One group of the experiment file and its runs."""

    name: str
    title: str
    section: str
    description: str
    report: str  # "full": curves and tables; "analyses": its analyses only
    titled: bool  # the file gives the group a title
    milestones: dict[str, float]
    runs: list[RunRecord]

    def to_json(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "runs"}
        return {**d, "runs": [r.to_json() for r in self.runs]}

    @classmethod
    def from_json(cls, g: Any, where: str) -> GroupRecord:
        if not isinstance(g, dict):
            raise ConvscopeError(f"{where}: expected an object")
        name = str(need(g, "name", str, where))
        runs = [
            RunRecord.from_json(e, f"{where}.runs[{i}]")
            for i, e in enumerate(need(g, "runs", list, where))
        ]
        return cls(
            name=name,
            title=str(g.get("title") or name),
            section=str(g.get("section") or ""),
            description=str(g.get("description") or ""),
            report=str(g.get("report") or "full"),
            titled=bool(g.get("titled", True)),
            milestones={
                str(k): float(v)
                for k, v in (g.get("milestones") or {}).items()
                if isinstance(v, int | float)
            },
            runs=runs,
        )


@dataclass
class ExperimentRecord:
    """``OUT/experiment.json``."""

    file: str
    name: str
    description: str
    profile: str  # "" = the file has no profiles
    data_root: str | None
    data_note: str
    groups: list[GroupRecord]
    analysis: list[dict[str, Any]]  # {"run": folder, "what": [...]} per analysed run
    entries: list[EntryRecord]
    claims: list[ClaimSpec]
    chapters: dict[str, str]
    claim_rules: dict[str, str] = field(default_factory=dict)  # only written when declared
    status: dict[str, Any] = field(default_factory=dict)  # {"runs": {folder: {...}}, ...}

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "file": self.file,
            "name": self.name,
            "description": self.description,
            "profile": self.profile,
            "data_root": self.data_root,
            "data_note": self.data_note,
            "groups": [g.to_json() for g in self.groups],
            "analysis": self.analysis,
            "entries": [dataclasses.asdict(e) for e in self.entries],
            "claims": [dataclasses.asdict(c) for c in self.claims],
            "chapters": self.chapters,
        }
        if self.claim_rules:  # outputs without a plugin keep their bytes
            doc["claim_rules"] = self.claim_rules
        doc["status"] = self.status
        return doc

    @classmethod
    def from_json(cls, raw: Any, where: str) -> ExperimentRecord:
        if not isinstance(raw, dict):
            raise ConvscopeError(f"{where}: expected a JSON object at the top level")
        groups = [
            GroupRecord.from_json(g, f"{where}: groups[{i}]")
            for i, g in enumerate(need(raw, "groups", list, where))
        ]
        names = {g.name for g in groups}
        entries = []
        for i, e in enumerate(raw.get("entries") or []):
            if not isinstance(e, dict) or e.get("group") not in names:
                raise ConvscopeError(
                    f"{where}: entries[{i}]: expected an object naming one of the groups"
                )
            entries.append(EntryRecord.from_json(e, f"{where}: entries[{i}]"))
        claims = [
            ClaimSpec.from_json(c, f"{where}: claims[{i}]")
            for i, c in enumerate(raw.get("claims") or [])
        ]
        analysis = raw.get("analysis") or []
        if not isinstance(analysis, list):
            raise ConvscopeError(f"{where}: key 'analysis' must be a list")
        chapters = raw.get("chapters") if isinstance(raw.get("chapters"), dict) else {}
        rules = raw.get("claim_rules")
        status = raw.get("status")
        return cls(
            file=str(raw.get("file") or ""),
            name=str(raw.get("name") or ""),
            description=str(raw.get("description") or ""),
            profile=str(raw.get("profile") or ""),
            data_root=raw.get("data_root"),
            data_note=str(raw.get("data_note") or ""),
            groups=groups,
            analysis=[a for a in analysis if isinstance(a, dict) and "run" in a],
            entries=entries,
            claims=claims,
            chapters={str(k): str(v) for k, v in chapters.items()},
            claim_rules={str(k): str(v) for k, v in rules.items()}
            if isinstance(rules, dict)
            else {},
            status=status if isinstance(status, dict) else {},
        )
