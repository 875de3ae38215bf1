"""One group of an experiment file expanded into its runs (:mod:`convscope.experiments.spec`):
the profiles' layers, the group's variations (``grid`` points and ``runs`` items), its seeds and
labels, the layers merged into each run's config, and its imported runs."""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convscope.config import RunConfig, from_flat
from convscope.errors import ConfigError
from convscope.experiments.expanded import GROUP_REPORT, Group, RunSpec
from convscope.experiments.run_labels import key_order, run_label
from convscope.experiments.run_tables import check_run_tables, pop_run_tables
from convscope.experiments.spec_checks import (
    BUDGET_KEYS,
    as_table,
    check_budget,
    check_keys,
    run_keys,
    seed_list,
)
from convscope.experiments.spec_data import substitute
from convscope.paths import check_name
from convscope.train.precision import run_hash

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
PROFILE_KEYS = ("description", "seeds", "defaults", "groups")
MAX_GROUP_RUNS = 50_000  # runs one group may expand to (`convscope run --max-runs` asks first)

# a profile's layers: (seeds, flat defaults, {group: (seeds, flat keys, run tables)})
ProfileLayers = tuple[list[int] | None, dict[str, Any], dict[str, tuple[Any, ...]]]


@dataclass
class Layers:
    """What every group of one expansion shares; ``replaced`` collects the data sources the
    built-in digits stood in for (:func:`~convscope.experiments.spec_data.substitute`)."""

    file: str
    defaults: dict[str, Any]  # the file's [defaults], flat
    seeds: list[int]  # the file's seeds
    profiles: dict[str, ProfileLayers]  # every profile's (each group is checked against all)
    profile: ProfileLayers  # the chosen one's: (None, {}, {}) without a profile
    data_root: str | None
    overrides: dict[str, Any]  # over everything the file says
    replaced: set[str] = field(default_factory=set)


@dataclass
class _Variations:
    """A group's runs as the file gives them, before expansion."""

    name: str
    where: str
    fixed: dict[str, Any]  # the group's run keys
    grid: dict[str, list[Any]]  # key -> values (flat)
    items: list[tuple[str | None, dict[str, Any]]]  # the ``runs`` items: (label, flat keys)
    varied: list[str]  # keys the items and the grid vary
    seeds: list[int]
    template: str | None  # the key ``label``
    pg_flat: dict[str, Any]  # the chosen profile's table of this group
    pg_runs: dict[str, dict[str, Any]]  # ... and its tables of one run (run_tables.py)


def profile_layers(pdoc: Any, where: str, groups_doc: dict[str, Any]) -> ProfileLayers:
    """A profile's layers: (seeds, flat defaults, {group: (seeds, flat keys, run tables)})."""
    prof = as_table(pdoc, where)
    check_keys(prof, PROFILE_KEYS, where)
    seeds = seed_list(prof["seeds"], where) if "seeds" in prof else None
    defaults = run_keys(
        as_table(prof.get("defaults", {}), where + ".defaults"), where + ".defaults"
    )
    groups: dict[str, tuple[Any, ...]] = {}
    for g, gdoc in as_table(prof.get("groups", {}), where + ".groups").items():
        gwhere = f"{where}.groups.{g}"
        if g not in groups_doc:
            raise ConfigError(
                f"{where}.groups: unknown group '{g}'; expected one of {', '.join(groups_doc)}"
            )
        gd = dict(as_table(gdoc, gwhere))
        gseeds = seed_list(gd.pop("seeds"), gwhere) if "seeds" in gd else None
        runs = pop_run_tables(gd, gwhere, as_table, run_keys)  # run_tables.py
        groups[g] = (gseeds, run_keys(gd, gwhere), runs)
    return seeds, defaults, groups


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


def expand_group(gname: str, gdoc: Any, ly: Layers) -> Group:
    """The table ``[groups.NAME]``: its runs to train (every variation and seed, under the chosen
    profile), then its imported runs."""
    check_name(gname, f"{ly.file} [groups]", "group name")  # before any training
    where = f"{ly.file} [groups.{gname}]"
    gdoc = as_table(gdoc, where)
    meta = {k: v for k, v in gdoc.items() if k in GROUP_META}
    fixed = run_keys({k: v for k, v in gdoc.items() if k not in GROUP_META}, where)
    v = _variations(gname, meta, fixed, where, ly)
    runs, labels = _train_runs(v, ly)
    for pname, (_, _, pgroups) in ly.profiles.items():  # every profile, not only this one
        check_run_tables(
            pgroups.get(gname, (None, {}, {}))[2],
            v.varied,
            list(labels),
            f"{ly.file} [profiles.{pname}].groups.{gname}",
        )
    if "imported" in meta:  # runs `convscope import` wrote (experiments/imported.py)
        runs += _imported(meta["imported"], labels, where, ly.file)
    report, milestones = _report_keys(meta, where)
    return Group(
        gname,
        meta.get("title", gname),
        str(meta.get("section", "")),
        meta.get("description", ""),
        runs,
        report,
        "title" in meta,
        milestones,
    )


def _variations(
    gname: str, meta: dict[str, Any], fixed: dict[str, Any], where: str, ly: Layers
) -> _Variations:
    """The group's ``grid`` and ``runs``, the keys they vary, its seeds and label template."""
    grid = as_table(meta.get("grid", {}), where + ".grid")
    if "grid" in meta and not grid:
        raise ConfigError(
            f"{where}.grid: the table is empty; expected keys with lists of values "
            "(or no grid table)"
        )
    grid_flat = run_keys(grid, where + ".grid")
    for k, v in grid_flat.items():
        if not isinstance(v, list) or not v:
            raise ConfigError(f"{where}.grid: key '{k}': expected a non-empty list of values")
    item_flats = _items(gname, meta, fixed, where, ly)
    run_varied = sorted({k for _, f in item_flats for k in f}, key=key_order)
    both = set(run_varied) & set(grid_flat)
    if both:
        raise ConfigError(
            f"{where}: key '{sorted(both)[0]}' is in both 'grid' and 'runs'; give it in one"
        )
    p_seeds, _, p_groups = ly.profile
    pg_seeds, pg_flat, pg_runs = p_groups.get(gname, (None, {}, {}))
    varied = [*run_varied, *grid_flat]
    _check_profiles_keep(gname, varied, ly)
    seeds = pg_seeds or p_seeds or (seed_list(meta["seeds"], where) if "seeds" in meta else None)
    seeds = seeds or ly.seeds
    template = meta.get("label")
    if template is not None and not isinstance(template, str):
        raise ConfigError(f"{where}: key 'label': expected a string")
    for k in ("title", "section", "description"):
        if k in meta and not isinstance(meta[k], str):
            raise ConfigError(f"{where}: key '{k}': expected a string")
    return _Variations(
        gname, where, fixed, grid_flat, item_flats, varied, seeds, template, pg_flat, pg_runs
    )


def _items(
    gname: str, meta: dict[str, Any], fixed: dict[str, Any], where: str, ly: Layers
) -> list[tuple[str | None, dict[str, Any]]]:
    """The group's ``runs`` items as (label, flat keys); none for a group of imported runs only."""
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
        for pname, (_, _, pgroups) in ly.profiles.items():
            if gname in pgroups:
                raise ConfigError(
                    f"{ly.file} [profiles.{pname}.groups.{gname}]: group '{gname}' only names "
                    "imported runs; a profile has nothing to set for it"
                )
    item_flats: list[tuple[str | None, dict[str, Any]]] = []
    for i, item in enumerate(items):
        iwhere = f"{where}.runs[{i}]"
        item = dict(as_table(item, iwhere))
        ilabel = item.pop("label", None)
        if ilabel is not None and not isinstance(ilabel, str):
            raise ConfigError(f"{iwhere}: key 'label': expected a string")
        item_flats.append((ilabel, run_keys(item, iwhere)))
    return item_flats


def _check_profiles_keep(gname: str, varied: list[str], ly: Layers) -> None:
    """No profile sets a key the group varies (every profile, not only the chosen one)."""
    for pname, (_, pdefs, pgroups) in ly.profiles.items():
        pgw = f"{ly.file} [profiles.{pname}]"
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


def _train_runs(v: _Variations, ly: Layers) -> tuple[list[RunSpec], dict[str, str]]:
    """Every ``runs`` item at every ``grid`` point and seed; the labels with their identity
    (without the seed)."""
    runs: list[RunSpec] = []
    labels: dict[str, str] = {}
    grid_keys = list(v.grid)
    n_runs = math.prod(len(x) for x in v.grid.values()) * len(v.items) * len(v.seeds)
    if n_runs > MAX_GROUP_RUNS:  # before expanding it: a typo can ask for billions
        raise ConfigError(
            f"{v.where}: grid x runs x seeds is {n_runs:,} runs; expected at most "
            f"{MAX_GROUP_RUNS:,} in a group"
        )
    points = list(itertools.product(*(v.grid[k] for k in grid_keys))) or [()]
    for ilabel, iflat in v.items:
        for point in points:
            gpoint = dict(zip(grid_keys, point))
            layers = [ly.defaults, v.fixed, iflat, gpoint, ly.profile[1], v.pg_flat]
            label, base = _one_run(layers, ilabel, len(labels) + 1, v, ly)
            h0 = run_hash(base)
            if label in labels and labels[label] != h0:
                raise ConfigError(
                    f"{v.where}: two different runs share the label '{label}'; "
                    "set distinct labels (key 'label')"
                )
            if label in labels:
                raise ConfigError(f"{v.where}: run '{label}' is listed twice")
            labels[label] = h0
            for seed in v.seeds:
                cfg = dataclasses.replace(
                    base,
                    train=dataclasses.replace(base.train, seed=seed),
                    name=f"{label}-s{seed}",
                )
                runs.append(RunSpec(label, seed, cfg, run_hash(cfg)))
    return runs, labels


def _one_run(
    layers: list[dict[str, Any]], ilabel: str | None, n: int, v: _Variations, ly: Layers
) -> tuple[str, RunConfig]:
    """The label and config (seed not set) of one variation, the ``n``-th of its group: its
    layers merged with the overrides on top, then again with the profile's table for its label
    below them when there is one."""
    flat = substitute(_merge([*layers, ly.overrides]), ly.data_root, ly.replaced)
    try:
        base = from_flat(flat)
    except ConfigError as e:
        raise ConfigError(f"{v.where} run #{n}: {e}") from None
    label = check_name(
        ilabel or run_label(v.template, v.varied, base, v.where), v.where, "label", 200
    )
    rwhere = f"{v.where} run '{label}'"
    if label in v.pg_runs:  # the profile's table for this run (run_tables.py)
        layers_ = [*layers, v.pg_runs[label]]
        flat = substitute(_merge([*layers_, ly.overrides]), ly.data_root, ly.replaced)
        try:
            base = from_flat(flat)
        except ConfigError as e:
            raise ConfigError(f"{rwhere}: {e}") from None
    check_budget(base, rwhere)
    return label, base


def _imported(value: Any, labels: dict[str, str], where: str, file: str) -> list[RunSpec]:
    """The group key ``imported`` (experiments/imported.py); adds their labels to ``labels``."""
    from convscope.experiments.imported import imported_specs

    out: list[RunSpec] = []
    for spec in imported_specs(value, Path(file).resolve().parent, where):
        if spec.label in labels:
            raise ConfigError(
                f"{where}: key 'imported': the folder name '{spec.label}' is also the "
                "label of a run to train; set distinct labels"
            )
        labels[spec.label] = spec.hash
        out.append(spec)
    return out


def _report_keys(meta: dict[str, Any], where: str) -> tuple[str, dict[str, float]]:
    """The group keys ``report`` and ``milestones``."""
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
    return report, {k: float(v) for k, v in milestones.items()}
