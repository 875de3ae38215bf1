"""A model factory's keyword arguments (``model_args``, ``--model-args``): parsing and checking.

Kept beside :mod:`convscope.config`, which re-exports :func:`parse_model_args`.
"""

from __future__ import annotations

import math
from typing import Any

from convscope.errors import ConfigError

#: the types a model argument's value may have
MODEL_ARG_TYPES = (bool, int, float, str)


def _scalar(text: str) -> bool | int | float | str:
    """A ``--model-args`` value as TOML would read it: true/false, an integer, a number, else
    the text."""
    t = text.strip()
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            pass
    return t


def parse_model_args(value: Any, key: str = "model_args") -> dict[str, Any]:
    """``"width=32,dropout=0.3"`` or a table ``{width = 32}`` -> ``{"width": 32, ...}``; one
    ConfigError naming the key for anything else."""
    if isinstance(value, str):
        out: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, eq, v = part.partition("=")
            if not eq or not name.strip().isidentifier():
                raise ConfigError(
                    f"config key '{key}': expected name=value pairs separated by commas "
                    f"(width=32,dropout=0.3), got {part!r}"
                )
            out[name.strip()] = _scalar(v)
        return out
    if not isinstance(value, dict):
        raise ConfigError(f"config key '{key}': expected a table of values, got {value!r}")
    for k, v in value.items():
        if not isinstance(k, str) or not k.isidentifier():
            raise ConfigError(f"config key '{key}': argument name {k!r} is not an identifier")
        if not isinstance(v, MODEL_ARG_TYPES) or (isinstance(v, float) and not math.isfinite(v)):
            raise ConfigError(
                f"config key '{key}.{k}': expected a boolean, integer, finite number or string, "
                f"got {v!r}"
                + (
                    "; to sweep it, put the list in a group's grid table"
                    if isinstance(v, list)
                    else ""
                )
            )
    return dict(value)
