"""Command-line options for config keys: one ``--flag`` per config field, its help line, and
the flat dict of the values given (``train`` and ``data`` use them)."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Sequence
from typing import Any


def option_help(name: str, default: Any, choices: Sequence[Any] = ()) -> tuple[str, str]:
    """``(metavar, help)`` for config key ``name``: its one-line description, choices and default."""
    from convscope.cli_help import FIELD_HELP

    metavar, text = FIELD_HELP.get(name, (name.upper(), f"config key '{name}'"))
    if choices:
        text += f"; one of {', '.join(map(str, choices))}"
    if "default:" not in text:
        if isinstance(default, bool):
            shown = str(default).lower()
        elif isinstance(default, list):
            shown = ", ".join(map(str, default)) or "none"
        else:
            shown = str(default)
        text += f" (default: {shown})"
    return metavar, text


def add_config_options(p: argparse.ArgumentParser) -> None:
    """One option per config field: ``--lr``, ``--batch-size``, ... (values checked later)."""
    from convscope.config import SECTIONS
    from convscope.models import REGISTRY

    for key, section in SECTIONS.items():
        group = p.add_argument_group(f"{key} options (config file section [{key}])")
        hints = typing.get_type_hints(section)
        for f in dataclasses.fields(section):
            flag = "--" + f.name.replace("_", "-")
            kwargs: dict[str, Any] = {"dest": f"cfg_{f.name}", "default": None}
            choices: Sequence[Any] = ()
            if hints[f.name] is bool:
                kwargs.update(nargs="?", const="true")
            elif typing.get_origin(hints[f.name]) is typing.Literal:
                choices = typing.get_args(hints[f.name])
            elif f.name == "model":
                choices = list(REGISTRY)
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            metavar, text = option_help(f.name, default, choices)
            group.add_argument(flag, metavar=metavar, help=text, **kwargs)


def flat_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys given on the command line (``--lr 1e-3``: ``{"lr": "1e-3"}``)."""
    return {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_") and v is not None}
