"""An experiment's data sources (:mod:`convscope.experiments.spec`): the data root, the
``{data_root}`` field of run keys, the built-in digits that stand in without a root, and the
note that says which data the runs use."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from convscope.errors import ConfigError
from convscope.experiments.expanded import Group

DATA_ROOT_ENV = "CONVSCOPE_DATA_ROOT"
DATA_ROOT_FIELD = "{data_root}"
FALLBACK_DATA = "digits"


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


def substitute(flat: dict[str, Any], data_root: str | None, replaced: set[str]) -> dict[str, Any]:
    """``flat`` with ``{data_root}`` filled in; without a root, such a source becomes the
    digits (``data``) or None, and is added to ``replaced``."""
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


def data_note(groups: list[Group], data_root: str | None, replaced: set[str]) -> str:
    """:attr:`Experiment.data_note`: where the runs' data comes from (``replaced``: the sources
    the digits stood in for)."""
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
    return note
