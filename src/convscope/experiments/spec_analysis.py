"""An experiment file's ``[[analysis]]`` and ``[[claims]]`` tables and its ``claim_rules``
(:mod:`convscope.experiments.spec`), checked against the expanded groups before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convscope.errors import ConfigError
from convscope.experiments.expanded import AnalysisEntry, AnalysisSpec, Group, RunSpec
from convscope.experiments.schema import ClaimSpec
from convscope.experiments.spec_checks import as_table, check_keys, seed_list

ANALYSIS_KEYS = ("group", "label", "seeds", "what", "options", "section", "title")
CLAIM_KEYS = ("quote", "section", "group", "rule")


def claim_rules(raw: Any, file: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The experiment's own claim rules (``claim_rules = "file.py:RULES"``): where they are, and
    the rules (imported: the user runs this experiment file, which names them)."""
    if raw is None:
        return {}, {}
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"{file}: key 'claim_rules': expected 'file.py:NAME' or 'module:NAME'")
    from convscope.report.claims import import_rules, locate_rules

    loc = locate_rules(raw, Path(file).resolve().parent, file)
    return loc.to_dict(), import_rules(loc, file)


def claims(raw: Any, groups: list[Group], file: str, rules: dict[str, Any]) -> list[ClaimSpec]:
    """The ``[[claims]]`` tables: each names a group and a rule that exists."""
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError(f"{file}: key 'claims': expected an array of tables ([[claims]])")
    names = [g.name for g in groups]
    out = []
    for i, c in enumerate(raw):
        where = f"{file} [[claims]] #{i + 1}"
        c = as_table(c, where)
        check_keys(c, CLAIM_KEYS, where)
        for key in CLAIM_KEYS:
            if not isinstance(c.get(key), str) or not c[key]:
                raise ConfigError(f"{where}: key '{key}': expected a non-empty string")
        if c["group"] not in names:
            raise ConfigError(
                f"{where}: key 'group': expected one of {', '.join(names)}, got {c['group']!r}"
            )
        from convscope.report.claims import check_rule

        check_rule(c["rule"], where, rules)
        out.append(ClaimSpec(c["quote"], c["section"], c["group"], c["rule"]))
    return out


def _resolve_what(what: list[str], where: str) -> list[Any]:
    from convscope.studies.base import resolve

    out = []
    for w in what:
        try:
            out.append(resolve(w))
        except ConfigError as e:
            raise ConfigError(f"{where}: key 'what': {e}") from None
    return out


def analyses(
    raw: Any, groups: list[Group], file: str
) -> tuple[list[AnalysisSpec], list[AnalysisEntry]]:
    """The ``[[analysis]]`` tables: the run-scope analyses of each run they cover, and each
    table as the report shows it (analyses and options are checked here, before training)."""
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError(f"{file}: key 'analysis': expected an array of tables ([[analysis]])")
    from convscope.studies.runner import run_scope_names  # (it imports studies.base)

    by_name = {g.name: g for g in groups}
    out: list[AnalysisSpec] = []
    entries: list[AnalysisEntry] = []
    for i, a in enumerate(raw):
        where = f"{file} [[analysis]] #{i + 1}"
        a = as_table(a, where)
        check_keys(a, ANALYSIS_KEYS, where)
        gname = a.get("group")
        if gname not in by_name:
            raise ConfigError(
                f"{where}: key 'group': expected one of {', '.join(by_name)}, got {gname!r}"
            )
        what = a.get("what", "all")
        if isinstance(what, str):
            what = run_scope_names() if what == "all" else [w.strip() for w in what.split(",")]
        if not isinstance(what, list) or not what or not all(isinstance(w, str) for w in what):
            raise ConfigError(f"{where}: key 'what': expected a non-empty list of analyses")
        what = list(dict.fromkeys(what))
        classes = _resolve_what(what, where)
        options = a.get("options", {})
        by_cls = _check_options(options, classes, where)
        for key in ("section", "title"):
            if not isinstance(a.get(key, ""), str):
                raise ConfigError(f"{where}: key '{key}': expected a string")
        runs = _analysed_runs(a, by_name[gname], where)
        run_what = [w for w, c in zip(what, classes) if c.scope == "run"]
        run_opts = {k: v for k, v in options.items() if by_cls[k].scope == "run"}
        if run_what:
            for r in runs:
                out.append(AnalysisSpec(gname, r.label, r.seed, r.hash, run_what, run_opts))
        entries.append(
            AnalysisEntry(
                group=gname,
                what=what,
                names=[c.name for c in classes],
                scope={c.name: c.scope for c in classes},
                section=a.get("section", ""),
                title=a.get("title", ""),
                options={k: dict(v) for k, v in options.items()},
                runs=[r.hash for r in runs],
            )
        )
    return out, entries


def _check_options(options: Any, classes: list[Any], where: str) -> dict[str, Any]:
    """The key ``options``: a table per analysis of ``classes``, each valid for its Options
    (checked here, before anything runs); the classes by name."""
    from convscope.studies.base import make_options

    if not isinstance(options, dict):
        raise ConfigError(f"{where}: key 'options': expected a table per analysis name")
    by_cls = {c.name: c for c in classes}
    for k, v in options.items():
        if k not in by_cls:
            raise ConfigError(
                f"{where}: key 'options': {k!r} is not in 'what' ({', '.join(by_cls)})"
            )
        if not isinstance(v, dict):
            raise ConfigError(f"{where}: key 'options.{k}': expected a table")
        make_options(by_cls[k], v, where)  # fails here, before anything runs
    return by_cls


def _analysed_runs(a: dict[str, Any], group: Group, where: str) -> list[RunSpec]:
    """The runs of ``group`` an ``[[analysis]]`` table covers: those of its ``label`` (all
    without one), of its ``seeds`` (the first seed to train without them), and every imported
    run."""
    gname = group.name
    runs = group.runs
    label = a.get("label")
    if label is not None:
        runs = [r for r in runs if r.label == label]
        if not runs:
            labels = sorted({r.label for r in group.runs})
            raise ConfigError(
                f"{where}: key 'label': group '{gname}' has no run '{label}'; "
                f"expected one of {', '.join(labels)}"
            )
    if "seeds" in a:
        seeds = seed_list(a["seeds"], where)
        have = {r.seed for r in runs if r.imported is None}
        if not have:
            raise ConfigError(
                f"{where}: key 'seeds' applies to runs to train; group '{gname}' only names "
                "imported runs (each is analysed)"
            )
        missing = [s for s in seeds if s not in have]
        if missing:
            raise ConfigError(
                f"{where}: key 'seeds': seed {missing[0]} is not run in this profile "
                f"(seeds {sorted(have)})"
            )
        return [r for r in runs if r.seed in seeds or r.imported is not None]
    # the first seed of the runs to train; every imported run
    first = min((r.seed for r in runs if r.imported is None), default=None)
    return [r for r in runs if r.seed == first or r.imported is not None]
