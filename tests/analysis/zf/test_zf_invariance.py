"""Invariance curves (Zeiler & Fergus 2014, Fig. 5): transformations and distances."""

from __future__ import annotations

import pytest
import torch
from zf_nets import make_net

from convscope.studies.invariance.compute import (
    invariance_curves,
    invariance_summary,
    transform_images,
)


def _img(c: int = 2, h: int = 12, w: int = 12) -> torch.Tensor:
    return torch.randn(
        (3, c, h, w), generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )


def test_identity_transformations() -> None:
    x = _img()
    for kind, v in [("translate_y", 0.0), ("scale", 1.0), ("rotate", 0.0)]:
        torch.testing.assert_close(transform_images(x, kind, v, fill=[0.3, -1.0]), x)


@pytest.mark.parametrize("t", [3, -2])
def test_integer_translation_shifts_rows_and_fills(t: int) -> None:
    x = _img()
    got = transform_images(x, "translate_y", float(t), fill=[0.3, -1.0])
    want = torch.empty_like(x)
    want[:, 0], want[:, 1] = 0.3, -1.0
    if t > 0:
        want[:, :, t:] = x[:, :, :-t]
    else:
        want[:, :, :t] = x[:, :, -t:]
    torch.testing.assert_close(got, want)


def test_rotation_by_90_is_rot90_counter_clockwise() -> None:
    x = _img()
    torch.testing.assert_close(transform_images(x, "rotate", 90.0), torch.rot90(x, 1, (2, 3)))
    torch.testing.assert_close(transform_images(x, "rotate", -90.0), torch.rot90(x, -1, (2, 3)))


def test_scaling_shrinks_into_the_fill() -> None:
    x = torch.full((1, 1, 12, 12), 2.0, dtype=torch.float64)
    got = transform_images(x, "scale", 0.5, fill=-1.0)
    assert got[0, 0, 0, 0] == -1.0 and got[0, 0, 11, 11] == -1.0
    torch.testing.assert_close(got[0, 0, 4:8, 4:8], torch.full((4, 4), 2.0, dtype=torch.float64))
    big = transform_images(x, "scale", 1.5, fill=-1.0)
    torch.testing.assert_close(big, x)  # magnifying a constant image keeps it constant


def test_curves_equal_per_image_hooks() -> None:
    model, shape = make_net("lenet5", seed=11)
    images = torch.randn((3, *shape), dtype=torch.float64)
    labels = [0, 4, 9]
    params = {"translate_y": [-3.0, 0.0, 5.0], "scale": [0.9, 1.0, 1.1], "rotate": [-45.0, 30.0]}
    got = invariance_curves(model, images, labels, params=params, fill=0.5)
    assert (got.low_layer, got.high_layer) == ("relu1", "relu3")
    mods = dict(model.named_modules())
    store = {}
    hs = [
        mods[n].register_forward_hook(lambda m, i, o, n=n: store.__setitem__(n, o.detach()))
        for n in ("relu1", "relu3")
    ]
    try:
        with torch.no_grad():
            for n in range(3):
                model(images[n : n + 1])
                lo0, hi0 = store["relu1"].flatten(), store["relu3"].flatten()
                for kind, vals in params.items():
                    for j, v in enumerate(vals):
                        xt = transform_images(images[n : n + 1], kind, v, fill=0.5)
                        p = torch.softmax(model(xt), 1)[0, labels[n]]
                        lo, hi = store["relu1"].flatten(), store["relu3"].flatten()
                        c = got.curves[kind]
                        assert float(c["dist_low"][n, j]) == pytest.approx(float((lo - lo0).norm()))
                        assert float(c["dist_high"][n, j]) == pytest.approx(
                            float((hi - hi0).norm())
                        )
                        assert float(c["rel_high"][n, j]) == pytest.approx(
                            float((hi - hi0).norm() / hi0.norm())
                        )
                        assert float(c["prob_true"][n, j]) == pytest.approx(float(p))
    finally:
        for h in hs:
            h.remove()
    assert float(got.curves["scale"]["dist_low"][:, 1].abs().max()) < 1e-9
    s = invariance_summary(got)
    assert s["observation_uses"].startswith("small_rel_low")
    rows = s["per_transformation"]
    # smallest on each side of the identity: -3 and 5 are not equally far; -3 is the smallest
    assert rows["translate_y"]["small_params"] == [-3.0]
    assert rows["translate_y"]["large_params"] == [5.0]
    assert rows["rotate"]["small_params"] == [30.0]
    c = got.curves["scale"]
    assert rows["scale"]["small_params"] == pytest.approx([0.9, 1.1])  # equally far
    assert rows["scale"]["small_rel_low"] == pytest.approx(float(c["rel_low"][:, [0, 2]].mean()))
    assert rows["scale"]["mean_rel_high"] == pytest.approx(float(c["rel_high"][:, [0, 2]].mean()))
    want = all(r["small_rel_high"] < r["small_rel_low"] for r in rows.values())
    assert ("less than the low one for every" in s["observation"]) == want
