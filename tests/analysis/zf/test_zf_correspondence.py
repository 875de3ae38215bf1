"""Correspondence measure (Zeiler & Fergus 2014, Table 1) against a brute-force loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from zf_nets import make_net

from convscope.errors import ConvscopeError
from convscope.studies.correspondence.compute import (
    correspondence,
    correspondence_summary,
    default_regions,
    sign_hamming,
)


def test_default_regions_28() -> None:
    r = default_regions((28, 28))
    assert r == {
        "centre": (10, 10, 8, 8),
        "top": (2, 10, 8, 8),
        "bottom": (18, 10, 8, 8),
        "left": (10, 2, 8, 8),
        "right": (10, 18, 8, 8),
    }


def test_sign_hamming_by_hand() -> None:
    s = torch.tensor([[[1, 0, -1, 1], [1, 0, 1, 1], [-1, -1, -1, 0]]], dtype=torch.int8)
    # pairs (0,1): 1 of 4 differ; (0,2): 3 of 4 (sign 0 vs -1 differs); (1,2): 4 of 4
    torch.testing.assert_close(
        sign_hamming(s), torch.tensor([[0.25, 0.75, 1.0]], dtype=torch.float64)
    )


def test_correspondence_equals_brute_force() -> None:
    model, shape = make_net("lenet5", seed=12)
    gen = torch.Generator().manual_seed(13)
    images = torch.randn((11, *shape), generator=gen, dtype=torch.float64)  # 2 groups of 5 (+1)
    regions = {"a": (0, 0, 6, 6), "b": (20, 15, 6, 6)}
    got = correspondence(model, images, layers=["conv1", "fc1"], regions=regions, fill=-0.5, seed=3)
    assert got.layers == ["relu1", "relu3"] and got.regions == ["a", "b", "random"]
    assert got.groups == 2 and got.random_boxes.shape == (10, 4)
    mods = dict(model.named_modules())
    store = {}
    hs = [
        mods[n].register_forward_hook(lambda m, i, o, n=n: store.__setitem__(n, o.detach()))
        for n in ("relu1", "relu3")
    ]

    def feats(x: torch.Tensor) -> dict[str, np.ndarray]:
        model(x[None])
        return {k: v.flatten().numpy() for k, v in store.items()}

    try:
        with torch.no_grad():
            for r, name in enumerate(got.regions):
                eps = []
                for i in range(10):
                    y0, x0, h, w = (
                        regions[name] if name != "random" else got.random_boxes[i].tolist()
                    )
                    occ = images[i].clone()
                    occ[:, y0 : y0 + h, x0 : x0 + w] = -0.5
                    f0, f1 = feats(images[i]), feats(occ)
                    eps.append({k: np.sign(f0[k] - f1[k]) for k in f0})
                for li, layer in enumerate(got.layers):
                    dists = []
                    for g in range(2):
                        for i in range(5):
                            for j in range(i + 1, 5):
                                a, b = eps[5 * g + i][layer], eps[5 * g + j][layer]
                                dists.append(float(np.mean(a != b)))
                    assert float(got.mean[r, li]) == pytest.approx(np.mean(dists))
                    assert float(got.std[r, li]) == pytest.approx(np.std(dists))
                    half = [np.mean(dists[:10]), np.mean(dists[10:])]
                    assert float(got.std_groups[r, li]) == pytest.approx(np.std(half))
    finally:
        for h in hs:
            h.remove()
    for box in got.random_boxes.tolist():
        assert box[2:] == [6, 6] and 0 <= box[0] <= 22 and 0 <= box[1] <= 22
    s = correspondence_summary(got, "cat")
    assert s["table"]["rows"] == ["a", "b", "random"] and "±" in s["table"]["text"][0][0]
    fixed = got.mean[:2].mean(0)
    want = [ly for ly, f, r in zip(got.layers, fixed, got.mean[2]) if f < r]
    assert s["layers_more_consistent_than_random"] == want


def test_correspondence_errors() -> None:
    model, shape = make_net("lenet5")
    images = torch.zeros((4, *shape), dtype=torch.float64)
    with pytest.raises(ConvscopeError, match="at least group_size"):
        correspondence(model, images)
    with pytest.raises(ConvscopeError, match="region 'x'"):
        correspondence(model, images, group_size=2, regions={"x": (25, 0, 8, 8)})


def test_the_class_is_chosen_by_name_and_the_choice_is_explained() -> None:
    from convscope.studies.correspondence.compute import choose_class

    cifar = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog"]
    assert choose_class(cifar, None)[0] == "dog"
    assert "paper" in choose_class(cifar, None)[1]
    name, why = choose_class([str(i) for i in range(10)], None)
    assert name == "0" and "no class is named 'dog'" in why
    assert choose_class(["5 (dog)", "dog (5)"], None)[0] == "dog (5)"
    assert choose_class(["a", "b"], "1", raw_names=["0", "1"]) == ("b", "class 'b' as requested")
    with pytest.raises(ConvscopeError, match="correspondence class 'x'"):
        choose_class(["a"], "x")
