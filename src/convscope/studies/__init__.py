"""Registered analyses ("studies"): one module per analysis, each registering itself.

:data:`REGISTRY` maps a study's name to its class; it is the one list that ``convscope analyze``
(``--what``, ``--list``), experiment files (``[[analysis]]``), the executors and the report read.
The built-in studies are the modules of this package (found by :func:`load_builtin`, not listed
anywhere); a user's own study is named by import path, ``pkg.module:Class``. How to write one:
``docs/analyses.md``; the protocol: :mod:`convscope.studies.base`.
"""

from __future__ import annotations

import importlib
import pkgutil

from convscope.studies.base import (
    REGISTRY,
    FigureRef,
    GroupContext,
    NoOptions,
    RunContext,
    Study,
    StudyResult,
    Verdict,
    register,
    resolve,
)

__all__ = [
    "REGISTRY",
    "FigureRef",
    "GroupContext",
    "NoOptions",
    "RunContext",
    "Study",
    "StudyResult",
    "Verdict",
    "load_builtin",
    "register",
    "resolve",
]

_NOT_STUDIES = {"base", "runner"}
_loaded = False


def load_builtin() -> dict[str, type[Study]]:
    """Import every study module of this package once (each registers itself); the registry."""
    global _loaded
    if not _loaded:
        for m in pkgutil.iter_modules(__path__):
            if not m.name.startswith("_") and m.name not in _NOT_STUDIES:
                importlib.import_module(f"{__name__}.{m.name}")
        ordered = sorted(REGISTRY.items(), key=lambda kv: (kv[1].order, kv[0]))
        REGISTRY.clear()
        REGISTRY.update(ordered)
        _loaded = True
    return REGISTRY
