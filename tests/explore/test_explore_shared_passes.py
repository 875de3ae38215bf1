"""explore's shared passes (every layer's maxima from one pass, every layer's evolution from one
pass per snapshot) give each layer exactly what its own passes give (issue 23)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from convscope.explore.build import _shared_passes, _snapshots
from convscope.explore.compute import default_layers, layer_units
from convscope.runs import RunDir
from convscope.studies._zf import zf_context
from convscope.studies.base import RunContext


def _same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), where
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    else:
        assert a == b or (a != a and b != b), where


@pytest.mark.slow
def test_shared_passes_equal_one_layer_at_a_time(tiny_site: tuple[Path, Path, Any]) -> None:
    run = tiny_site[0]
    rd = RunDir(run)
    ctx = zf_context(RunContext(run, device="cpu"))
    chain, (images, labels) = ctx.chain, ctx.test
    steps = _snapshots(rd)
    names = default_layers(chain)
    assert len(names) >= 2 and len(steps) >= 2

    def load(step: int) -> torch.nn.Module:
        return rd.load_model(step, device=ctx.device)

    resolved = {n: chain.resolve(chain.index(n)) for n in names}
    explored = {i: n for n, i in resolved.items()}
    maxima, evolutions = _shared_passes(chain, images, ctx.normalize, steps, load, resolved)
    assert set(evolutions) == set(maxima)  # every layer has a projection rule here
    args = (images, labels, len(ctx.classes), ctx.normalize, steps, load, explored)
    for n in names:
        read = chain.resolve(resolved[n])
        alone = layer_units(chain, n, *args)
        shared = layer_units(chain, n, *args, maxima=maxima[read], evolution=evolutions.get(read))
        _same(alone, shared, n)
