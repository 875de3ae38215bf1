"""convscope: train small vision and sequence networks and see what they learned.

The Python API (``docs/python.md``) is importable from here; ``import convscope`` stays cheap
(nothing heavy, not even torch, is imported until a name below is used)::

    import convscope
    run = convscope.import_model(net, data="data/shapes", out="runs/net")
    run.analyze("filters")
    run.explore()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Analysis": "convscope.api",
    "AnalysisFigure": "convscope.api",
    "ConvscopeWarning": "convscope.api",
    "Explorer": "convscope.api",
    "Run": "convscope.api",
    "analyses": "convscope.api",
    "import_model": "convscope.api",
    "open_run": "convscope.api",
    "train_run": "convscope.api",
    "ConvscopeError": "convscope.errors",
    "ConfigError": "convscope.errors",
    "DataError": "convscope.errors",
    "WeightsError": "convscope.weights",
}

__all__ = [
    "Analysis",
    "AnalysisFigure",
    "ConfigError",
    "ConvscopeError",
    "ConvscopeWarning",
    "DataError",
    "Explorer",
    "Run",
    "WeightsError",
    "__version__",
    "analyses",
    "import_model",
    "open_run",
    "train_run",
]

if TYPE_CHECKING:
    from convscope.api import (
        Analysis,
        AnalysisFigure,
        ConvscopeWarning,
        Explorer,
        Run,
        analyses,
        import_model,
        open_run,
        train_run,
    )
    from convscope.errors import ConfigError, ConvscopeError, DataError
    from convscope.weights import WeightsError


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'convscope' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
