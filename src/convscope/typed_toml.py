"""The one coercion of typed values: a TOML or command-line value checked (and, for a run's
config, converted) against a dataclass field's annotation.

Used by :mod:`convscope.config` (every run config key) and :mod:`convscope.studies.base` (a
study's options, ``strict``).
"""

from __future__ import annotations

import contextlib
import types
import typing
from typing import Any, Literal, get_args, get_origin

from convscope.errors import ConfigError

SCALARS = (bool, int, float, str)  # what strict checks


def _strict(key: str, value: Any, annotation: Any) -> Any:
    if annotation not in SCALARS:
        raise TypeError(f"strict coercion: unsupported annotation {annotation!r}")  # a bug
    if annotation is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, annotation)
    if not ok:
        raise ConfigError(f"config key '{key}': expected {annotation.__name__}, got {value!r}")
    return value


def coerce(key: str, value: Any, annotation: Any, *, strict: bool = False) -> Any:
    """Check/convert ``value`` for a field annotated ``annotation``; raise ConfigError naming
    ``key`` (``config key 'KEY': expected ...``).

    Default (a run's config, from TOML or the command line): text converts (``"3"`` to an
    integer, ``"true"``, ``"none"``, ``"1,2"`` to a list), a whole float to an integer, an
    integer to a float; integers are range-checked.

    ``strict`` (a study's options, from TOML): ``bool``, ``int``, ``float`` and ``str`` only,
    nothing converted: an integer where a float is expected is returned as the integer, a
    bool is never a number, no range check.
    """
    if strict:
        return _strict(key, value, annotation)
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(key, value, a)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"config key '{key}': bad value {value!r}")
    if origin is Literal:
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise ConfigError(f"config key '{key}': expected one of {allowed}, got {value!r}")
        return value
    if origin is list:
        (item,) = args
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        return [coerce(key, v, item) for v in value]
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"config key '{key}': expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = int(value)
        if isinstance(value, int):
            return _in_range(key, value)
        raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
    raise TypeError(f"unsupported annotation {annotation!r}")  # a bug, not bad input


INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # what torch.manual_seed takes; every integer key


def _in_range(key: str, value: int) -> int:
    """``value``, or one line when it is beyond what any integer key may hold (a seed beyond
    2**64 would otherwise fail deep inside PyTorch)."""
    if not INT_MIN <= value <= INT_MAX:
        shown = (
            str(value)
            if len(str(value)) <= 30
            else f"{str(value)[:12]}...({len(str(value))} digits)"
        )
        raise ConfigError(
            f"config key '{key}': {shown} is out of range; expected an integer from -2**63 "
            "to 2**64-1"
        )
    return value
