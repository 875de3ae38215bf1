"""Checks of an experiment file's raw tables (:mod:`convscope.experiments.spec`): tables, known
keys, run-config keys, seeds and a resolved run's budget, each naming the file, table and key."""

from __future__ import annotations

from typing import Any

from convscope.config import INT_MAX, RunConfig, flatten
from convscope.errors import ConfigError

BUDGET_KEYS = ("epochs", "iterations")  # two spellings of one budget: a layer sets one
MAX_SEEDS = 1000  # a count of seeds (each one a run of every configuration)


def as_table(value: Any, where: str) -> dict[str, Any]:
    """``value`` if it is a table, else a ConfigError naming ``where``."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table, got {type(value).__name__} {value!r}")
    return value


def check_keys(d: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """Reject a key of ``d`` that is not in ``allowed``."""
    for k in d:
        if k not in allowed:
            raise ConfigError(f"{where}: unknown key '{k}'; expected one of {', '.join(allowed)}")


def run_keys(d: dict[str, Any], where: str) -> dict[str, Any]:
    """Flatten run-config keys (flat or sectioned), rejecting unknown ones and ``seed``."""
    flat = flatten(d, where=where)
    if "seed" in flat:
        raise ConfigError(f"{where}: key 'seed' is not allowed here; use 'seeds' (a list or count)")
    if "name" in flat:
        raise ConfigError(f"{where}: key 'name' is not allowed here; use 'label'")
    if all(b in flat for b in BUDGET_KEYS):
        raise ConfigError(f"{where}: give either 'epochs' or 'iterations', not both")
    return flat


def seed_list(value: Any, where: str) -> list[int]:
    """The key ``seeds``: a count (0..n-1) or a list of distinct seeds."""
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


def check_budget(cfg: RunConfig, where: str) -> None:
    """A resolved run's ``keep_checkpoints`` within its budget, and a model that exists."""
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
