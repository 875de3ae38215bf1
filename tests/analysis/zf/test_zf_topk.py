"""Top-k per feature map (Zeiler & Fergus 2014, Fig. 2) against a brute-force search."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from zf_nets import make_net

from convscope.analysis.zf.deconvnet import Units, project
from convscope.analysis.zf.topk import topk_per_map
from convscope.errors import ConvscopeError


def _brute_force(model, images, module_name: str, k: int):
    """Loop over every (map, image) with a forward hook on the module: no chain code."""
    module = dict(model.named_modules())[module_name]
    store = {}
    handle = module.register_forward_hook(lambda m, i, o: store.__setitem__("a", o.detach()))
    try:
        acts = []
        for n in range(images.shape[0]):  # one image at a time
            model(images[n : n + 1])
            acts.append(store["a"][0].clone())
    finally:
        handle.remove()
    # ties: the documented order, a fixed random permutation of the images (seed 0)
    perm = torch.randperm(len(acts), generator=torch.Generator().manual_seed(0)).tolist()
    rank = {n: r for r, n in enumerate(perm)}
    out = {}
    for m in range(acts[0].shape[0]):
        per_image = []
        for n, a in enumerate(acts):
            fm = a[m].numpy().reshape(-1)
            p = int(np.argmax(fm))  # first maximum
            per_image.append((-float(fm[p]), rank[n], n, p))
        per_image.sort()
        out[m] = [(n, -v, p) for v, _, n, p in per_image[:k]]
    return out, acts[0].shape


@pytest.mark.parametrize(("layer", "module"), [("conv2", "relu2"), ("conv1", "relu1")])
def test_topk_equals_brute_force(layer: str, module: str) -> None:
    model, shape = make_net("lenet5", seed=4)
    with torch.no_grad():  # a dead map: every activation 0, so every image ties
        model.conv2.bias[3] = -1e3
        model.conv1.bias[3] = -1e3
    gen = torch.Generator().manual_seed(5)
    images = torch.rand((30, *shape), generator=gen, dtype=torch.float64)
    got = topk_per_map(model, images, layer, k=9, batch_size=7, with_projections=False)
    want, act_shape = _brute_force(model, images, module, 9)
    w = act_shape[2]
    assert got.layer == module
    assert got.image_index.shape == (act_shape[0], 9)
    for m in range(act_shape[0]):
        assert got.image_index[m].tolist() == [n for n, _, _ in want[m]], m
        torch.testing.assert_close(
            got.values[m], torch.tensor([v for _, v, _ in want[m]], dtype=torch.float64)
        )
        assert (got.y[m] * w + got.x[m]).tolist() == [p for _, _, p in want[m]]
        assert len(set(got.image_index[m].tolist())) == 9
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(0))
    assert got.image_index[3].tolist() == perm[:9].tolist()  # the dead map's ties
    assert got.image_index[3].tolist() != list(range(9))


def test_topk_projections_and_patches() -> None:
    model, shape = make_net("lenet5", seed=6)
    gen = torch.Generator().manual_seed(7)
    raw = torch.randint(0, 256, (25, *shape), generator=gen, dtype=torch.uint8)

    def tf(x: torch.Tensor) -> torch.Tensor:
        return (x.double() / 255.0 - 0.5) / 0.25

    got = topk_per_map(model, raw, "conv2", k=4, maps=[0, 7, 63], transform=tf, chunk_size=5)
    assert got.projections.shape == (3, 4, 1, 28, 28)
    assert got.patches.shape == (3, 4, 1, 14, 14) and got.patches.dtype == torch.uint8
    for r, m in enumerate([0, 7, 63]):
        for j in range(4):
            n, y, x = int(got.image_index[r, j]), int(got.y[r, j]), int(got.x[r, j])
            want = project(model, tf(raw), "relu2", Units.of([n], [m], [y], [x]))[0]
            torch.testing.assert_close(got.projections[r, j], want.float())
            y0, y1, x0, x1 = got.boxes[r, j].tolist()
            assert (y0, y1) == (max(0, 2 * y - 6), min(28, 2 * y + 8))
            oy, ox = 2 * y - 6, 2 * x - 6  # unclipped top-left
            patch = got.patches[r, j, 0, y0 - oy : y1 - oy, x0 - ox : x1 - ox]
            assert torch.equal(patch, raw[n, 0, y0:y1, x0:x1])
            pp = got.projection_patches[r, j, 0, y0 - oy : y1 - oy, x0 - ox : x1 - ox]
            torch.testing.assert_close(pp, got.projections[r, j, 0, y0:y1, x0:x1])
            # the projection lives inside the receptive field
            outside = got.projections[r, j, 0].clone()
            outside[y0:y1, x0:x1] = 0
            assert outside.abs().max() == 0


def test_topk_fully_connected_and_errors() -> None:
    model, shape = make_net("lenet5", seed=8)
    images = torch.randn((12, *shape), dtype=torch.float64)
    got = topk_per_map(model, images, "fc1", k=3, maps=[1, 2])
    assert got.layer == "relu3" and got.patches.shape == (2, 3, 1, 28, 28)
    with pytest.raises(ConvscopeError, match="k: expected 1..12"):
        topk_per_map(model, images, "fc1", k=13)
    with pytest.raises(ConvscopeError, match="maps"):
        topk_per_map(model, images, "conv1", maps=[32])


def test_ties_carry_no_class_information_and_partly_dead_maps_leave_purity() -> None:
    """A test split sorted by class (10 per class) and a map positive on 3 images only: its
    tied zeros must not go to images 0..5 (all class 0), and it must not count in purity."""
    from convscope.analysis.zf.topk import class_purity, rank_images

    labels = torch.arange(10).repeat_interleave(10)  # sorted by class, like the test split
    values = torch.zeros((100, 2))
    values[[55, 71, 90], 0] = torch.tensor([3.0, 2.0, 1.0])  # map 0: partly dead
    values[:, 1] = torch.rand(100, generator=torch.Generator().manual_seed(0)) + 0.1
    top = rank_images(values, 9)
    assert top[0, :3].tolist() == [55, 71, 90]
    assert top[0, 3:].tolist() != list(range(6))  # ties: not the lowest image indices
    assert len(set(labels[top[0, 3:]].tolist())) > 1
    purity, eligible = class_purity(values[top, torch.arange(2)[:, None]], top, labels)
    assert eligible.tolist() == [False, True]
    assert torch.isnan(purity[0]) and 0 < float(purity[1]) <= 1
    want = torch.bincount(labels[top[1]]).max() / 9
    assert float(purity[1]) == pytest.approx(float(want))


def test_one_pass_gives_every_layers_maxima_and_the_predictions() -> None:
    """``max_per_map_of_layers(..., predictions=)``: the maxima of one layer at a time, and
    the plain model's predicted classes (module forward, no chain code), batch by batch."""
    from convscope.analysis.zf.graph import as_chain
    from convscope.analysis.zf.topk import max_per_map, max_per_map_of_layers

    model, shape = make_net("lenet5", seed=6)
    images = torch.rand((23, *shape), generator=torch.Generator().manual_seed(7)).double()
    chain = as_chain(model)
    preds: list[torch.Tensor] = []
    both = max_per_map_of_layers(chain, images, ["conv1", "conv2"], batch_size=5, predictions=preds)
    for name in ("conv1", "conv2"):
        v, p, s = max_per_map(model, images, name, batch_size=5)
        got = both[chain.resolve(name)]
        assert torch.equal(got[0], v) and torch.equal(got[1], p) and got[2] == s
    with torch.no_grad():
        want = model.eval()(images).argmax(1)
    assert torch.equal(torch.cat(preds), want)


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(1, 7), st.integers(1, 7)),
    channels_last=st.booleans(),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.bfloat16]),
    ties=st.booleans(),
    nan=st.booleans(),
)
def test_map_maxima_is_the_first_maximum_in_row_major_order(
    seed: int,
    shape: tuple[int, int, int, int],
    channels_last: bool,
    dtype: torch.dtype,
    ties: bool,
    nan: bool,
) -> None:
    """Each map's maximum and the row-major index of its first maximum, against a per-map
    Python loop (independent oracle), in either layout, with ReLU's zero ties, rounded ties and
    a NaN (whose first occurrence is the maximum, as ``torch.max`` reports it)."""
    from convscope.analysis.zf.topk import _map_maxima

    g = torch.Generator().manual_seed(seed)
    act = torch.relu(torch.randn(shape, generator=g) - 0.5)
    if ties:
        act = torch.round(act)
    if nan:
        act.view(-1)[torch.randint(act.numel(), (2,), generator=g)] = float("nan")
    act = act.to(dtype)
    if channels_last:
        act = act.contiguous(memory_format=torch.channels_last)
    v, p = _map_maxima(act)
    for i in range(shape[0]):
        for m in range(shape[1]):
            flat = act[i, m].flatten().float().tolist()
            nans = [j for j, x in enumerate(flat) if x != x]
            want = nans[0] if nans else max(range(len(flat)), key=lambda j: (flat[j], -j))
            assert int(p[i, m]) == want, (i, m)
            got = float(v[i, m])
            assert got == flat[want] or (nans and got != got)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 40),
    m=st.integers(1, 5),
    ties=st.sampled_from([None, 1.0, 0.25]),
    signed_zero=st.booleans(),
)
def test_rank_images_k1_is_the_stable_sorts_first(
    seed: int, n: int, m: int, ties: float | None, signed_zero: bool
) -> None:
    """k = 1 (feature evolution) takes an argmax instead of sorting: the same image as the
    first of the stable descending sort over the fixed permutation, ties and -0.0 included."""
    from convscope.analysis.zf.topk import TIE_SEED, rank_images

    g = torch.Generator().manual_seed(seed)
    values = torch.relu(torch.randn(n, m, generator=g))
    if ties is not None:
        values = torch.round(values / ties) * ties
    if signed_zero:
        values[values == 0] = -0.0
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(TIE_SEED))
    order = torch.sort(values[perm].T, dim=1, descending=True, stable=True).indices
    assert torch.equal(rank_images(values, 1), perm[order[:, :1]])
