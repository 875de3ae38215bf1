"""Model registry: ``build_model(ModelConfig, image_shape, num_classes)``.

Names: ``lenet5``, ``rnn``, ``lstm``, ``gru``, or a user's factory by import path
``package.module:factory``. A factory is called with keyword arguments ``in_channels``,
``image_size``, ``num_classes`` (and the config's ``hidden_size``, ``num_layers``, ``dropout``
when its signature accepts them) and must return an ``nn.Module``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

from torch import nn

from convscope.config import ModelConfig
from convscope.errors import ConfigError
from convscope.models.lenet import LeNet5
from convscope.models.recurrent import RowRNN


def _lenet5(cfg: ModelConfig, c: int, hw: tuple[int, int], n: int) -> nn.Module:
    return LeNet5(in_channels=c, image_size=hw, num_classes=n, dropout=cfg.dropout)


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
    "rnn": _recurrent("rnn"),
    "lstm": _recurrent("lstm"),
    "gru": _recurrent("gru"),
}

RECURRENT = frozenset({"rnn", "lstm", "gru"})


def load_factory(path: str) -> Callable[..., nn.Module]:
    """Import ``package.module:factory``; raise ConfigError naming the key if it fails."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigError(
            f"config key 'model': expected one of {', '.join(REGISTRY)} or "
            f"'package.module:factory', got {path!r}"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(
            f"config key 'model': cannot import module {module_name!r}: {e}"
        ) from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"config key 'model': {module_name!r} has no callable {attr!r}")
    return factory


def build_model(cfg: ModelConfig, image_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """Build the configured model for ``(C, H, W)`` inputs and ``num_classes`` outputs."""
    c, h, w = image_shape
    if cfg.model in REGISTRY:
        return REGISTRY[cfg.model](cfg, c, (h, w), num_classes)
    factory = load_factory(cfg.model)
    kwargs = {"in_channels": c, "image_size": (h, w) if h != w else h, "num_classes": num_classes}
    params = inspect.signature(factory).parameters
    accepts_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in ("hidden_size", "num_layers", "dropout"):
        if accepts_all or key in params:
            kwargs[key] = getattr(cfg, key)
    kwargs = {k: v for k, v in kwargs.items() if accepts_all or k in params}
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
    "RowRNN",
    "REGISTRY",
    "RECURRENT",
    "build_model",
    "load_factory",
    "is_recurrent",
]
