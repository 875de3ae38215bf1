"""Model registry: ``build_model(ModelConfig, image_shape, num_classes)``.

Names: ``lenet5``, ``resnet8``, ``rnn``, ``lstm``, ``gru``, or a user's factory:

* ``package.module:factory``: imported as usual; if that fails and ``package/module.py`` (or
  ``module.py``) is in the current folder, imported from there (no ``PYTHONPATH=.`` needed);
* ``path/to/file.py:factory``: the file, from any folder (relative to the current folder).

A factory is called with keyword arguments ``in_channels``,
``image_size``, ``num_classes`` (and the config's ``hidden_size``, ``num_layers``, ``dropout``
when its signature accepts them) and must return an ``nn.Module``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from convscope.config import ModelConfig
from convscope.errors import ConfigError
from convscope.models.lenet import LeNet5
from convscope.models.recurrent import RowRNN
from convscope.models.resnet import ResNet8


def _lenet5(cfg: ModelConfig, c: int, hw: tuple[int, int], n: int) -> nn.Module:
    return LeNet5(in_channels=c, image_size=hw, num_classes=n, dropout=cfg.dropout)


def _resnet8(cfg: ModelConfig, c: int, hw: tuple[int, int], n: int) -> nn.Module:
    return ResNet8(in_channels=c, num_classes=n)


def _recurrent(cell: str) -> Callable[[ModelConfig, int, tuple[int, int], int], nn.Module]:
    def build(cfg: ModelConfig, c: int, hw: tuple[int, int], n: int) -> nn.Module:
        return RowRNN(
            cell,  # type: ignore[arg-type]
            in_channels=c,
            image_size=hw,
            num_classes=n,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            dropout=cfg.dropout,
        )

    return build


REGISTRY: dict[str, Callable[[ModelConfig, int, tuple[int, int], int], nn.Module]] = {
    "lenet5": _lenet5,
    "resnet8": _resnet8,
    "rnn": _recurrent("rnn"),
    "lstm": _recurrent("lstm"),
    "gru": _recurrent("gru"),
}

RECURRENT = frozenset({"rnn", "lstm", "gru"})


def _import_file(path: Path) -> object:
    """Import a ``.py`` file as a module of its own (named after its resolved path)."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    name = f"convscope_user_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"config key 'model': cannot import {str(path)!r} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - the user's file: say what it raised, in one line
        del sys.modules[name]
        raise ConfigError(
            f"config key 'model': importing {str(path)!r} failed: {type(e).__name__}: {e}"
        ) from None
    return module


def _import_module(module_name: str) -> object:
    """``importlib.import_module``, falling back to the current folder (as ``python`` does for
    a script's folder) when the module is not on the path."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is None or not module_name.startswith(e.name):
            raise  # the user's module imports something missing: report that
        cwd = str(Path.cwd())
        candidates = (Path(*module_name.split(".")).with_suffix(".py"),)
        candidates += (Path(*module_name.split("."), "__init__.py"),)
        if cwd in sys.path or not any((Path.cwd() / c).is_file() for c in candidates):
            raise
        sys.path.insert(0, cwd)
        try:
            return importlib.import_module(module_name)
        finally:
            sys.path.remove(cwd)


def load_factory(path: str) -> Callable[..., nn.Module]:
    """Import ``package.module:factory`` or ``path/to/file.py:factory``; raise ConfigError
    naming the key if it fails."""
    module_name, _, attr = path.rpartition(":")
    if not module_name or not attr:
        raise ConfigError(
            f"config key 'model': expected one of {', '.join(REGISTRY)}, "
            f"'package.module:factory' or 'path/to/file.py:factory', got {path!r}"
        )
    if module_name.endswith(".py"):
        file = Path(module_name).expanduser().resolve()
        if not file.is_file():
            raise ConfigError(f"config key 'model': no file {module_name!r} (from {path!r})")
        module = _import_file(file)
    else:
        try:
            module = _import_module(module_name)
        except ImportError as e:
            raise ConfigError(
                f"config key 'model': cannot import module {module_name!r}: {e}"
            ) from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"config key 'model': {module_name!r} has no callable {attr!r}")
    return factory


def build_model(
    cfg: ModelConfig,
    image_shape: tuple[int, int, int],
    num_classes: int,
    model_args: dict[str, Any] | None = None,
) -> nn.Module:
    """Build the configured model for ``(C, H, W)`` inputs and ``num_classes`` outputs.

    ``model_args``: more keyword arguments for a user's factory (``--model-args k=v,...``);
    they win over the ones convscope passes."""
    c, h, w = image_shape
    if cfg.model in REGISTRY:
        if model_args:
            raise ConfigError(
                f"model arguments {', '.join(model_args)}: only for a factory "
                f"(FILE.py:factory), not the built-in {cfg.model!r}"
            )
        return REGISTRY[cfg.model](cfg, c, (h, w), num_classes)
    factory = load_factory(cfg.model)
    kwargs = {"in_channels": c, "image_size": (h, w) if h != w else h, "num_classes": num_classes}
    params = inspect.signature(factory).parameters
    accepts_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in ("hidden_size", "num_layers", "dropout"):
        if accepts_all or key in params:
            kwargs[key] = getattr(cfg, key)
    kwargs = {k: v for k, v in kwargs.items() if accepts_all or k in params}
    for key in model_args or {}:
        if not accepts_all and key not in params:
            raise ConfigError(
                f"model argument {key!r}: factory {cfg.model!r} takes no such argument; "
                f"it takes {', '.join(params) or 'none'}"
            )
    kwargs.update(model_args or {})
    try:
        model = factory(**kwargs)
    except Exception as e:  # the user's own code: name it, not a convscope bug
        msg = (str(e).splitlines() or [""])[0]
        raise ConfigError(
            f"config key 'model': factory {cfg.model!r} raised {type(e).__name__}: {msg}"
        ) from e
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"config key 'model': {cfg.model!r} returned {type(model).__name__}, expected nn.Module"
        )
    if not any(True for _ in model.parameters()):
        raise ConfigError(
            f"config key 'model': {cfg.model!r} returned a model with no parameters; "
            "expected something to train"
        )
    return model


def is_recurrent(model: nn.Module) -> bool:
    return isinstance(model, RowRNN)


__all__ = [
    "LeNet5",
    "ResNet8",
    "RowRNN",
    "REGISTRY",
    "RECURRENT",
    "build_model",
    "load_factory",
    "is_recurrent",
]
