"""Occlusion maps (Zeiler & Fergus 2014, Fig. 7) against a loop over one position at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from zf_nets import make_net

from convscope.analysis.zf.occlusion import (
    mean_fill,
    occluder_positions,
    occlusion_maps,
    occlusion_summary,
)
from convscope.data.base import Normalize
from convscope.errors import ConvscopeError


def test_positions_cover_the_last_square() -> None:
    assert occluder_positions(28, 8, 2).tolist() == list(range(0, 21, 2))
    assert occluder_positions(28, 8, 3).tolist() == [0, 3, 6, 9, 12, 15, 18, 20]
    assert occluder_positions(4, 4, 1).tolist() == [0]
    with pytest.raises(ConvscopeError, match="size"):
        occluder_positions(28, 29, 1)


def test_mean_fill_in_normalised_space() -> None:
    assert mean_fill([0.4], None) == [0.4]
    assert mean_fill([0.4, 0.5], Normalize([0.2, 0.5], [0.1, 0.25])) == pytest.approx([2.0, 0.0])


@pytest.mark.parametrize("net", ["lenet5", "small_bn_cnn"])
def test_occlusion_equals_one_position_at_a_time(net: str) -> None:
    model, shape = make_net(net, seed=9)
    c, h, w = shape
    gen = torch.Generator().manual_seed(10)
    n_img = 2 if net == "lenet5" else 1  # float64 convs on 3x32x32 are slow on CPU
    images = torch.randn((n_img, *shape), generator=gen, dtype=torch.float64)
    labels = [3, 7][:n_img]
    fill = [0.25 * (i + 1) for i in range(c)]
    size, stride = 7, 5
    got = occlusion_maps(
        model, images, labels, "conv2", size=size, stride=stride, fill=fill, batch_size=9
    )  # 37 rows per image (36 squares + the clean image) > 9: batches within an image
    big = occlusion_maps(
        model, images, labels, "conv2", size=size, stride=stride, fill=fill, batch_size=80
    )  # two whole images per batch
    for name, v in got.arrays().items():
        np.testing.assert_allclose(v, big.arrays()[name], rtol=1e-12, err_msg=name)
    module = dict(model.named_modules())["relu2"]
    store = {}
    handle = module.register_forward_hook(lambda m, i, o: store.__setitem__("a", o.detach()))
    ys = list(range(0, h - size + 1, stride))
    ys += [h - size] if ys[-1] != h - size else []
    try:
        torch.set_grad_enabled(False)
        for n in range(n_img):
            clean = images[n : n + 1]
            logits = model(clean)
            best = int(store["a"][0].amax(dim=(1, 2)).argmax())
            assert int(got.map_index[n]) == best
            assert got.clean_activation[n] == pytest.approx(float(store["a"][0, best].sum()))
            p0 = torch.softmax(logits, 1)[0]
            assert got.clean_prob_true[n] == pytest.approx(float(p0[labels[n]]))
            for i, y0 in enumerate(ys):
                for j, x0 in enumerate(ys):
                    x = clean.clone()
                    for ch in range(c):
                        x[0, ch, y0 : y0 + size, x0 : x0 + size] = fill[ch]
                    p = torch.softmax(model(x), 1)[0]
                    act = float(store["a"][0, best].sum())
                    assert float(got.activation[n, i, j]) == pytest.approx(act, rel=1e-9)
                    assert float(got.prob_true[n, i, j]) == pytest.approx(float(p[labels[n]]))
                    assert int(got.top_class[n, i, j]) == int(p.argmax())
                    assert float(got.top_prob[n, i, j]) == pytest.approx(float(p.max()))
    finally:
        torch.set_grad_enabled(True)
        handle.remove()
    assert got.ys.tolist() == ys and got.xs.tolist() == ys
    s = occlusion_summary(got, (h, w), [str(i) for i in range(10)])
    assert "observation" in s and s["images"] == n_img


def test_occlusion_summary_reads_the_numbers() -> None:
    """Centre-sensitive vs border-sensitive synthetic results give opposite observations."""
    model, _ = make_net("lenet5", seed=0)
    images = torch.zeros((1, 1, 28, 28), dtype=torch.float64)
    occ = occlusion_maps(model, images, [1], "conv2")
    ny, nx = occ.prob_true.shape[1:]
    centre = torch.zeros(ny, nx, dtype=torch.bool)
    centre[2:9, 2:9] = True  # square centres 8..20 px: inside the central half (|c - 14| < 7)
    occ.clean_prob_true = torch.tensor([0.9], dtype=torch.float64)
    occ.prob_true = torch.where(centre, 0.2, 0.8).double()[None]
    s = occlusion_summary(occ, (28, 28), [str(i) for i in range(10)])
    assert s["mean_prob_drop_centre"] == pytest.approx(0.7)
    assert s["mean_prob_drop_border"] == pytest.approx(0.1)
    assert "0.700 on average, more than" in s["observation"]
    occ.prob_true = torch.where(centre, 0.8, 0.2).double()[None]
    s = occlusion_summary(occ, (28, 28), [str(i) for i in range(10)])
    assert "less than occluding the border (0.700)" in s["observation"]
