"""Occlusion with a model's layers reused from a reference model of the same graph
(:class:`convscope.analysis.zf.reuse.PrefixReuse`, used by the sanity check's randomised
copies): every number equals a full forward pass, and the unchanged layers do not run again."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from graph_nets import GRAPH_NETS, graph_net
from torch import nn

from convscope.analysis.sanity.randomise import randomised
from convscope.analysis.zf.graph import trace_chain
from convscope.analysis.zf.occlusion import Occlusion, occlusion_maps
from convscope.analysis.zf.reuse import PrefixReuse


def _equal(a: Occlusion, b: Occlusion) -> None:
    for f in dataclasses.fields(Occlusion):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, torch.Tensor):
            assert torch.equal(x, y), f.name
        else:
            assert x == y, f.name


def _occ(model: nn.Module, images: torch.Tensor, reuse: PrefixReuse | None) -> Occlusion:
    labels = torch.arange(len(images)) % 3
    return occlusion_maps(
        trace_chain(model), images, labels, -1, size=4, stride=3, batch_size=7, reuse=reuse
    )


def _calls(model: nn.Module) -> dict[str, int]:
    """Forward calls per conv/linear module, counted from now on."""
    counts: dict[str, int] = {}
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            counts[name] = 0
            m.register_forward_hook(lambda m, i, o, n=name: counts.__setitem__(n, counts[n] + 1))
    return counts


@pytest.mark.parametrize("net", GRAPH_NETS)
@pytest.mark.parametrize("order", ["cascading", "independent"])
def test_reused_layers_give_the_full_passes_numbers(net: str, order: str) -> None:
    model, shape = graph_net(net)
    images = torch.randn((5, *shape), generator=torch.Generator().manual_seed(1)).double()
    reuse = PrefixReuse()
    _equal(_occ(model, images, reuse), _occ(model, images, None))  # records the reference
    assert reuse.recording
    for _, rmodel in randomised(model, order, seed=7):
        _equal(_occ(rmodel, images, reuse), _occ(rmodel, images, None))
        assert not reuse.recording


def test_only_the_layers_at_and_above_a_changed_weight_run() -> None:
    model, shape = graph_net("resblock")
    images = torch.randn((4, *shape), generator=torch.Generator().manual_seed(2)).double()
    reuse = PrefixReuse()
    _occ(model, images, reuse)
    top = next(randomised(model, "cascading", seed=3))[1]  # fc re-initialised, the rest trained
    calls = _calls(top)
    _occ(top, images, reuse)
    assert calls["fc"] > 0 and all(v == 0 for k, v in calls.items() if k != "fc"), calls
    calls = _calls(top)
    _occ(top, images, None)
    assert all(v > 0 for v in calls.values()), calls


def test_other_images_a_small_budget_or_another_graph_record_afresh() -> None:
    model, shape = graph_net("resblock")
    gen = torch.Generator().manual_seed(3)
    a, b = (
        torch.randn((4, *shape), generator=gen).double(),
        torch.randn((4, *shape), generator=gen).double(),
    )
    reuse = PrefixReuse()
    _occ(model, a, reuse)
    other = next(randomised(model, "independent", seed=4))[1]
    _equal(_occ(other, b, reuse), _occ(other, b, None))  # other images: a new reference
    assert reuse.recording
    tiny = PrefixReuse(budget_bytes=1)  # nothing kept: every layer runs, same numbers
    _occ(model, a, tiny)
    _equal(_occ(other, a, tiny), _occ(other, a, None))
    branch, bshape = graph_net("branch")
    x = torch.randn((3, *bshape), generator=gen).double()
    _equal(_occ(branch, x, reuse), _occ(branch, x, None))
    assert reuse.recording


SCALE = {"v": 2.0}


@torch.fx.wrap
def user_scale(x: torch.Tensor) -> torch.Tensor:
    """A user's function that reads state the graph cannot see."""
    return x * SCALE["v"]


class Opaque(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1)
        self.fc = nn.Linear(3 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(user_scale(self.conv(x)))
        return self.fc(torch.relu(self.conv2(x)).flatten(1))


def test_a_users_function_is_never_taken_from_the_reference() -> None:
    torch.manual_seed(0)
    model = Opaque().double().eval()
    images = torch.randn((3, 1, 6, 6), generator=torch.Generator().manual_seed(5)).double()
    reuse = PrefixReuse()
    _occ(model, images, reuse)
    SCALE["v"] = -1.0  # same weights, other numbers: only a full pass knows
    try:
        _equal(_occ(model, images, reuse), _occ(model, images, None))
    finally:
        SCALE["v"] = 2.0


def test_only_torch_operator_and_builtin_functions_count_as_reading_nothing_else() -> None:
    import functools
    import operator

    import torch.nn.functional as F

    from convscope.analysis.zf.reuse import _known_function
    from convscope.analysis.zf.trace import _call_method

    for fn in (torch.flatten, operator.add, F.relu, getattr, _call_method("view")):
        assert _known_function(fn), fn
    for fn in (user_scale, lambda x: x, functools.partial(F.relu), Opaque()):
        assert not _known_function(fn), fn
