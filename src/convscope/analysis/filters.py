"""First-layer filters of any model (Zeiler & Fergus 2014, arXiv 1311.2901,
Sec. 4.1 "Architecture Selection" and Fig. 6; layer 1 of Fig. 2).

The first convolution is the first :class:`torch.nn.Conv2d` in module registration order
(``model.modules()``), which is the order a model is built in; for the built-in models this is
also the order of execution.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from torch import nn

from convscope.errors import ConvscopeError

ChannelReduce = Literal["principal", "mean"]


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first ``nn.Conv2d`` of ``model`` in module order, with its qualified name.

    Raises:
        ConvscopeError: the model has no ``nn.Conv2d`` (e.g. a recurrent model).
    """
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ConvscopeError(
        f"model {type(model).__name__}: has no nn.Conv2d layer; first-layer filters need a "
        "convolutional model"
    )


def first_conv_weights(model: nn.Module) -> np.ndarray:
    """Weights of the first convolution as float64 ``(F, C, kh, kw)`` (a copy, on the CPU)."""
    _, conv = first_conv(model)
    return conv.weight.detach().to("cpu").double().numpy().copy()


def check_filters(weights: np.ndarray, what: str = "filters") -> np.ndarray:
    """Return ``weights`` as float64 ``(F, C, kh, kw)``; raise ConvscopeError naming ``what``."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 4 or min(w.shape) < 1:
        raise ConvscopeError(f"{what}: expected an array (F, C, kh, kw), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ConvscopeError(f"{what}: contains NaN or infinite values")
    return w


def reduce_channels(
    weights: np.ndarray, method: ChannelReduce = "principal"
) -> tuple[np.ndarray, np.ndarray]:
    """One 2-D map per filter: ``(F, C, kh, kw)`` -> ``(F, kh, kw)``, plus the share it keeps.

    ``"principal"``: the best rank-1 approximation of each filter's ``(C, kh*kw)`` matrix
    (first singular vector, scaled by its singular value), signed so that it correlates
    positively with the channel sum. Unlike the channel mean it keeps colour-opponent filters
    (red on, green off), which the mean would cancel. ``"mean"``: the channel mean. With one
    channel both return the filter itself.

    Returns:
        maps: ``(F, kh, kw)``.
        kept: ``(F,)`` share of the filter's sum of squares kept by the map (1.0 with one
            channel; ``s1^2 / sum(s^2)`` for ``"principal"``; ``C * ||mean||^2 / ||w||^2`` for
            ``"mean"``).
    """
    w = check_filters(weights)
    f, c, kh, kw = w.shape
    if method not in ("principal", "mean"):
        raise ConvscopeError(f"channel reduction: expected 'principal' or 'mean', got {method!r}")
    if c == 1:
        return w[:, 0].copy(), np.ones(f)
    energy = np.maximum((w**2).sum(axis=(1, 2, 3)), 1e-300)
    if method == "mean":
        maps = w.mean(axis=1)
        return maps, c * (maps**2).sum(axis=(1, 2)) / energy
    maps = np.empty((f, kh, kw))
    kept = np.empty(f)
    for i in range(f):
        u, s, vt = np.linalg.svd(w[i].reshape(c, kh * kw), full_matrices=False)
        # rank-1 filter = u[:, 0] (channel weights) x s[0] * vt[0] (spatial map); the pair's
        # sign is arbitrary, so sign the map like the channel sum of u[:, 0]
        sign = 1.0 if u[:, 0].sum() >= 0 else -1.0
        maps[i] = (sign * s[0] * vt[0]).reshape(kh, kw)
        kept[i] = s[0] ** 2 / max(float((s**2).sum()), 1e-300)
    return maps, kept
