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

This module reads the file and expands it; the parts live beside it (and are re-exported here):
:mod:`.expanded` (what it expands to), :mod:`.spec_checks` (checks of the raw tables),
:mod:`.spec_groups` (profiles and one group's runs), :mod:`.run_labels` (a run's label),
:mod:`.spec_data` (the data root) and :mod:`.spec_analysis` (``[[analysis]]``, ``[[claims]]``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from convscope.errors import ConfigError
from convscope.experiments.expanded import (
    GROUP_REPORT,
    AnalysisEntry,
    AnalysisSpec,
    Experiment,
    Group,
    RunSpec,
)
from convscope.experiments.run_labels import flat_values
from convscope.experiments.spec_analysis import (
    ANALYSIS_KEYS,
    CLAIM_KEYS,
    analyses,
    claim_rules,
    claims,
)
from convscope.experiments.spec_checks import (
    BUDGET_KEYS,
    MAX_SEEDS,
    as_table,
    check_keys,
    run_keys,
    seed_list,
)
from convscope.experiments.spec_data import (
    DATA_ROOT_ENV,
    DATA_ROOT_FIELD,
    FALLBACK_DATA,
    data_note,
    resolve_data_root,
)
from convscope.experiments.spec_groups import (
    GROUP_META,
    MAX_GROUP_RUNS,
    MILESTONE_METRICS,
    PROFILE_KEYS,
    Layers,
    expand_group,
    profile_layers,
)

__all__ = [
    "ANALYSIS_KEYS",
    "BUDGET_KEYS",
    "CLAIM_KEYS",
    "DATA_ROOT_ENV",
    "DATA_ROOT_FIELD",
    "FALLBACK_DATA",
    "GROUP_META",
    "GROUP_REPORT",
    "MAX_GROUP_RUNS",
    "MAX_SEEDS",
    "MILESTONE_METRICS",
    "PROFILE_KEYS",
    "TOP_KEYS",
    "AnalysisEntry",
    "AnalysisSpec",
    "Experiment",
    "Group",
    "RunSpec",
    "expand",
    "flat_values",
    "load_experiment",
    "read_experiment_file",
    "resolve_data_root",
]

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
    check_keys(doc, TOP_KEYS, file)
    name = doc.get("name", Path(file).stem)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{file}: key 'name': expected a non-empty string")
    description = doc.get("description", "")
    defaults = run_keys(
        as_table(doc.get("defaults", {}), f"{file} [defaults]"), f"{file} [defaults]"
    )
    top_seeds = seed_list(doc.get("seeds", [0]), file)
    profiles = as_table(doc.get("profiles", {}), f"{file} [profiles]")
    profile = _choose_profile(doc, profiles, profile, file)
    groups_doc = as_table(doc.get("groups", {}), f"{file} [groups]")
    if not groups_doc:
        raise ConfigError(
            f"{file}: no [groups.<name>] table; an experiment needs at least one group"
        )
    layers = {  # check every profile, not only the chosen one
        pname: profile_layers(pdoc, f"{file} [profiles.{pname}]", groups_doc)
        for pname, pdoc in profiles.items()
    }
    chosen = layers[profile] if profile is not None else (None, {}, {})
    ly = Layers(file, defaults, top_seeds, layers, chosen, data_root, overrides or {})
    groups = [expand_group(gname, gdoc, ly) for gname, gdoc in groups_doc.items()]

    analysis, entries = analyses(doc.get("analysis", []), groups, file)
    rules_ref, rules = claim_rules(doc.get("claim_rules"), file)
    claim_specs = claims(doc.get("claims", []), groups, file, rules)
    chapters = doc.get("chapters", {})
    if not isinstance(chapters, dict) or not all(isinstance(v, str) for v in chapters.values()):
        raise ConfigError(f"{file}: key 'chapters': expected a table of section number = title")
    return Experiment(
        file=file,
        name=name,
        description=description if isinstance(description, str) else "",
        profile=profile or "",
        profiles=list(profiles),
        data_root=data_root,
        data_note=data_note(groups, data_root, ly.replaced),
        groups=groups,
        analysis=analysis,
        entries=entries,
        claims=claim_specs,
        chapters={str(k): v for k, v in chapters.items()},
        claim_rules=rules_ref,
    )


def _choose_profile(
    doc: dict[str, Any], profiles: dict[str, Any], profile: str | None, file: str
) -> str | None:
    """``profile``, else the file's ``default_profile``, else its only profile (None: none)."""
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
    return profile
