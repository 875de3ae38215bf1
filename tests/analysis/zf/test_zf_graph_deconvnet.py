"""The deconvnet and receptive fields on networks with skips and branches, against
independent oracles: autograd with each rectifier's backward replaced by the deconvnet rule
(built straight from torch.fx), Captum's NeuronDeconvolution, and nonzero-gradient support."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from graph_nets import GRAPH_NETS, graph_net
from torch import nn
from zf_nets import autograd_projections, randomize_bn

from convscope.analysis.zf.deconvnet import Units, project
from convscope.analysis.zf.graph import trace_chain
from convscope.analysis.zf.receptive import receptive_fields
from convscope.config import ModelConfig
from convscope.models import build_model

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = {
    "residual_net": (ROOT / "examples/models/residual_net.py", (1, 14, 14)),
    "branching_net": (ROOT / "examples/models/branching_net.py", (1, 16, 16)),
}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def _example(name: str) -> tuple[nn.Module, tuple[int, int, int]]:
    path, shape = EXAMPLES[name]
    torch.manual_seed(0)
    model = build_model(ModelConfig(model=f"{path}:{name}"), shape, 10)
    return randomize_bn(model, torch.Generator().manual_seed(0)).double().eval(), shape


def _units(act: torch.Tensor, gen: torch.Generator, n: int = 6) -> list[tuple]:
    """The strongest unit of a few (image, map) pairs: nonzero seeds."""
    out = []
    for _ in range(n):
        b = int(torch.randint(act.shape[0], (1,), generator=gen))
        c = int(torch.randint(act.shape[1], (1,), generator=gen))
        if act.dim() == 4:
            flat = int(act[b, c].abs().argmax())
            out.append((b, c, flat // act.shape[3], flat % act.shape[3]))
        else:
            out.append((b, c, None, None))
    return out


def _check_against_autograd(model: nn.Module, shape: tuple[int, int, int]) -> int:
    chain = trace_chain(model)
    gen = torch.Generator().manual_seed(3)
    images = torch.randn((4, *shape), generator=gen, dtype=torch.float64)
    checked = 0
    for i, layer in enumerate(chain.layers):
        if i == chain.output:
            continue
        act = chain.record(images, upto=i).outputs[i]
        if act.dim() not in (2, 4) or not act.abs().sum() > 0:
            continue
        units = _units(act, gen)
        got = project(
            chain,
            images,
            i,
            Units.of(
                [u[0] for u in units],
                [u[1] for u in units],
                [u[2] or 0 for u in units],
                [u[3] or 0 for u in units],
            ),
            block_output=False,
        )
        want = autograd_projections(model, images, layer.name, units)
        assert _rel(got, want) < 1e-5, (layer.name, _rel(got, want))
        checked += 1
    return checked


@pytest.mark.parametrize("name", GRAPH_NETS)
def test_projection_equals_the_autograd_oracle_at_every_layer(name: str) -> None:
    model, shape = graph_net(name)
    chain = trace_chain(model)
    assert not chain.is_chain
    x = torch.randn((3, *shape), dtype=torch.float64)
    torch.testing.assert_close(chain.run(x)[1], model(x))
    assert _check_against_autograd(model, shape) >= 10


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_projection_on_the_example_model_files(name: str) -> None:
    model, shape = _example(name)
    x = torch.randn((3, *shape), dtype=torch.float64)
    torch.testing.assert_close(trace_chain(model).run(x)[1], model(x))
    assert _check_against_autograd(model, shape) >= 8


def test_projection_on_resnet8() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(model="resnet8"), (3, 16, 16), 10)
    model = randomize_bn(model, torch.Generator().manual_seed(0)).double().eval()
    assert _check_against_autograd(model, (3, 16, 16)) >= 20


def test_an_inplace_op_is_seen_by_later_readers_of_its_input() -> None:
    class Aliasing(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.fc = nn.Linear(2 * 4 * 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            z = torch.relu_(y)  # y is now rectified too, and z is y
            return self.fc(torch.flatten(y + z, 1))  # 2 * relu(conv(x))

    model = Aliasing().double().eval()
    x = torch.randn(2, 1, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(trace_chain(model).run(x)[1], model(x))


def test_equals_captum_neuron_deconvolution() -> None:
    captum_attr = pytest.importorskip("captum.attr")
    model, shape = graph_net("modulerelu")
    chain = trace_chain(model)
    gen = torch.Generator().manual_seed(5)
    images = torch.randn((3, *shape), generator=gen, dtype=torch.float64)
    for layer in ("r2", "r3", "c4", "r4", "gap", "fc"):
        i = chain.index(layer)
        act = chain.record(images, upto=i).outputs[i]
        deconv = captum_attr.NeuronDeconvolution(model, dict(model.named_modules())[layer])
        for b, c, y, x in _units(act, gen, n=3):
            sel = (c, y, x) if act.dim() == 4 else (c,)
            want = deconv.attribute(images[b : b + 1], neuron_selector=sel)
            got = project(
                chain, images, i, Units.of([b], [c], [y or 0], [x or 0]), keep_value=False
            )
            assert _rel(got, want) < 1e-5, (layer, _rel(got, want))


def _positive(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            else:
                p.uniform_(0.1, 1.0)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
    return model.double().eval()


class _AvgGraph(nn.Module):
    """Skips and branches with average pooling only (the gradient support is the whole box)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 2, 3, padding=1)
        self.c2 = nn.Conv2d(2, 2, 3, padding=1)
        self.b5 = nn.Conv2d(2, 2, 5, padding=2)
        self.avg = nn.AvgPool2d(2)
        self.d = nn.Conv2d(4, 2, 3, stride=2, padding=1)
        self.proj = nn.Conv2d(4, 2, 1, stride=2)
        self.bn = nn.BatchNorm2d(2)
        self.amp = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.c1(x))
        x = nn.functional.leaky_relu(x + self.c2(x))  # identity skip: union of 3 and 5
        x = torch.cat([x, self.b5(x)], 1)  # branches: union of boxes
        x = self.avg(x)
        x = torch.relu(self.bn(self.d(x) + self.proj(x)))  # projection skip, stride 2
        return self.fc(torch.flatten(self.amp(x), 1))


def test_receptive_fields_equal_gradient_support_on_a_graph() -> None:
    model = _positive(_AvgGraph())
    chain = trace_chain(model)
    hw = (24, 24)
    rfs = receptive_fields(chain, (1, *hw))
    x = torch.rand((1, 1, *hw), dtype=torch.float64) + 0.1
    checked = 0
    for i, layer in enumerate(chain.layers):
        xi = x.clone().requires_grad_(True)
        act = chain.run(xi, taps=[i], to_end=False)[0][i]
        if act.dim() != 4:
            assert rfs[i].full
            continue
        h, w = act.shape[2:]
        for y, xx in [(0, 0), (h - 1, w - 1), (h // 2, w // 3)]:
            # a layer's field is the union over its maps (a concat's maps see different boxes)
            (g,) = torch.autograd.grad(act[0, :, y, xx].sum(), xi, retain_graph=True)
            support = g[0].abs().sum(0) > 0
            box = rfs[i].box(y, xx, hw)
            want = torch.zeros(hw, dtype=torch.bool)
            want[box[0] : box[1], box[2] : box[3]] = True
            assert torch.equal(support, want), (layer.name, y, xx, box)
            checked += 1
    assert rfs[chain.index("add")].size == (5, 5)  # c1: 3; c1 then c2: 5
    assert rfs[chain.index("cat")].size == (9, 9)  # 5, and 5 + 4 through b5
    assert checked >= 20


def test_in_place_layers_leave_the_outputs_they_read_intact() -> None:
    """An in-place ReLU, ``+=`` and an in-place SiLU module: every tapped output equals a
    forward hook's on the same model with nothing in place (the chain computes ReLU and adds
    out of place itself, and copies the input of a module that would overwrite it)."""

    class InPlace(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(2, 2, 3, padding=1)
            self.silu = nn.SiLU(inplace=True)
            self.fc = nn.Linear(2 * 6 * 6, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            r = self.relu(y)
            z = self.conv2(r)
            z += r
            return self.fc(torch.flatten(self.silu(z), 1))

    model = InPlace().double().eval()
    x = torch.randn(3, 1, 6, 6, dtype=torch.float64)
    chain = trace_chain(model)
    names = [ly.name for ly in chain.layers]
    acts, logits = chain.run(x, taps=range(len(names)))
    oracle = copy.deepcopy(model)
    oracle.relu.inplace = oracle.silu.inplace = False
    seen: dict[str, torch.Tensor] = {}
    for n in ("conv", "relu", "conv2", "silu"):
        oracle.get_submodule(n).register_forward_hook(
            lambda m, i, o, n=n: seen.__setitem__(n, o.detach().clone())
        )
    torch.testing.assert_close(logits, oracle(x))
    for n in seen:
        torch.testing.assert_close(acts[names.index(n)], seen[n], msg=n)
    (add,) = [i for i, ly in enumerate(chain.layers) if ly.kind == "add"]
    torch.testing.assert_close(acts[add], seen["conv2"] + seen["relu"])  # SiLU's input
