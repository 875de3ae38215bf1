"""Test networks and independent oracles for the Zeiler & Fergus analyses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import fx, nn

from convscope.models import LeNet5
from convscope.models.examples import small_bn_cnn


class _DeconvReLU(torch.autograd.Function):
    """ReLU forward; backward = relu(grad_out) (the deconvnet rule, Zeiler & Fergus §2.1)."""

    @staticmethod
    def forward(ctx, x):  # noqa: ANN001
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, g):  # noqa: ANN001
        return g.clamp_min(0)


def deconv_relu(x: torch.Tensor) -> torch.Tensor:
    return _DeconvReLU.apply(x)


class _DeconvLeaky(torch.autograd.Function):
    """LeakyReLU forward; backward = leaky_relu(grad_out) (the rule applied to the signal)."""

    @staticmethod
    def forward(ctx, x, slope):  # noqa: ANN001
        ctx.slope = slope
        return torch.where(x > 0, x, x * slope)

    @staticmethod
    def backward(ctx, g):  # noqa: ANN001
        return torch.where(g > 0, g, g * ctx.slope), None


def deconv_leaky(x: torch.Tensor, slope: float) -> torch.Tensor:
    return _DeconvLeaky.apply(x, slope)


fx.wrap("deconv_relu")
fx.wrap("deconv_leaky")


def _rectifier_slope(node: fx.Node, modules: dict[str, nn.Module]) -> float | None:
    """0.0 for a ReLU (any spelling, in place or not), the slope for a LeakyReLU, else None."""
    if node.op == "call_module":
        m = modules[str(node.target)]
        if isinstance(m, nn.LeakyReLU):
            return float(m.negative_slope)
        return 0.0 if isinstance(m, nn.ReLU) else None
    if node.op == "call_function":
        if node.target in (F.leaky_relu, F.leaky_relu_):
            return float(
                node.args[1] if len(node.args) > 1 else node.kwargs.get("negative_slope", 0.01)
            )
        return 0.0 if node.target in (F.relu, torch.relu, torch.relu_, F.relu_) else None
    if node.op == "call_method" and node.target in ("relu", "relu_"):
        return 0.0
    return None


def truncated_deconv_model(model: nn.Module, layer: str) -> fx.GraphModule:
    """The model up to ``layer`` (module target or fx node name), rectifiers swapped for
    :func:`deconv_relu` / :func:`deconv_leaky` (out of place: the test nets read no input of
    an in-place rectifier after it). Built straight from torch.fx, not from the code under
    test."""
    gm = fx.symbolic_trace(model)
    modules = dict(gm.named_modules())
    graph = gm.graph
    stop = None
    seen: set[str] = set()
    for node in list(graph.nodes):
        slope = _rectifier_slope(node, modules)
        if slope is not None:
            with graph.inserting_after(node):
                if slope == 0.0:
                    new = graph.call_function(deconv_relu, (node.args[0],))
                else:
                    new = graph.call_function(deconv_leaky, (node.args[0], slope))
            node.replace_all_uses_with(new)
            name = str(node.target) if node.op == "call_module" else node.name
            if node.op == "call_module" and name in seen:  # a shared module's 2nd use
                name = node.name
            seen.add(name)
            graph.erase_node(node)
            new.name = name  # keep the name for lookup below
            if name == layer:
                stop = new
        elif (node.op == "call_module" and node.target == layer) or node.name == layer:
            stop = node
    if stop is None:
        raise KeyError(layer)
    out = [n for n in graph.nodes if n.op == "output"][0]
    out.args = (stop,)
    graph.eliminate_dead_code()
    graph.lint()
    return fx.GraphModule(gm, graph)


# (id(model), layer) -> (model, truncated graph); holding the model keeps its id unique
_TRUNCATED: dict[tuple[int, str], tuple[nn.Module, fx.GraphModule]] = {}


def autograd_projections(
    model: nn.Module,
    images: torch.Tensor,
    layer: str,
    units: list[tuple[int, int, int | None, int | None]],
) -> torch.Tensor:
    """Per unit ``(image, map, y, x)``: d(activation)/d(input) * activation with the deconvnet
    ReLU rule, ``(N, C, H, W)``. One row per unit (its image repeated), so one backward pass
    gives every unit's gradient (rows do not interact in eval mode)."""
    key = (id(model), layer)
    if key not in _TRUNCATED or _TRUNCATED[key][0] is not model:
        _TRUNCATED[key] = (model, truncated_deconv_model(model, layer).eval())
    sub = _TRUNCATED[key][1]
    inp = images[[u[0] for u in units]].clone().requires_grad_(True)
    act = sub(inp)
    seed = torch.zeros_like(act)
    for r, (_, c, y, x) in enumerate(units):
        if act.dim() == 4:
            seed[r, c, y, x] = act[r, c, y, x].detach()
        else:
            seed[r, c] = act[r, c].detach()
    (g,) = torch.autograd.grad(act, inp, seed)
    return g


def autograd_projection(
    model: nn.Module, image: torch.Tensor, layer: str, c: int, y: int | None, x: int | None
) -> torch.Tensor:
    """One unit of :func:`autograd_projections`: ``(C, H, W)``."""
    return autograd_projections(model, image[None], layer, [(0, c, y, x)])[0]


class ZFNet(nn.Sequential):
    """ZF-style details: stride-2 conv, overlapping 3x3/2 max-pool, avg-pool, dilation, an
    even 'same' kernel, BN, dropout; one-channel 28x28 input."""

    def __init__(self) -> None:
        super().__init__()
        self.add_module("conv1", nn.Conv2d(1, 6, 5, stride=2, padding=2))
        self.add_module("relu1", nn.ReLU())
        self.add_module("pool1", nn.MaxPool2d(3, stride=2, padding=1))
        self.add_module("conv2", nn.Conv2d(6, 8, 4, padding="same"))
        self.add_module("bn2", nn.BatchNorm2d(8))
        self.add_module("relu2", nn.ReLU(inplace=True))
        self.add_module("conv3", nn.Conv2d(8, 8, 3, padding=2, dilation=2))
        self.add_module("relu3", nn.ReLU())
        self.add_module("pool3", nn.AvgPool2d(2, stride=2, ceil_mode=True))
        self.add_module("flatten", nn.Flatten())
        self.add_module("drop", nn.Dropout(0.3))
        self.add_module("fc1", nn.Linear(8 * 4 * 4, 20))
        self.add_module("relu4", nn.ReLU())
        self.add_module("fc2", nn.Linear(20, 10))


class FunctionalNet(nn.Module):
    """F.relu and x.view(x.size(0), -1) in forward."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3)
        self.fc = nn.Linear(6 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        x = x.view(x.size(0), -1)
        return self.fc(x)


def randomize_bn(model: nn.Module, gen: torch.Generator) -> nn.Module:
    """Non-trivial running statistics and affine parameters for every batch norm."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
    return model


def make_net(name: str, seed: int = 0) -> tuple[nn.Module, tuple[int, int, int]]:
    """(model in eval mode, float64, random weights; its input shape)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if name == "lenet5":
        model, shape = LeNet5(), (1, 28, 28)
    elif name == "small_bn_cnn":
        model, shape = randomize_bn(small_bn_cnn(), gen), (3, 32, 32)
    elif name == "zfnet":
        model, shape = randomize_bn(ZFNet(), gen), (1, 28, 28)
    elif name == "functional":
        model, shape = FunctionalNet(), (1, 14, 14)
    else:
        raise KeyError(name)
    return model.double().eval(), shape


NETS = ("lenet5", "small_bn_cnn", "zfnet", "functional")
