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


@pytest.mark.slow
def test_the_last_snapshots_pass_is_the_final_models_unless_weights_differ(
    tiny_site: tuple[Path, Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last snapshot holds the final weights: its evolution column reuses the maxima pass
    of the final model (one pass fewer, same numbers, as the test above shows); a last snapshot
    whose weights differ by one value gets its own pass."""
    import convscope.analysis.zf.topk as topk
    import convscope.explore.build as build

    run = tiny_site[0]
    rd = RunDir(run)
    ctx = zf_context(RunContext(run, device="cpu"))
    chain, (images, _) = ctx.chain, ctx.test
    steps = _snapshots(rd)
    resolved = {n: chain.resolve(chain.index(n)) for n in default_layers(chain)}
    passes: list[int] = []
    real = topk.max_per_map_of_layers
    counted = lambda *a, **k: passes.append(1) or real(*a, **k)  # noqa: E731
    monkeypatch.setattr(topk, "max_per_map_of_layers", counted)
    monkeypatch.setattr(build, "max_per_map_of_layers", counted)

    def load(step: int) -> torch.nn.Module:
        return rd.load_model(step, device=ctx.device)

    _shared_passes(chain, images, ctx.normalize, steps, load, resolved)
    assert len(passes) == len(steps)  # the final model's, then every snapshot's but the last

    def load_changed(step: int) -> torch.nn.Module:
        m = load(step)
        if step == steps[-1]:
            with torch.no_grad():
                next(m.parameters()).view(-1)[0] += 1e-3
        return m

    passes.clear()
    _shared_passes(chain, images, ctx.normalize, steps, load_changed, resolved)
    assert len(passes) == len(steps) + 1
