"""A profile's tables for one run of a group, addressed by its label.

::

    [profiles.full.groups.zf_labels]              # every run of the group, as before
    activation_stats_every = 100
    [profiles.full.groups.zf_labels.runs.permuted_labels]   # only the run labelled so
    epochs = 40
    stop_at_train_accuracy = 0.9

A run table is the top layer of the profile (above the profile's group table; only the command
line's overrides are higher), for the runs (every seed) of that label. It exists so that one run
of a group can get its own budget under a profile while the others keep what they share with
other groups (the label twin of ``zf_labels``, whose first run must stay the ``zf`` run). Like the
rest of a profile it may not set a key the group varies, and its label must be one of the
group's (checked once the group is expanded). The label itself is computed before the table is
applied, so a label template never sees the table's values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from convscope.errors import ConfigError

RUNS_KEY = "runs"


def pop_run_tables(
    gd: dict[str, Any],
    where: str,
    table: Callable[[Any, str], dict[str, Any]],
    run_keys: Callable[[dict[str, Any], str], dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Remove ``runs`` from a profile's group table ``gd``; return ``{label: flat keys}``."""
    if RUNS_KEY not in gd:
        return {}
    rwhere = f"{where}.{RUNS_KEY}"
    out: dict[str, dict[str, Any]] = {}
    for label, doc in table(gd.pop(RUNS_KEY), rwhere).items():
        lwhere = f"{rwhere}.{label}"
        flat = run_keys(dict(table(doc, lwhere)), lwhere)
        if not flat:
            raise ConfigError(f"{lwhere}: the table is empty; expected run-config keys")
        out[str(label)] = flat
    return out


def check_run_tables(
    tables: dict[str, dict[str, Any]], varied: list[str], labels: list[str], where: str
) -> None:
    """A run table names one of the group's labels and sets no key the group varies."""
    for label, flat in tables.items():
        if label not in labels:
            raise ConfigError(
                f"{where}.{RUNS_KEY}: no run labelled '{label}' in the group; expected one of "
                f"{', '.join(labels)}"
            )
        for k in varied:
            if k in flat:
                raise ConfigError(
                    f"{where}.{RUNS_KEY}.{label}: key '{k}' is varied by the group; a profile "
                    "may not override it"
                )
