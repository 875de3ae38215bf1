"""Deconvnet projection (Zeiler & Fergus 2014, §2.1) against autograd and hand computation."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from zf_nets import NETS, autograd_projections, make_net

from convscope.analysis.zf.deconvnet import Units, project, project_requests
from convscope.analysis.zf.graph import trace_chain
from convscope.errors import ConvscopeError

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")


def _units_for(act: torch.Tensor, gen: torch.Generator, per_image: int) -> list[tuple]:
    """Per image: its strongest unit plus random ones (any sign, incl. zeros)."""
    out = []
    for b in range(act.shape[0]):
        a = act[b]
        flat = int(a.reshape(-1).argmax())
        picks = [flat] + torch.randint(0, a.numel(), (per_image - 1,), generator=gen).tolist()
        for p in picks:
            if act.dim() == 4:
                c, rem = divmod(p, a.shape[1] * a.shape[2])
                y, x = divmod(rem, a.shape[2])
                out.append((b, c, y, x))
            else:
                out.append((b, p, None, None))
    return out


@pytest.mark.parametrize("net", NETS)
def test_projection_equals_autograd_with_deconv_relu(net: str) -> None:
    model, shape = make_net(net, seed=1)
    chain = trace_chain(model)
    gen = torch.Generator().manual_seed(2)
    images = torch.randn((2, *shape), generator=gen, dtype=torch.float64)
    checked = 0
    for i, layer in enumerate(chain.layers):
        act = chain.record(images, upto=i).outputs[i]
        units = _units_for(act, gen, per_image=2)
        b, c, y, x = zip(*units)
        ys = [v or 0 for v in y]
        xs = [v or 0 for v in x]
        got = project(chain, images, layer.name, Units.of(b, c, ys, xs), block_output=False)
        want = autograd_projections(model, images, layer.name, units)
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11)
        checked += int((want.flatten(1).abs().amax(1) > 0).sum())
    assert checked >= len(chain.layers)  # most projections are non-trivial


def test_chunks_and_request_order_do_not_change_result() -> None:
    model, shape = make_net("lenet5", seed=3)
    images = torch.randn((4, *shape), dtype=torch.float64)
    u = Units.of([3, 0, 2, 0, 1], [5, 60, 7, 1, 63], [3, 0, 13, 7, 9], [2, 13, 0, 7, 4])
    whole = project(model, images, "conv2", u)
    chunked = project(model, images, "conv2", u, chunk_size=2)
    torch.testing.assert_close(whole, chunked)
    reqs = [(3, "relu2", 5, 3, 2), (1, "fc1", 17, 0, 0), (0, "relu2", 60, 0, 13)]
    mixed = project_requests(model, images, reqs)
    torch.testing.assert_close(mixed[0], whole[0])
    torch.testing.assert_close(mixed[2], whole[1])
    torch.testing.assert_close(mixed[1], project(model, images, "fc1", Units.of([1], [17]))[0])


def _tiny(weight: list[list[float]], bias: float, pool_stride: int) -> nn.Sequential:
    conv = nn.Conv2d(1, 1, 2)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(weight).view(1, 1, 2, 2))
        conv.bias.fill_(bias)
    return nn.Sequential(conv, nn.ReLU(), nn.MaxPool2d(2, stride=pool_stride)).eval()


def test_hand_computed_conv_relu_maxpool() -> None:
    model = _tiny([[1, -1], [0, 2]], bias=-1.0, pool_stride=1)
    x = torch.tensor(
        [[1, 2, 0, 1], [0, 1, 3, 0], [2, 0, 1, 1], [1, 1, 0, 2]], dtype=torch.float32
    ).view(1, 1, 4, 4)
    # forward by hand: conv (+bias -1) = [[0,7,-2],[-2,-1,4],[3,-2,3]]; relu; 2x2/1 max-pool
    # = [[7,7],[3,4]] with switches (0,1),(0,1),(2,0),(1,2).
    out = model(x)
    torch.testing.assert_close(out[0, 0], torch.tensor([[7.0, 7.0], [3.0, 4.0]]))
    got = project(model, x, "2", Units.of([0, 0, 0], [0, 0, 0], [1, 0, 0], [1, 0, 1]))
    # unit (1,1) = 4 -> unpool to (1,2) -> rectify -> transposed filter: 4*w at rows 1-2, cols 2-3
    want_11 = torch.zeros(4, 4)
    want_11[1, 2], want_11[1, 3], want_11[2, 2], want_11[2, 3] = 4, -4, 0, 8
    # units (0,0) and (0,1) share switch (0,1), value 7
    want_00 = torch.zeros(4, 4)
    want_00[0, 1], want_00[0, 2], want_00[1, 1], want_00[1, 2] = 7, -7, 0, 14
    torch.testing.assert_close(got[0, 0], want_11)
    torch.testing.assert_close(got[1, 0], want_00)
    torch.testing.assert_close(got[2, 0], want_00)


def test_hand_computed_rectifies_signal_not_forward_mask() -> None:
    c1, c2 = nn.Conv2d(1, 1, 1, bias=False), nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        c1.weight.fill_(-1.0)
        c2.weight.fill_(1.0)
    model = nn.Sequential(c1, nn.ReLU(), c2).eval()
    x = torch.tensor([1.0, -2.0]).view(1, 1, 1, 2)
    # forward: conv1 = [-1, 2]; relu = [0, 2]; conv2 = [0, 2]
    got = project(model, x, "2", Units.of([0, 0], [0, 0], [0, 0], [0, 1]), keep_value=False)
    # unit 0 (seed 1): down conv2 -> 1; rectify -> 1 (the forward mask was 0!); conv1^T -> -1
    torch.testing.assert_close(got[0].view(2), torch.tensor([-1.0, 0.0]))
    # unit 1 (seed 1): 1 -> 1 -> -1
    torch.testing.assert_close(got[1].view(2), torch.tensor([0.0, -1.0]))
    # with a negative signal the rectifier blocks it, where plain backprop would pass it
    with torch.no_grad():
        c2.weight.fill_(-1.0)
    got = project(model, x, "2", Units.of([0], [0], [0], [1]), keep_value=False)
    torch.testing.assert_close(got[0].view(2), torch.tensor([0.0, 0.0]))


def test_hand_computed_avgpool_spreads_evenly_and_bn_scales() -> None:
    bn = nn.BatchNorm2d(1)
    with torch.no_grad():
        bn.running_mean.fill_(5.0)
        bn.running_var.fill_(3.0)
        bn.weight.fill_(4.0)
        bn.bias.fill_(-1.0)
    bn.eps = 1.0  # scale = 4 / sqrt(3 + 1) = 2
    model = nn.Sequential(nn.AvgPool2d(2), bn).eval()
    x = torch.tensor([[1.0, 3.0], [5.0, 7.0]]).view(1, 1, 2, 2)
    # forward: avg = 4; bn = (4 - 5) / 2 * 4 - 1 = -3. Down: -3 * 2 = -6, spread: -1.5 each.
    got = project(model, x, "1", Units.of([0], [0], [0], [0]))
    torch.testing.assert_close(got[0, 0], torch.full((2, 2), -1.5))


def test_bad_units_raise() -> None:
    model, shape = make_net("lenet5")
    images = torch.zeros((2, *shape), dtype=torch.float64)
    with pytest.raises(ConvscopeError, match="channel out of range"):
        project(model, images, "conv2", Units.of([0], [64], [0], [0]))
    with pytest.raises(ConvscopeError, match="image index"):
        project(model, images, "conv2", Units.of([2], [0], [0], [0]))
    with pytest.raises(ConvscopeError, match="layer 'conv9'"):
        project(model, images, "conv9", Units.of([0], [0], [0], [0]))
