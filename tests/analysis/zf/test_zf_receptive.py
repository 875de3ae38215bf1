"""Receptive fields from the layers against a brute-force gradient check."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from zf_nets import ZFNet, make_net

from convscope.analysis.zf.graph import trace_chain
from convscope.analysis.zf.receptive import extract_patches, receptive_fields

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same.:UserWarning")


def _positive(model: nn.Module) -> nn.Module:
    """All weights positive, biases zero: every ReLU passes a positive input unchanged."""
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


def _grad_support(chain, x: torch.Tensor, i: int, c: int, y: int, xx: int) -> torch.Tensor:
    """Input pixels with a nonzero gradient of unit (c, y, x) at layer i: ``(H, W)`` bool."""
    x = x.clone().requires_grad_(True)
    act, _ = chain.run(x, taps=[i], to_end=False)
    (g,) = torch.autograd.grad(act[i][0, c, y, xx], x)
    return g[0].abs().sum(0) > 0


def _box_mask(box: tuple[int, int, int, int], hw: tuple[int, int]) -> torch.Tensor:
    m = torch.zeros(hw, dtype=torch.bool)
    m[box[0] : box[1], box[2] : box[3]] = True
    return m


def test_lenet5_geometry_by_hand() -> None:
    rfs = receptive_fields(trace_chain(make_net("lenet5")[0]))
    # conv1 5x5 pad 2 -> pool 2 -> conv2 5x5 pad 2 (jump 2): 5 + 4*2 = 14 -> pool 2: 16
    assert [r.size[0] for r in rfs[:6]] == [5, 5, 6, 14, 14, 16]
    assert [r.jump[0] for r in rfs[:6]] == [1, 1, 2, 2, 2, 4]
    assert [r.start[0] for r in rfs[:6]] == [-2, -2, -2, -6, -6, -6]
    assert rfs[6].full and rfs[-1].full
    assert rfs[4].box(0, 0, (28, 28)) == (0, 8, 0, 8)
    assert rfs[4].box(13, 5, (28, 28)) == (20, 28, 4, 18)


def test_box_equals_gradient_support_with_avg_pooling() -> None:
    """Positive weights, positive input, avg-pooling: the support is exactly the box."""
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(2, 2, 5, stride=2, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(3, stride=1),
        nn.Conv2d(2, 2, 2),
    )
    model = _positive(model)
    chain = trace_chain(model)
    rfs = receptive_fields(chain)
    x = torch.rand((1, 1, 24, 24), dtype=torch.float64) + 0.1
    for i in (0, 2, 3, 5, 6):
        h, w = chain.record(x, upto=i).outputs[i].shape[2:]
        for y, xx in [(0, 0), (h - 1, w - 1), (h // 2, w // 3), (0, w - 1)]:
            support = _grad_support(chain, x, i, 1, y, xx)
            box = rfs[i].box(y, xx, (24, 24))
            assert torch.equal(support, _box_mask(box, (24, 24))), (i, y, xx, box)


def test_support_within_box_and_corners_reached_with_max_pooling() -> None:
    """Max-pooling routes to one input per window: the support lies in the box for random
    inputs; a bright pixel at each corner of the (clipped) box wins the pools and is reached,
    while a bright pixel just outside the box still gets no gradient."""
    model = _positive(ZFNet())
    chain = trace_chain(model)
    rfs = receptive_fields(chain)
    gen = torch.Generator().manual_seed(0)
    for layer, units in [("relu3", [(3, 3), (0, 6), (6, 0)]), ("relu2", [(2, 4), (6, 6)])]:
        i = chain.index(layer)
        for y, xx in units:
            box = rfs[i].box(y, xx, (28, 28))
            mask = _box_mask(box, (28, 28))
            for _ in range(10):
                x = torch.rand((1, 1, 28, 28), generator=gen, dtype=torch.float64) + 0.1
                s = _grad_support(chain, x, i, 0, y, xx)
                assert s.any() and not (s & ~mask).any(), (layer, y, xx, box)
            corners = [(cy, cx) for cy in (box[0], box[1] - 1) for cx in (box[2], box[3] - 1)]
            outside = [(box[0] - 1, box[2]), (box[1], box[3] - 1), (box[0], box[2] - 1)]
            outside += [(box[1] - 1, box[3])]
            for py, px in corners + outside:
                if not (0 <= py < 28 and 0 <= px < 28):
                    continue
                x = torch.rand((1, 1, 28, 28), generator=gen, dtype=torch.float64) + 0.1
                x[0, 0, py, px] = 100.0
                s = _grad_support(chain, x, i, 0, y, xx)
                assert bool(s[py, px]) == bool(mask[py, px]), (layer, y, xx, box, py, px)
                assert not (s & ~mask).any()


def test_extract_patches_pads_outside_the_image() -> None:
    rfs = receptive_fields(trace_chain(make_net("lenet5")[0]))
    images = torch.arange(2 * 28 * 28, dtype=torch.float32).view(2, 1, 28, 28)
    p = extract_patches(images, rfs[4], [0, 7], [0, 7], fill=-1.0)
    assert p.shape == (2, 1, 14, 14)
    assert (p[0, 0, :6, :] == -1).all() and (p[0, 0, :, :6] == -1).all()
    torch.testing.assert_close(p[0, 0, 6:, 6:], images[0, 0, :8, :8])
    torch.testing.assert_close(p[1, 0], images[1, 0, 8:22, 8:22])
