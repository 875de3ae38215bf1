"""Every analysis on the layers people write (issue 19), against independent oracles.

* Forward-only numbers (activation maxima, top-k values, occlusion probabilities) equal plain
  forward hooks and plain forward passes on the unmodified model.
* Each deconvnet rule equals autograd on the model with that layer's backward replaced by the
  rule: a forward hook swaps each nonlinearity's output for a function whose backward is the
  rule, and each per-image normalisation for its affine map with the statistics detached.
  Neither uses the layer graph under test.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from convscope.analysis.hook_points import capture, find_hook_points
from convscope.analysis.zf.deconvnet import NoDeconvRule, Units, project, projection_rules
from convscope.analysis.zf.graph import trace_chain
from convscope.analysis.zf.occlusion import occlusion_maps, occlusion_masks
from convscope.analysis.zf.topk import topk_per_map
from convscope.config import ModelConfig
from convscope.models import build_model
from convscope.studies.activations.compute import dead_units

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ("fast_cifar_net", "mobile_net", "vgg_groupnorm")
RECTIFIERS = (nn.GELU, nn.SiLU, nn.ELU, nn.Mish, nn.ReLU6, nn.Hardswish, nn.Softplus, nn.CELU)
NORMS = (nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)


def example(name: str, c: int = 3, hw: int = 32, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = build_model(ModelConfig(model=f"{ROOT}/examples/models/{name}.py:net"), (c, hw, hw), 10)
    for m in model.modules():  # non-trivial batch-norm statistics and affine parameters
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.bias.data.uniform_(-0.3, 0.3)
        if isinstance(m, nn.GroupNorm):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    return model.double().eval()


class Scale(nn.Module):
    def __init__(self, s: float) -> None:
        super().__init__()
        self.s = s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.s


def kinds_net(act: nn.Module, norm: str = "group") -> nn.Module:
    """A small net with the nonlinearity ``act`` after every conv, a depthwise stride-2 conv,
    ``padding="same"``, a per-image normalisation and a scaling module."""
    norms = {
        "group": nn.GroupNorm(2, 8),
        "layer": nn.LayerNorm([8, 16, 16]),
        "instance": nn.InstanceNorm2d(8, affine=True),
    }
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding="same"),
        norms[norm],
        type(act)() if not isinstance(act, nn.PReLU) else nn.PReLU(8, init=0.2),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8),
        type(act)() if not isinstance(act, nn.PReLU) else nn.PReLU(8, init=0.1),
        Scale(0.5),
        nn.Conv2d(8, 6, 1),
        nn.BatchNorm2d(6),
        type(act)() if not isinstance(act, nn.PReLU) else nn.PReLU(6, init=0.3),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 5),
    ).double()


# --- the oracle: autograd with each layer's backward replaced by its rule ----------------------
class _Rule(torch.autograd.Function):
    """Forward: the layer's own output ``y``; backward: ``rule(grad)`` to the layer's input."""

    @staticmethod
    def forward(ctx, x, y, rule):  # noqa: ANN001
        ctx.rule = rule
        return y.detach().clone()

    @staticmethod
    def backward(ctx, g):  # noqa: ANN001
        return ctx.rule(g), None, None


def _rule_of(m: nn.Module):  # noqa: ANN202
    if isinstance(m, nn.PReLU):
        return lambda g: F.prelu(g, m.weight)
    if isinstance(m, nn.LeakyReLU):
        return lambda g: F.leaky_relu(g, m.negative_slope)
    return torch.relu


def _frozen_norm(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The normalisation with its statistics detached (an affine map of ``x``)."""
    if isinstance(m, nn.GroupNorm):
        b, c = x.shape[:2]
        xg = x.reshape(b, m.num_groups, -1)
        mu, var = xg.mean(2, keepdim=True).detach(), xg.var(2, unbiased=False, keepdim=True)
        y = ((xg - mu) / (var.detach() + m.eps).sqrt()).reshape_as(x)
        return y * m.weight.view(1, -1, 1, 1) + m.bias.view(1, -1, 1, 1)
    if isinstance(m, nn.LayerNorm):
        dims = tuple(range(x.dim() - len(m.normalized_shape), x.dim()))
        mu = x.mean(dims, keepdim=True).detach()
        var = x.var(dims, unbiased=False, keepdim=True).detach()
        return (x - mu) / (var + m.eps).sqrt() * m.weight + m.bias
    mu = x.mean((2, 3), keepdim=True).detach()
    var = x.var((2, 3), unbiased=False, keepdim=True).detach()
    y = (x - mu) / (var + m.eps).sqrt()
    return y * m.weight.view(1, -1, 1, 1) + m.bias.view(1, -1, 1, 1)


def oracle_projection(
    model: nn.Module, images: torch.Tensor, layer: str, units: list[tuple[int, int, int, int]]
) -> torch.Tensor:
    """d(unit)/d(input) * unit value with every rule in place, one row per unit."""
    modules = dict(model.named_modules())
    handles, seen = [], {}
    inplace = [m for m in modules.values() if getattr(m, "inplace", False)]
    for m in inplace:  # the oracle needs each layer's input intact
        m.inplace = False
    for m in modules.values():
        if isinstance(m, (*RECTIFIERS, nn.ReLU, nn.LeakyReLU, nn.PReLU)):
            handles.append(
                m.register_forward_hook(lambda mod, i, o: _Rule.apply(i[0], o, _rule_of(mod)))
            )
        elif isinstance(m, NORMS):
            handles.append(m.register_forward_hook(lambda mod, i, o: _frozen_norm(mod, i[0])))
    handles.append(
        modules[layer].register_forward_hook(lambda mod, i, o: seen.__setitem__("act", o))
    )
    try:
        inp = images[[u[0] for u in units]].clone().requires_grad_(True)
        model(inp)
    finally:
        for h in handles:
            h.remove()
        for m in inplace:
            m.inplace = True
    act = seen["act"]
    seed = torch.zeros_like(act)
    for r, (_, c, y, x) in enumerate(units):
        seed[r, c, y, x] = act[r, c, y, x].detach()
    (g,) = torch.autograd.grad(act, inp, seed)
    return g


def _strongest_units(act: torch.Tensor, n: int = 5) -> list[tuple[int, int, int, int]]:
    gen = torch.Generator().manual_seed(1)
    out = []
    for _ in range(n):
        b = int(torch.randint(act.shape[0], (1,), generator=gen))
        c = int(torch.randint(act.shape[1], (1,), generator=gen))
        flat = int(act[b, c].argmax())
        out.append((b, c, flat // act.shape[3], flat % act.shape[3]))
    return out


def _check_rules(model: nn.Module, images: torch.Tensor) -> int:
    chain = trace_chain(model)
    names = dict(model.named_modules())
    checked = 0
    for i, ly in enumerate(chain.layers):
        if ly.name not in names or not isinstance(names[ly.name], (*RECTIFIERS, nn.PReLU)):
            continue
        act = chain.record(images, upto=i).outputs[i]
        if act.dim() != 4:
            continue
        units = _strongest_units(act)
        got = project(chain, images, i, Units.of(*zip(*units)), block_output=False)
        want = oracle_projection(model, images, ly.name, units)
        rel = float((got - want).norm() / want.norm().clamp_min(1e-300))
        assert rel < 1e-9, (ly.name, rel)
        checked += 1
    return checked


@pytest.mark.parametrize(
    "act", [*[a() for a in RECTIFIERS], nn.PReLU()], ids=lambda a: type(a).__name__
)
@pytest.mark.parametrize("norm", ["group", "layer", "instance"])
def test_each_projection_rule_equals_autograd_with_that_rule(act: nn.Module, norm: str) -> None:
    torch.manual_seed(0)
    model = kinds_net(act, norm).eval()
    images = torch.randn(3, 3, 16, 16, dtype=torch.float64)
    assert _check_rules(model, images) == 3


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_models_projections_equal_autograd(name: str) -> None:
    model = example(name)
    images = torch.randn(
        3, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(2)
    )
    assert _check_rules(model, images) >= 3


def test_every_projection_records_its_rules() -> None:
    chain = trace_chain(example("vgg_groupnorm"))
    rules = projection_rules(chain, chain.index("features.5"))
    assert rules["features.1"] == "norm" and rules["features.2"] == "rectifier_act"
    assert rules["features.0"] == "conv" and "features.6" not in rules


@pytest.mark.parametrize(
    "act", [nn.Tanh(), nn.Sigmoid(), nn.Softsign()], ids=lambda a: type(a).__name__
)
def test_a_saturating_nonlinearity_refuses_projection_and_runs_forward(act: nn.Module) -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), act, nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    chain = trace_chain(model)
    x = torch.randn(2, 1, 8, 8)
    with pytest.raises(NoDeconvRule, match=rf"layer 1 \({type(act).__name__}\).*saturating") as e:
        project(chain, x, 1, Units.of([0], [0], [0], [0]), block_output=False)
    assert "\n" not in str(e.value)
    t = topk_per_map(chain, (x * 50 + 128).clamp(0, 255).to(torch.uint8), "0", k=1)
    assert t.projections is None and t.patches is not None
    assert "saturating" in t.choices["projection"]


# --- forward-only numbers against plain forward hooks -----------------------------------------
def _hooked_outputs(model: nn.Module, x: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    modules = dict(model.named_modules())
    got: dict[str, torch.Tensor] = {}
    handles = [
        modules[n].register_forward_hook(
            lambda m, i, o, n=n: got.__setitem__(n, o.detach().clone())
        )
        for n in names
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return got


@pytest.mark.parametrize("name", EXAMPLES)
def test_activation_maxima_and_topk_values_equal_plain_forward_hooks(name: str) -> None:
    model = example(name)
    x = torch.randn(6, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    points = [p for p in find_hook_points(model) if p.kind != "logits"]
    modules = dict(model.named_modules())
    assert all(p.module in modules for p in points)  # module paths, every one a real module
    assert all(p.after != "none" for p in points)  # measured after the nonlinearity
    plain = _hooked_outputs(model, x, [p.module for p in points])
    got = capture(model, x, points)
    for p in points:
        torch.testing.assert_close(got[p.name], plain[p.module], rtol=0, atol=0)
    u8 = (x * 40 + 128).clamp(0, 255).round().to(torch.uint8)

    def norm(b: torch.Tensor) -> torch.Tensor:
        return (b.double() - 128) / 40

    # every unit's maximum over the images, as dead_units measures it
    dead = dead_units(model, u8, norm, batch_size=4)
    plain = _hooked_outputs(model, norm(u8), [p.module for p in points])
    for p in points:
        want = plain[p.module].transpose(0, 1).flatten(1).amax(1)
        torch.testing.assert_close(torch.tensor(dead[p.name]["unit_max"]), want.float())
    # top-k values of the last conv block: the k largest per-image maxima of each map
    last = [p for p in points if p.kind == "conv"][-1]
    t = topk_per_map(model, u8, last.module, k=3, transform=norm, with_projections=False)
    per_image = plain[last.module].flatten(2).amax(2)
    want = per_image.transpose(0, 1).sort(dim=1, descending=True).values[:, :3]
    torch.testing.assert_close(t.values.double(), want, rtol=0, atol=1e-12)


def test_dead_units_follow_the_rule_of_their_nonlinearity() -> None:
    """A GELU unit whose pre-activation is never positive is dead (its output is negative, not
    0); a tanh unit is dead when constant: saturated at -1, or constant for lack of input."""
    conv = nn.Conv2d(1, 3, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 0.0, 1.0]).view(3, 1, 1, 1))
        conv.bias.copy_(torch.tensor([-300.0, 0.5, 0.0]))  # map 0 never positive, map 1 constant
    model = nn.Sequential(conv, nn.GELU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).eval()
    images = torch.randint(0, 256, (5, 1, 4, 4), dtype=torch.uint8)
    dead = dead_units(model, images, lambda b: b.float() / 255)["Layer_1_Activations"]
    assert dead["dead_rule"] == "rectifier" and dead["dead"] == [0]
    model[1] = nn.Tanh()
    dead = dead_units(model, images, lambda b: b.float() / 255)["Layer_1_Activations"]
    assert dead["dead_rule"] == "constant" and dead["dead"] == [0, 1]
    with torch.no_grad():
        conv.bias[0] = -0.5  # map 0 now varies with the image: alive
    dead = dead_units(model, images, lambda b: b.float() / 255)["Layer_1_Activations"]
    assert dead["dead"] == [1]


def test_occlusion_probabilities_equal_plain_forward_passes() -> None:
    model = example("mobile_net").float()
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 32, 32, generator=gen)
    occ = occlusion_maps(model, x, [1, 2], "stem.0", size=8, stride=8, fill=0.0)
    _, _, masks = occlusion_masks((32, 32), 8, 8)
    with torch.no_grad():
        for n in range(2):
            xs = torch.where(masks[:, None], torch.zeros(()), x[n : n + 1])
            probs = model(xs).softmax(1)[:, [1, 2][n]].double()
            torch.testing.assert_close(occ.prob_true[n].reshape(-1), probs, rtol=1e-5, atol=1e-6)


def test_layer_names_read_as_module_paths_with_what_they_are() -> None:
    chain = trace_chain(example("vgg_groupnorm"))
    assert chain.display("features.0") == "features.0 (Conv2d 3→16, 3×3)"
    assert chain.said("features.2") == "features.2 (SiLU)"
    mob = trace_chain(example("mobile_net"))
    assert mob.display("blocks.0.depthwise") == (
        "blocks.0.depthwise (Conv2d 16→16, 3×3, depthwise)"
    )
    assert mob.said("blocks.0.depthwise") == "blocks.0.depthwise (Conv2d 16→16, 3×3, depthwise)"
    assert math.isclose(trace_chain(example("fast_cifar_net")).layers[-1].scale, 1 / 8)
