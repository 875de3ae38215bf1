"""Tracing CNNs into a chain of layers; clear errors for what the analyses cannot handle."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from zf_nets import NETS, FunctionalNet, make_net

from convscope.analysis.zf.graph import trace_chain
from convscope.errors import ConvscopeError

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")


@pytest.mark.parametrize("net", NETS)
def test_chain_reproduces_the_model_in_eval_mode(net: str) -> None:
    model, shape = make_net(net)
    chain = trace_chain(model)
    x = torch.randn((4, *shape), dtype=torch.float64)
    want = model.eval()(x)
    model.train()  # the chain uses eval semantics whatever the flag
    _, got = chain.run(x)
    torch.testing.assert_close(got, want)
    model.eval()


def test_layer_names_kinds_and_resolution() -> None:
    chain = trace_chain(FunctionalNet())
    assert [(ly.name, ly.kind) for ly in chain.layers] == [
        ("conv1", "conv"),
        ("relu", "relu"),
        ("pool", "maxpool"),
        ("conv2", "conv"),
        ("relu_1", "relu"),
        ("view", "flatten"),
        ("fc", "linear"),
    ]
    assert chain.resolve("conv2") == 4 and chain.resolve("conv2", block_output=False) == 3
    assert chain.resolve("pool") == 2 and chain.default_layers() == [1, 4]
    lenet = trace_chain(make_net("lenet5")[0])
    assert lenet.names[lenet.penultimate()] == "relu3"
    bn = trace_chain(make_net("small_bn_cnn")[0])
    assert bn.names[bn.resolve("conv1")] == "relu1"  # conv -> bn -> relu


def test_a_reused_relu_module_gets_a_second_name() -> None:
    class Reuse(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1, self.c2, self.act = nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3), nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.c2(self.act(self.c1(x))))

    assert trace_chain(Reuse()).names == ["c1", "act", "c2", "act_1"]


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


class PlusOne(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1


def test_a_residual_add_is_traced_as_a_graph() -> None:
    model = Residual()
    chain = trace_chain(model)
    assert [(ly.name, ly.kind, ly.inputs) for ly in chain.layers] == [
        ("conv", "conv", (-1,)),
        ("add", "add", (-1, 0)),
    ]
    assert not chain.is_chain
    x = torch.randn(2, 1, 5, 5)
    torch.testing.assert_close(chain.run(x)[1], model(x))


class Sig(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)


class Branchy(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x
        return -x


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (PlusOne(), r"layer add \(function\).*no transpose is defined for add"),
        (Sig(), r"layer sigmoid \(function\).*saturating"),
        (nn.Sequential(nn.Conv2d(1, 1, 3), nn.Tanh()), r"layer 1 \(Tanh\).*saturating"),
        (
            nn.Sequential(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect")),
            r"layer 0 \(Conv2d 1→1, 3×3\).*padding_mode 'reflect'",
        ),
        (nn.Conv2d(1, 1, 3), r"layer conv2d \(function\)"),
        (nn.Sequential(nn.BatchNorm2d(1, track_running_stats=False)), r"for BatchNorm2d"),
        (nn.Sequential(nn.Flatten(0)), r"for Flatten"),
    ],
)
def test_layers_without_a_rule_run_forward_and_refuse_projection_in_one_line(
    model: nn.Module, match: str
) -> None:
    """Any traceable model runs layer by layer with the model's own numbers; a layer with no
    deconvnet rule refuses the projection in one line naming it (issue 19)."""
    from convscope.analysis.zf.deconvnet import NoDeconvRule, Units, project

    chain = trace_chain(model)
    x = torch.randn(2, 1, 5, 5)
    torch.testing.assert_close(chain.run(x)[1], model.eval()(x))
    out = chain.output
    with pytest.raises(NoDeconvRule, match=match) as e:
        project(chain, x, out, Units.of([0], [0], [0], [0]), block_output=False)
    assert "\n" not in str(e.value)


def test_data_dependent_control_flow_is_refused_in_one_line() -> None:
    with pytest.raises(ConvscopeError, match="cannot be traced") as e:
        trace_chain(Branchy())
    assert "\n" not in str(e.value)


def test_view_minus_one_n_is_a_checked_flatten() -> None:
    class ViewNet(nn.Module):
        def __init__(self, n: int) -> None:
            super().__init__()
            self.conv, self.n = nn.Conv2d(1, 2, 3), n
            self.fc = nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.conv(x).view(-1, self.n))

    x = torch.randn(5, 1, 4, 4)
    good = ViewNet(8)
    chain = trace_chain(good)
    assert chain.layers[1].kind == "flatten"
    torch.testing.assert_close(chain.run(x)[1], good(x))
    bad = ViewNet(4)
    bad.fc = nn.Linear(4, 3)
    with pytest.raises(ConvscopeError, match=r"view\(-1, 4\).*would mix images"):
        trace_chain(bad).run(x)


def test_functional_pool_runs_forward_and_is_refused_for_projection_by_name() -> None:
    class FPool(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.max_pool2d(x, 2)

    from convscope.analysis.zf.deconvnet import NoDeconvRule, projection_rules

    chain = trace_chain(FPool())  # forward-only: runs as written
    x = torch.randn(2, 1, 4, 4)
    torch.testing.assert_close(chain.run(x)[1], F.max_pool2d(x, 2))
    with pytest.raises(NoDeconvRule, match="max_pool2d"):
        projection_rules(chain, chain.output)
