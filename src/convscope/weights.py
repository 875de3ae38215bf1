"""Weights trained elsewhere: read a weights file safely and fit it to a model.

A weights file is a plain ``state_dict`` (``torch.save(model.state_dict(), PATH)``) or a dict
holding one under ``state_dict`` (PyTorch Lightning), ``model_state_dict``, ``model`` or
``net`` (common training scripts). A prefix shared by every key (``model.``, ``module.`` from
``DataParallel``, ``_orig_mod.`` from ``torch.compile``) is stripped when the model's own keys
do not have it. Files are always read with ``torch.load(..., weights_only=True)``: a pickled
module is refused and nothing in it runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from convscope.errors import ConvscopeError

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net")
PREFIXES = ("model.", "module.", "_orig_mod.")
SAVE_HINT = "save the weights with torch.save(model.state_dict(), PATH)"
_SHOWN = 4  # keys listed per kind of mismatch before "... (N more)"


class WeightsError(ConvscopeError):
    """A weights file cannot be read, or does not fit the model (exit 2)."""


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (the provenance an imported run records)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _refusal(path: Path, e: Exception) -> WeightsError:
    """One line for a file the weights-only unpickler refused (nothing in it ran)."""
    from convscope.runs import _load_error

    text = str(e)
    why = _load_error(e)
    if "GLOBAL" in text or "allowed global" in text:
        return WeightsError(
            f"{path}: holds pickled Python objects, not only tensors ({why.removeprefix('refused: ')}); "
            f"convscope never runs code from a weights file: {SAVE_HINT}"
        )
    return WeightsError(f"{path}: cannot read as a PyTorch weights file ({why})")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` in ``path`` (unwrapped, shared prefix not yet stripped).

    Raises:
        WeightsError: no such file, a pickled module or other objects, or no tensors in it.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"{p}: no such weights file")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - whatever the file is, one line
        raise _refusal(p, e) from None
    return unwrap(obj, str(p))


def unwrap(obj: Any, where: str) -> dict[str, torch.Tensor]:
    """A plain ``state_dict`` from what ``torch.load`` returned (see the module docstring)."""
    if isinstance(obj, Mapping) and not _is_state_dict(obj):
        for k in WRAPPER_KEYS:
            if isinstance(obj.get(k), Mapping) and _is_state_dict(obj[k]):
                obj = obj[k]
                break
    if not isinstance(obj, Mapping) or not _is_state_dict(obj):
        keys = ", ".join(map(str, list(obj)[:6])) if isinstance(obj, Mapping) else ""
        got = f"a dict with keys {keys}" if keys else type(obj).__name__
        raise WeightsError(
            f"{where}: expected a state_dict (names -> tensors), or a dict holding one under "
            f"{', '.join(WRAPPER_KEYS)}; got {got}; {SAVE_HINT}"
        )
    return {str(k): v for k, v in obj.items()}


def _is_state_dict(d: Mapping) -> bool:
    return bool(d) and all(isinstance(k, str) and torch.is_tensor(v) for k, v in d.items())


def strip_prefix(sd: dict[str, torch.Tensor], model_keys: set[str]) -> tuple[dict, str]:
    """Strip prefixes shared by every key (and not used by the model); the stripped prefix."""
    stripped = ""
    while True:
        for pre in PREFIXES:
            if all(k.startswith(pre) for k in sd) and not any(
                k.startswith(pre) for k in model_keys
            ):
                sd = {k[len(pre) :]: v for k, v in sd.items()}
                stripped += pre
                break
        else:
            return sd, stripped


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOWN])
    return shown + (f" ... ({len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else "")


def fit(model: nn.Module, sd: dict[str, torch.Tensor], where: str, what: str) -> dict[str, Any]:
    """Load ``sd`` into ``model`` (strictly); return what was done.

    Args:
        where: the weights file (named in errors); what: the model (named in errors).

    Raises:
        WeightsError: one line listing missing, unexpected and mismatched keys.
    """
    own = model.state_dict()
    sd, prefix = strip_prefix(sd, set(own))
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [
        f"{k} {tuple(sd[k].shape)} in the file, {tuple(own[k].shape)} in the model"
        for k in own
        if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {_listed(missing)}")
        if unexpected:
            parts.append(f"unexpected {_listed(unexpected)}")
        if shapes:
            parts.append(f"wrong shape {_listed(shapes)}")
        stripped = f" (after stripping the prefix {prefix!r})" if prefix else ""
        raise WeightsError(f"{where}: does not fit {what}{stripped}: {'; '.join(parts)}")
    model.load_state_dict(sd, strict=True)
    return {"stripped_prefix": prefix, "tensors": len(sd)}
