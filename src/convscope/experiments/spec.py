"""Experiment files: a set of runs described once, expanded into resolved run configs.

An experiment file is TOML::

    name = "assignment2"              # used for the default output directory
    description = "..."               # optional
    default_profile = "quick"         # profile used without --profile
    seeds = [0]                       # default seeds of every group

    [defaults]                        # flat run-config keys shared by every run
    batch_size = 50

    [groups.rnn]                      # a named group of runs (kept in file order)
    title = "Recurrent sweep"         # for the report
    section = "3.1"                   # the reference report's section
    data = "{data_root}/MNIST"        # data paths relative to --data-root
    label = "{model}_h{hidden_size}"  # label template (run-config keys in braces)
    [groups.rnn.grid]                 # cartesian product of these lists
    model = ["rnn", "lstm", "gru"]
    hidden_size = [32, 64, 128, 256]

    [[groups.optimizers.runs]]        # an explicit list of variations
    label = "adam_lr=1e-3"
    optimizer = "adam"
    lr = 1e-3

    [profiles.quick]                  # budgets: --profile quick
    seeds = 1                         # a count (0..n-1) or a list
    [profiles.quick.defaults]         # applied on top of every run of every group
    iterations = 300
    [profiles.quick.groups.cnn]       # applied on top of one group's runs
    keep_checkpoints = [50, 100, 200]

    [[analysis]]                      # analyses after training, shown under their group
    group = "cnn"                     # every run of the group (first seed only) ...
    label = "adam_lr=1e-3"            # ... or only this label (optional)
    what = ["filters", "mypkg.mod:Mine"]  # registered names (convscope analyze --list) or paths
    options = { filters = { alpha = 0.01 } }  # per analysis, checked against its Options
    section = "1.3"                   # optional section number / title (one analysis)

    [[claims]]                        # claims the report tests (table only if any)
    quote = "..."                     # the claim's words
    section = "1.3"                   # where the report shows it
    group = "cnn"                     # whose numbers test it
    rule = "filters.gabor_like"       # <analysis>.<verdict>, or a rule of claim_rules

    [chapters]                        # titles of section-number prefixes (optional)
    "1" = "Problem 1"

Group keys for the report: ``title``, ``section``, ``description``, ``report = "analyses"``
(no curves: the group only shows its analyses; without a ``title``, no heading of its own) and
``milestones = { test_accuracy = 0.95, train_loss = 0.2 }`` (first-iteration columns).
``imported = ["imports/mynet"]``: runs ``convscope import`` wrote, relative to this file's folder,
never trained (:mod:`convscope.experiments.imported`); with it, the group trains runs only when
it gives ``grid``, ``runs`` or run-config keys of its own.

Precedence, lowest first: ``[defaults]``, the group's keys, the variation (a ``runs`` item and a
``grid`` point), the profile's ``defaults``, the profile's group table, the profile's table for
one run of the group (``[profiles.P.groups.G.runs.LABEL]``, :mod:`.run_tables`). Setting ``iterations`` in
a layer drops an ``epochs`` set by a lower layer and vice versa (they are two ways to give one
budget). A profile may not set a key that a group varies (it would collapse the variations), a
key may not be both in ``grid`` and ``runs``, and ``seed`` is given only through ``seeds``.
Unknown keys and impossible combinations raise :class:`~convscope.errors.ConfigError` naming the
file, table and key.

A run's identity is :func:`convscope.config.config_hash` of its resolved config: two groups that
list the same config share one run (trained once).

Data: string values of run keys may contain ``{data_root}``. With a data root (``--data-root`` or
``CONVSCOPE_DATA_ROOT``) it is substituted (made absolute); without one, every such data source
is replaced by the built-in ``digits`` data set and :attr:`Experiment.data_note` says so.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convscope.config import (
    FLAT_KEYS,
    INT_MAX,
    SECTIONS,
    RunConfig,
    flatten,
    from_flat,
    short_model_name,
)
from convscope.errors import ConfigError
from convscope.experiments.run_tables import check_run_tables, pop_run_tables
from convscope.experiments.schema import ClaimSpec
from convscope.paths import check_name
from convscope.train.precision import run_hash

DATA_ROOT_ENV = "CONVSCOPE_DATA_ROOT"
DATA_ROOT_FIELD = "{data_root}"
FALLBACK_DATA = "digits"
BUDGET_KEYS = ("epochs", "iterations")  # two spellings of one budget: a layer sets one

TOP_KEYS = (
    "name",
    "description",
    "default_profile",
    "seeds",
    "defaults",
    "groups",
    "profiles",
    "analysis",
    "claims",
    "claim_rules",
    "chapters",
)
GROUP_META = (
    "title",
    "section",
    "description",
    "label",
    "seeds",
    "grid",
    "runs",
    "report",
    "milestones",
    "imported",
)
MILESTONE_METRICS = ("test_accuracy", "train_accuracy", "train_loss")
GROUP_REPORT = ("full", "analyses")  # a group's report section: curves and tables, or analyses only
PROFILE_KEYS = ("description", "seeds", "defaults", "groups")
ANALYSIS_KEYS = ("group", "label", "seeds", "what", "options", "section", "title")
CLAIM_KEYS = ("quote", "section", "group", "rule")


@dataclass
class RunSpec:
    """One run of a group: its label, seed and resolved config (``config.name`` is set)."""

    label: str
    seed: int
    config: RunConfig
    hash: str
    imported: str | None = None  # a run `convscope import` wrote: its path as the file gives it
    source: str | None = None  # ... and that folder, absolute (never trained; see .imported)


@dataclass
class Group:
    name: str
    title: str
    section: str
    description: str
    runs: list[RunSpec]
    report: str = "full"  # one of GROUP_REPORT
    titled: bool = (
        True  # the file gives the group a title (an untitled "analyses" group has no heading)
    )
    milestones: dict[str, float] = field(default_factory=dict)  # metric -> level for the report


@dataclass
class AnalysisSpec:
    """Analyses ``what`` of the run with ``hash`` (a run of ``group``)."""

    group: str
    label: str
    seed: int
    hash: str
    what: list[str]  # registered names or pkg.module:Class, as the file gives them
    options: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class AnalysisEntry:
    """One ``[[analysis]]`` table as the report shows it: under ``group``, in file order."""

    group: str
    what: list[str]  # as given (names or import paths)
    names: list[str]  # registered names (the JSON file names)
    scope: dict[str, str]  # name -> "run" | "group"
    section: str
    title: str
    options: dict[str, dict[str, Any]]
    runs: list[str]  # run hashes analysed (run scope)


@dataclass
class Experiment:
    """An expanded experiment file for one profile."""

    file: str
    name: str
    description: str
    profile: str
    profiles: list[str]
    data_root: str | None
    data_note: str
    groups: list[Group]
    analysis: list[AnalysisSpec] = field(default_factory=list)
    entries: list[AnalysisEntry] = field(default_factory=list)
    claims: list[ClaimSpec] = field(default_factory=list)
    chapters: dict[str, str] = field(default_factory=dict)
    claim_rules: dict[str, str] = field(default_factory=dict)  # RulesRef.to_dict(), or empty

    def unique_runs(self) -> list[RunSpec]:
        """Distinct runs by identity, in first-listed order.

        Groups that share a run may ask for different snapshots (``keep_checkpoints`` is not
        part of the identity): the shared run keeps all of them.
        """
        seen: dict[str, RunSpec] = {}
        for g in self.groups:
            for r in g.runs:
                first = seen.setdefault(r.hash, r)
                keep = first.config.train.keep_checkpoints
                if first is not r and set(r.config.train.keep_checkpoints) - set(keep):
                    t = dataclasses.replace(
                        first.config.train,
                        keep_checkpoints=sorted({*keep, *r.config.train.keep_checkpoints}),
                    )
                    cfg = dataclasses.replace(first.config, train=t)
                    seen[r.hash] = dataclasses.replace(first, config=cfg)
        return list(seen.values())


# --- helpers ---------------------------------------------------------------------------------
def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table, got {type(value).__name__} {value!r}")
    return value


def _check_keys(d: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for k in d:
        if k not in allowed:
            raise ConfigError(f"{where}: unknown key '{k}'; expected one of {', '.join(allowed)}")


def _run_keys(d: dict[str, Any], where: str) -> dict[str, Any]:
    """Flatten run-config keys (flat or sectioned), rejecting unknown ones and ``seed``."""
    flat = flatten(d, where=where)
    if "seed" in flat:
        raise ConfigError(f"{where}: key 'seed' is not allowed here; use 'seeds' (a list or count)")
    if "name" in flat:
        raise ConfigError(f"{where}: key 'name' is not allowed here; use 'label'")
    if all(b in flat for b in BUDGET_KEYS):
        raise ConfigError(f"{where}: give either 'epochs' or 'iterations', not both")
    return flat


MAX_SEEDS = 1000  # a count of seeds (each one a run of every configuration)
MAX_GROUP_RUNS = 50_000  # runs one group may expand to (`convscope run --max-runs` asks first)


def _seeds(value: Any, where: str) -> list[int]:
    if isinstance(value, bool) or not isinstance(value, int | list):
        raise ConfigError(f"{where}: key 'seeds': expected a count or a list of integers")
    if isinstance(value, int):
        if not 0 < value <= MAX_SEEDS:
            raise ConfigError(
                f"{where}: key 'seeds': expected a count from 1 to {MAX_SEEDS}, got {value}"
            )
        return list(range(value))
    if not value or any(
        isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= INT_MAX for s in value
    ):
        raise ConfigError(
            f"{where}: key 'seeds': expected a non-empty list of integers from 0 to 2**64-1, "
            f"got {str(value)[:80]}"
        )
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: key 'seeds': repeated seed in {value!r}")
    return list(value)


def _merge(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge flat layers, lowest first; a budget key in a layer drops the other one below it."""
    out: dict[str, Any] = {}
    for layer in layers:
        for b in BUDGET_KEYS:
            if b in layer:
                for other in BUDGET_KEYS:
                    if other != b:
                        out.pop(other, None)
        out.update(layer)
    return out


def resolve_data_root(data_root: str | Path | None) -> str | None:
    """``data_root``, else ``$CONVSCOPE_DATA_ROOT``, as an absolute path; None if neither."""
    root = data_root if data_root not in (None, "") else os.environ.get(DATA_ROOT_ENV) or None
    if root is None:
        return None
    p = Path(os.path.abspath(Path(str(root)).expanduser()))
    if not p.is_dir():
        source = "--data-root" if data_root not in (None, "") else DATA_ROOT_ENV
        raise ConfigError(f"{source}: {p} is not a directory")
    return str(p)


def _substitute(flat: dict[str, Any], data_root: str | None, replaced: set[str]) -> dict[str, Any]:
    out = dict(flat)
    for k, v in flat.items():
        if isinstance(v, str) and DATA_ROOT_FIELD in v:
            if data_root is None:
                replaced.add(v)
                out[k] = FALLBACK_DATA if k == "data" else None
            else:
                out[k] = v.replace(DATA_ROOT_FIELD, data_root)
    if out.get("data") == FALLBACK_DATA and flat.get("data") != FALLBACK_DATA:
        out.pop("class_names", None)  # they named the replaced source's classes, not the digits'
    return out


def _key_order(key: str) -> tuple[int, str]:
    """Config keys in their dataclass order; a factory argument after ``model``."""
    root = "model_args" if key.startswith("model_args.") else key
    return (list(FLAT_KEYS).index(root) if root in FLAT_KEYS else len(FLAT_KEYS), key)


def flat_values(cfg: RunConfig) -> dict[str, Any]:
    """Every run-config field of ``cfg`` by its flat key (``lr``, ``hidden_size``, ...), each
    factory argument as ``model_args.<name>``, and ``model`` by its short name (the factory's
    name, not its path)."""
    out: dict[str, Any] = {}
    for section in SECTIONS:
        out.update(dataclasses.asdict(getattr(cfg, section)))
    out["model"] = short_model_name(cfg.model.model)
    for k, v in cfg.model.model_args.items():
        out[f"model_args.{k}"] = v
    return out


def _label(template: str | None, varied: list[str], cfg: RunConfig, where: str) -> str:
    values = flat_values(cfg)
    if template is None:
        return "_".join(f"{k}={values.get(k)}" for k in varied) if varied else "run"
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f]
    except ValueError as e:
        raise ConfigError(f"{where}: key 'label': bad template {template!r}: {e}") from None
    for f in fields:
        if f not in values:
            raise ConfigError(
                f"{where}: key 'label': template field '{{{f}}}' is not a run-config key"
                + (" or a model_args entry of this run" if f.startswith("model_args.") else "")
            )
    try:  # "{model_args.width}": a dotted field is looked up whole, not as an attribute
        out, fmt = [], string.Formatter()
        for text, f, spec, conv in fmt.parse(template):
            out.append(text)
            if f is not None:
                v = fmt.convert_field(values[f], conv) if f else ""
                out.append(format(v, spec or ""))
        return "".join(out)
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise ConfigError(f"{where}: key 'label': cannot format {template!r}: {e}") from None


def _check_budget(cfg: RunConfig, where: str) -> None:
    t = cfg.train
    if t.iterations is not None:
        late = [s for s in t.keep_checkpoints if s > t.iterations]
        if late:
            raise ConfigError(
                f"{where}: key 'keep_checkpoints': steps {late} are beyond 'iterations' "
                f"{t.iterations}"
            )
    if any(s <= 0 for s in t.keep_checkpoints):
        raise ConfigError(f"{where}: key 'keep_checkpoints': expected positive steps")
    from convscope.models import REGISTRY

    m = cfg.model.model
    if m not in REGISTRY and ":" not in m:
        raise ConfigError(
            f"{where}: key 'model': expected one of {', '.join(REGISTRY)} or "
            f"'package.module:factory', got {m!r}"
        )


def _profile(
    pdoc: Any, where: str, groups_doc: dict[str, Any]
) -> tuple[list[int] | None, dict[str, Any], dict[str, tuple[Any, ...]]]:
    """A profile's layers: (seeds, flat defaults, {group: (seeds, flat keys, run tables)})."""
    prof = _table(pdoc, where)
    _check_keys(prof, PROFILE_KEYS, where)
    seeds = _seeds(prof["seeds"], where) if "seeds" in prof else None
    defaults = _run_keys(_table(prof.get("defaults", {}), where + ".defaults"), where + ".defaults")
    groups: dict[str, tuple[Any, ...]] = {}
    for g, gdoc in _table(prof.get("groups", {}), where + ".groups").items():
        gwhere = f"{where}.groups.{g}"
        if g not in groups_doc:
            raise ConfigError(
                f"{where}.groups: unknown group '{g}'; expected one of {', '.join(groups_doc)}"
            )
        gd = dict(_table(gdoc, gwhere))
        gseeds = _seeds(gd.pop("seeds"), gwhere) if "seeds" in gd else None
        runs = pop_run_tables(gd, gwhere, _table, _run_keys)  # run_tables.py
        groups[g] = (gseeds, _run_keys(gd, gwhere), runs)
    return seeds, defaults, groups


# --- loading ---------------------------------------------------------------------------------
def read_experiment_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: experiment file not found")
    try:
        return tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{p}: not valid TOML: nested too deeply") from None


def load_experiment(
    path: str | Path,
    profile: str | None = None,
    data_root: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> Experiment:
    """Read an experiment file and expand it for ``profile``.

    Args:
        path: the TOML file.
        profile: a profile name in the file (None: its ``default_profile``, or its only one).
        data_root: folder substituted for ``{data_root}``; None: ``$CONVSCOPE_DATA_ROOT``; when
            neither is set, data sources with ``{data_root}`` become the built-in digits.
        overrides: flat config keys set on every run, over everything the file says (the
            ``convscope run --device/--precision`` options); each run's identity is hashed
            with them.

    Raises:
        ConfigError: unknown keys, bad values or impossible combinations (naming the key).
    """
    doc = read_experiment_file(path)
    return expand(doc, str(path), profile, resolve_data_root(data_root), overrides)


def expand(
    doc: dict[str, Any],
    file: str,
    profile: str | None,
    data_root: str | None,
    overrides: dict[str, Any] | None = None,
) -> Experiment:
    """Expand a parsed experiment document (see :func:`load_experiment`)."""
    _check_keys(doc, TOP_KEYS, file)
    name = doc.get("name", Path(file).stem)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{file}: key 'name': expected a non-empty string")
    description = doc.get("description", "")
    defaults = _run_keys(
        _table(doc.get("defaults", {}), f"{file} [defaults]"), f"{file} [defaults]"
    )
    top_seeds = _seeds(doc.get("seeds", [0]), file)

    # profiles
    profiles = _table(doc.get("profiles", {}), f"{file} [profiles]")
    if profile is None:
        profile = doc.get("default_profile")
        if profile is None:
            if len(profiles) == 1:
                profile = next(iter(profiles))
            elif profiles:
                raise ConfigError(
                    f"{file}: several profiles ({', '.join(profiles)}) and no 'default_profile'; "
                    "pass --profile"
                )
    elif profile not in profiles:
        raise ConfigError(
            f"--profile: no profile '{profile}' in {file}; expected one of "
            f"{', '.join(profiles) or '(none defined)'}"
        )
    if profile is not None and profile not in profiles:
        raise ConfigError(f"{file}: key 'default_profile': no profile '{profile}'")
    groups_doc = _table(doc.get("groups", {}), f"{file} [groups]")
    if not groups_doc:
        raise ConfigError(
            f"{file}: no [groups.<name>] table; an experiment needs at least one group"
        )
    layers = {  # check every profile, not only the chosen one
        pname: _profile(pdoc, f"{file} [profiles.{pname}]", groups_doc)
        for pname, pdoc in profiles.items()
    }
    p_seeds, p_defaults, p_groups = layers[profile] if profile is not None else (None, {}, {})

    replaced: set[str] = set()
    groups: list[Group] = []
    for gname, gdoc in groups_doc.items():
        check_name(gname, f"{file} [groups]", "group name")  # before any training
        where = f"{file} [groups.{gname}]"
        gdoc = _table(gdoc, where)
        meta = {k: v for k, v in gdoc.items() if k in GROUP_META}
        fixed = _run_keys({k: v for k, v in gdoc.items() if k not in GROUP_META}, where)
        grid = _table(meta.get("grid", {}), where + ".grid")
        if "grid" in meta and not grid:
            raise ConfigError(
                f"{where}.grid: the table is empty; expected keys with lists of values "
                "(or no grid table)"
            )
        grid_flat = _run_keys(grid, where + ".grid")
        for k, v in grid_flat.items():
            if not isinstance(v, list) or not v:
                raise ConfigError(f"{where}.grid: key '{k}': expected a non-empty list of values")
        items = meta.get("runs", [{}])
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{where}: key 'runs': expected a non-empty array of tables")
        if "imported" in meta and not ("runs" in meta or "grid" in meta or fixed):
            items = []  # a group of imported runs only: nothing to train
            for k, has in (("seeds", "seeds" in meta), ("label", "label" in meta)):
                if has:
                    raise ConfigError(
                        f"{where}: key '{k}' applies to runs to train; this group only names "
                        "imported runs (add 'runs' or 'grid' to train some too)"
                    )
            for pname, (_, _, pgroups) in layers.items():
                if gname in pgroups:
                    raise ConfigError(
                        f"{file} [profiles.{pname}.groups.{gname}]: group '{gname}' only names "
                        "imported runs; a profile has nothing to set for it"
                    )
        item_flats: list[tuple[str | None, dict[str, Any]]] = []
        for i, item in enumerate(items):
            iwhere = f"{where}.runs[{i}]"
            item = dict(_table(item, iwhere))
            ilabel = item.pop("label", None)
            if ilabel is not None and not isinstance(ilabel, str):
                raise ConfigError(f"{iwhere}: key 'label': expected a string")
            item_flats.append((ilabel, _run_keys(item, iwhere)))
        run_varied = sorted({k for _, f in item_flats for k in f}, key=_key_order)
        both = set(run_varied) & set(grid_flat)
        if both:
            raise ConfigError(
                f"{where}: key '{sorted(both)[0]}' is in both 'grid' and 'runs'; give it in one"
            )
        pg_seeds, pg_flat, pg_runs = p_groups.get(gname, (None, {}, {}))
        varied = [*run_varied, *grid_flat]
        for pname, (_, pdefs, pgroups) in layers.items():  # every profile, not only this one
            pgw = f"{file} [profiles.{pname}]"
            for k in varied:
                for src, layer in (
                    ("defaults", pdefs),
                    (f"groups.{gname}", pgroups.get(gname, (None, {}, {}))[1]),
                ):
                    if k in layer:
                        raise ConfigError(
                            f"{pgw}.{src}: key '{k}' is varied by group '{gname}'; a profile "
                            "may not override it"
                        )
        seeds = pg_seeds or p_seeds or (_seeds(meta["seeds"], where) if "seeds" in meta else None)
        seeds = seeds or top_seeds
        template = meta.get("label")
        if template is not None and not isinstance(template, str):
            raise ConfigError(f"{where}: key 'label': expected a string")
        for k in ("title", "section", "description"):
            if k in meta and not isinstance(meta[k], str):
                raise ConfigError(f"{where}: key '{k}': expected a string")

        runs: list[RunSpec] = []
        labels: dict[str, str] = {}
        grid_keys = list(grid_flat)
        n_runs = math.prod(len(v) for v in grid_flat.values()) * len(item_flats) * len(seeds)
        if n_runs > MAX_GROUP_RUNS:  # before expanding it: a typo can ask for billions
            raise ConfigError(
                f"{where}: grid x runs x seeds is {n_runs:,} runs; expected at most "
                f"{MAX_GROUP_RUNS:,} in a group"
            )
        points = list(itertools.product(*(grid_flat[k] for k in grid_keys))) or [()]
        for ilabel, iflat in item_flats:
            for point in points:
                gpoint = dict(zip(grid_keys, point))
                flat = _merge(
                    [defaults, fixed, iflat, gpoint, p_defaults, pg_flat, overrides or {}]
                )
                flat = _substitute(flat, data_root, replaced)
                pwhere_run = f"{where} run #{len(labels) + 1}"
                try:
                    base = from_flat(flat)
                except ConfigError as e:
                    raise ConfigError(f"{pwhere_run}: {e}") from None
                label = check_name(
                    ilabel or _label(template, varied, base, where), where, "label", 200
                )
                rwhere = f"{where} run '{label}'"
                if label in pg_runs:  # the profile's table for this run (run_tables.py)
                    layers_ = [defaults, fixed, iflat, gpoint, p_defaults, pg_flat, pg_runs[label]]
                    flat = _substitute(_merge([*layers_, overrides or {}]), data_root, replaced)
                    try:
                        base = from_flat(flat)
                    except ConfigError as e:
                        raise ConfigError(f"{rwhere}: {e}") from None
                _check_budget(base, rwhere)
                h0 = run_hash(base)
                if label in labels and labels[label] != h0:
                    raise ConfigError(
                        f"{where}: two different runs share the label '{label}'; "
                        "set distinct labels (key 'label')"
                    )
                if label in labels:
                    raise ConfigError(f"{where}: run '{label}' is listed twice")
                labels[label] = h0
                for seed in seeds:
                    cfg = dataclasses.replace(
                        base,
                        train=dataclasses.replace(base.train, seed=seed),
                        name=f"{label}-s{seed}",
                    )
                    runs.append(RunSpec(label, seed, cfg, run_hash(cfg)))
        for pname, (_, _, pgroups) in layers.items():  # every profile, not only this one
            check_run_tables(
                pgroups.get(gname, (None, {}, {}))[2],
                varied,
                list(labels),
                f"{file} [profiles.{pname}].groups.{gname}",
            )
        if "imported" in meta:  # runs `convscope import` wrote (experiments/imported.py)
            from convscope.experiments.imported import imported_specs

            for spec in imported_specs(meta["imported"], Path(file).resolve().parent, where):
                if spec.label in labels:
                    raise ConfigError(
                        f"{where}: key 'imported': the folder name '{spec.label}' is also the "
                        "label of a run to train; set distinct labels"
                    )
                labels[spec.label] = spec.hash
                runs.append(spec)
        report = meta.get("report", "full")
        if report not in GROUP_REPORT:
            raise ConfigError(
                f"{where}: key 'report': expected one of {', '.join(GROUP_REPORT)}, got {report!r}"
            )
        milestones = meta.get("milestones", {})
        if not isinstance(milestones, dict) or any(
            k not in MILESTONE_METRICS or isinstance(v, bool) or not isinstance(v, int | float)
            for k, v in milestones.items()
        ):
            raise ConfigError(
                f"{where}: key 'milestones': expected a table of {', '.join(MILESTONE_METRICS)} "
                "= number"
            )
        groups.append(
            Group(
                gname,
                meta.get("title", gname),
                str(meta.get("section", "")),
                meta.get("description", ""),
                runs,
                report,
                "title" in meta,
                {k: float(v) for k, v in milestones.items()},
            )
        )

    analysis, entries = _analysis(doc.get("analysis", []), groups, file)
    rules_ref, rules = _claim_rules(doc.get("claim_rules"), file)
    claims = _claims(doc.get("claims", []), groups, file, rules)
    chapters = doc.get("chapters", {})
    if not isinstance(chapters, dict) or not all(isinstance(v, str) for v in chapters.values()):
        raise ConfigError(f"{file}: key 'chapters': expected a table of section number = title")
    used = sorted({r.config.data.data for g in groups for r in g.runs if r.config.data.data})
    if data_root is None and replaced:
        note = (
            f"no data root given (--data-root or {DATA_ROOT_ENV}): the built-in "
            "scikit-learn digits (8x8, upscaled to 28x28) replaced "
            f"{', '.join(sorted(replaced))}; these are NOT results on the reference data"
        )
    elif data_root is None:
        note = f"data as named in the experiment file: {', '.join(used)}"
    else:
        note = f"data from {data_root}: {', '.join(used)}"
    if FALLBACK_DATA in used and not replaced:
        note += " (digits: the built-in scikit-learn 8x8 digits upscaled, NOT the reference data)"
    return Experiment(
        file=file,
        name=name,
        description=description if isinstance(description, str) else "",
        profile=profile or "",
        profiles=list(profiles),
        data_root=data_root,
        data_note=note,
        groups=groups,
        analysis=analysis,
        entries=entries,
        claims=claims,
        chapters={str(k): v for k, v in chapters.items()},
        claim_rules=rules_ref,
    )


def _claim_rules(raw: Any, file: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The experiment's own claim rules (``claim_rules = "file.py:RULES"``): where they are, and
    the rules (imported: the user runs this experiment file, which names them)."""
    if raw is None:
        return {}, {}
    if not isinstance(raw, str) or not raw:
        raise ConfigError(f"{file}: key 'claim_rules': expected 'file.py:NAME' or 'module:NAME'")
    from convscope.report.claims import import_rules, locate_rules

    loc = locate_rules(raw, Path(file).resolve().parent, file)
    return loc.to_dict(), import_rules(loc, file)


def _claims(raw: Any, groups: list[Group], file: str, rules: dict[str, Any]) -> list[ClaimSpec]:
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError(f"{file}: key 'claims': expected an array of tables ([[claims]])")
    names = [g.name for g in groups]
    out = []
    for i, c in enumerate(raw):
        where = f"{file} [[claims]] #{i + 1}"
        c = _table(c, where)
        _check_keys(c, CLAIM_KEYS, where)
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


def _analysis(
    raw: Any, groups: list[Group], file: str
) -> tuple[list[AnalysisSpec], list[AnalysisEntry]]:
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError(f"{file}: key 'analysis': expected an array of tables ([[analysis]])")
    from convscope.studies.base import make_options
    from convscope.studies.runner import run_scope_names

    by_name = {g.name: g for g in groups}
    out: list[AnalysisSpec] = []
    entries: list[AnalysisEntry] = []
    for i, a in enumerate(raw):
        where = f"{file} [[analysis]] #{i + 1}"
        a = _table(a, where)
        _check_keys(a, ANALYSIS_KEYS, where)
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
        for key in ("section", "title"):
            if not isinstance(a.get(key, ""), str):
                raise ConfigError(f"{where}: key '{key}': expected a string")
        runs = by_name[gname].runs
        label = a.get("label")
        if label is not None:
            runs = [r for r in runs if r.label == label]
            if not runs:
                labels = sorted({r.label for r in by_name[gname].runs})
                raise ConfigError(
                    f"{where}: key 'label': group '{gname}' has no run '{label}'; "
                    f"expected one of {', '.join(labels)}"
                )
        if "seeds" in a:
            seeds = _seeds(a["seeds"], where)
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
            runs = [r for r in runs if r.seed in seeds or r.imported is not None]
        else:  # the first seed of the runs to train; every imported run
            first = min((r.seed for r in runs if r.imported is None), default=None)
            runs = [r for r in runs if r.seed == first or r.imported is not None]
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
