"""Model registry: ``build_model(ModelConfig, image_shape, num_classes)``.

Names: ``lenet5``, ``resnet8``, ``rnn``, ``lstm``, ``gru``, or a user's factory:

* ``package.module:factory``: imported as usual; if that fails and ``package/module.py`` (or
  ``module.py``) is in the current folder, imported from there (no ``PYTHONPATH=.`` needed);
* ``path/to/file.py:factory``: the file, from any folder (relative to the current folder).

A factory is called with ``in_channels``, ``image_size`` and ``num_classes`` where its
signature takes them, plus only what the config sets: ``hidden_size``, ``num_layers``,
``dropout`` when given, and every ``model_args`` entry. Its own defaults are never replaced. It
must return an ``nn.Module``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convscope.config import ModelConfig
from convscope.errors import ConfigError
from convscope.models.lenet import LeNet5
from convscope.models.recurrent import RowRNN
from convscope.models.registry import KINDS, ModelKind, kind, recurrent_kinds, register_model
from convscope.models.resnet import ResNet8


@register_model("lenet5", bf16=True)
def _lenet5(cfg: ModelConfig, c: int, hw: tuple[int, int], n: int) -> nn.Module:
    return LeNet5(in_channels=c, image_size=hw, num_classes=n, dropout=cfg.get("dropout"))


@register_model("resnet8", bf16=True)
def _resnet8(cfg: ModelConfig, c: int, hw: tuple[int, int], n: int) -> nn.Module:
    return ResNet8(in_channels=c, num_classes=n)


def _recurrent(cell: str) -> Callable[[ModelConfig, int, tuple[int, int], int], nn.Module]:
    def build(cfg: ModelConfig, c: int, hw: tuple[int, int], n: int) -> nn.Module:
        return RowRNN(
            cell,  # type: ignore[arg-type]
            in_channels=c,
            image_size=hw,
            num_classes=n,
            hidden_size=cfg.get("hidden_size"),
            num_layers=cfg.get("num_layers"),
            dropout=cfg.get("dropout"),
        )

    return build


# bf16 from these hidden sizes: smaller cells trained slower in bf16 on at least one measured
# host. Cost per training image relative to LeNet5: fitted to 1-thread img/s at auto precision
# on an AVX-512 BF16 EPYC (docs/precision.md): e.g. GRU 32 / 256 units 0.16 / 0.73.
for _cell, _min_hidden, _cost in (
    ("rnn", 256, (0.06, 0.22)),
    ("lstm", 64, (0.04, 0.43)),
    ("gru", 128, (0.14, 0.59)),
):
    register_model(_cell, recurrent=True, bf16=True, bf16_min_hidden=_min_hidden, cost=_cost)(
        _recurrent(_cell)
    )

# name -> builder, in registration order (what `--model` accepts besides a factory path)
REGISTRY: dict[str, Callable[[ModelConfig, int, tuple[int, int], int], nn.Module]] = {
    k: v.build for k, v in KINDS.items()
}
RECURRENT = recurrent_kinds()


def _import_file(path: Path, key: str = "config key 'model'") -> object:
    """Import a ``.py`` file as a module of its own (named after its resolved path); ``key``
    starts the one-line error (what named the file)."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    name = f"convscope_user_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{key}: cannot import {str(path)!r} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - the user's file: say what it raised, in one line
        del sys.modules[name]
        raise ConfigError(
            f"{key}: importing {str(path)!r} failed: {type(e).__name__}: {e}"
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


def factory_kwargs(
    factory: Callable[..., nn.Module],
    cfg: ModelConfig,
    image_shape: tuple[int, int, int],
    num_classes: int,
) -> dict[str, object]:
    """What a factory is called with: the input and output sizes it takes, and only what the
    config sets (never a default of convscope's in place of the factory's own)."""
    c, h, w = image_shape
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a builtin or C callable: pass what the config sets
        params = {}
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepts_all = not params or var_kw
    sizes = {"in_channels": c, "image_size": (h, w) if h != w else h, "num_classes": num_classes}
    kwargs = {k: v for k, v in sizes.items() if k in params or var_kw}
    for key in ("hidden_size", "num_layers", "dropout"):
        if getattr(cfg, key) is not None and (accepts_all or key in params):
            kwargs[key] = getattr(cfg, key)
    name = cfg.model.rpartition(":")[2]
    for key, value in cfg.model_args.items():
        if not accepts_all and key not in params:
            takes = ", ".join(p for p in params if p not in sizes) or "nothing else"
            raise ConfigError(
                f"config key 'model_args.{key}': factory {name!r} has no argument {key!r}; "
                f"it takes {takes}"
            )
        kwargs[key] = value
    return kwargs


def build_model(
    cfg: ModelConfig,
    image_shape: tuple[int, int, int],
    num_classes: int,
    model_args: dict[str, Any] | None = None,
) -> nn.Module:
    """Build the configured model for ``(C, H, W)`` inputs and ``num_classes`` outputs.

    ``model_args``: more keyword arguments for a user's factory (an imported run's
    ``--model-args``), merged over ``cfg.model_args``."""
    if model_args:
        cfg = dataclasses.replace(cfg, model_args={**cfg.model_args, **model_args})
    c, h, w = image_shape
    if cfg.model in REGISTRY:
        if cfg.model_args:
            raise ConfigError(
                f"config key 'model_args': the built-in model {cfg.model!r} takes none; expected "
                "hidden_size, num_layers or dropout, or a factory of your own"
            )
        check_memory(cfg, lambda: REGISTRY[cfg.model](cfg, c, (h, w), num_classes))
        try:
            return REGISTRY[cfg.model](cfg, c, (h, w), num_classes)
        except (MemoryError, RuntimeError) as e:
            if not isinstance(e, MemoryError) and "alloc" not in str(e):
                raise
            raise ConfigError(
                f"config key 'model': building {cfg.model} (hidden_size {cfg.get('hidden_size')}) "
                "ran out of memory; expected a smaller model"
            ) from None
    factory = load_factory(cfg.model)
    kwargs = factory_kwargs(factory, cfg, image_shape, num_classes)
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


def _available_bytes() -> int | None:
    """Memory this process may still use (MemAvailable, else physical memory); None unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_memory(cfg: ModelConfig, build: Callable[[], nn.Module]) -> None:
    """Refuse a model whose weights and gradients (fp32) alone exceed the memory available, from
    its parameter count on the meta device (nothing allocated): exit 2, not a crash mid-way."""
    try:
        with torch.device("meta"):
            n = sum(p.numel() for p in build().parameters())
    except Exception:  # noqa: BLE001 - cannot be sized without memory: the real build decides
        return
    need, have = 2 * 4 * n, _available_bytes()
    if have is not None and need > have:
        raise ConfigError(
            f"config key 'model': {cfg.model} with hidden_size {cfg.get('hidden_size')} has "
            f"{n:,} parameters: {need / 2**30:.1f} GiB for weights and gradients alone, "
            f"{have / 2**30:.1f} GiB available; expected a smaller model"
        )


def check_output(model: nn.Module, x: torch.Tensor, num_classes: int, name: str) -> None:
    """Run ``model`` once on ``x`` ``(N, C, H, W)`` (eval mode, no gradients, RNG untouched) and
    refuse anything but a tensor of shape ``(N, num_classes)``, in one line naming the factory.

    Called once at start-up, so a model built for other images or another number of classes
    stops before training, as the user's mistake (exit 2).
    """
    shape = "x".join(map(str, x.shape))
    was_training = model.training
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            y = model.eval()(x)
    except Exception as e:  # noqa: BLE001 - the user's model: say what it raised, in one line
        msg = (str(e).strip().splitlines() or [""])[0]
        raise ConfigError(
            f"config key 'model': {name!r} failed on a batch of shape {shape}: "
            f"{type(e).__name__}: {msg}"
        ) from None
    finally:
        model.train(was_training)
    want = (x.shape[0], num_classes)
    if not isinstance(y, torch.Tensor):
        got = type(y).__name__
    elif tuple(y.shape) != want:
        got = f"a tensor of shape {'x'.join(map(str, y.shape))}"
    else:
        return
    raise ConfigError(
        f"config key 'model': {name!r} returned {got} for a batch of shape {shape}; expected a "
        f"tensor of shape {want[0]}x{want[1]} (one logit per class, {num_classes} classes)"
    )


def is_recurrent(model: nn.Module) -> bool:
    return isinstance(model, RowRNN)


__all__ = [
    "LeNet5",
    "ResNet8",
    "RowRNN",
    "REGISTRY",
    "RECURRENT",
    "KINDS",
    "ModelKind",
    "kind",
    "register_model",
    "build_model",
    "check_output",
    "load_factory",
    "is_recurrent",
]
