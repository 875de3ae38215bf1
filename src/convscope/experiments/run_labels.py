"""A run's label in an experiment group (:mod:`convscope.experiments.spec`): the group's
``label`` template filled from the run's config, or else the keys the group varies with their
values."""

from __future__ import annotations

import dataclasses
import string
from typing import Any

from convscope.config import FLAT_KEYS, SECTIONS, RunConfig, short_model_name
from convscope.errors import ConfigError


def key_order(key: str) -> tuple[int, str]:
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


def run_label(template: str | None, varied: list[str], cfg: RunConfig, where: str) -> str:
    """``template`` filled from ``cfg`` (:func:`flat_values`); without one, ``key=value`` of
    each ``varied`` key joined by ``_`` (``run`` when nothing varies)."""
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
