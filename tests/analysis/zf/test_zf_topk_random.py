"""Top-k projections under randomised weights (issue 21): the plumbing against the identity
"randomisation", the projections against the autograd deconvnet oracle on the random model,
the similarity on hand-made patches, and seeds."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from zf_nets import autograd_projections, make_net

from convscope.analysis.sanity.verdicts import RHO_THRESHOLD, RHO_WHY
from convscope.analysis.zf.topk import topk_per_map
from convscope.analysis.zf.topk_random import (
    compare,
    layer_summary,
    project_same_units,
    random_topk,
    random_weights_chain,
    randomisation_seed,
    spearman_rows,
    ssim_window,
)


def _setup(layer: str = "conv2"):
    model, shape = make_net("lenet5", seed=4)
    images = torch.rand(
        (24, *shape), generator=torch.Generator().manual_seed(5), dtype=torch.float64
    )
    t = topk_per_map(model, images, layer, k=4, chunk_size=7)
    return model, images, t


@pytest.mark.parametrize("layer", ["conv1", "conv2", "fc2"])
def test_identity_randomisation_gives_the_trained_projections(layer: str) -> None:
    """With the trained weights as the "random" ones, every projection and patch is the
    trained one, every live entry scores rho 1 and SSIM 1, and the verdict says the
    projections do not depend on the weights."""
    model, images, t = _setup(layer)
    same = copy.deepcopy(model)
    r = random_topk(same, images, t, chunk_size=5)
    torch.testing.assert_close(r.projections, t.projections.float())
    torch.testing.assert_close(r.projection_patches, t.projection_patches.float())
    live = (t.values > 0).numpy()
    assert live.any()
    np.testing.assert_allclose(r.scores["spearman_abs"][live], 1.0, atol=1e-9)
    np.testing.assert_allclose(r.scores["spearman"][live], 1.0, atol=1e-9)
    if r.ssim_window is not None:
        np.testing.assert_allclose(r.scores["ssim"][live], 1.0, atol=1e-6)
    assert np.isnan(r.scores["spearman_abs"][~live]).all()
    s = layer_summary(r)
    assert s["entries_compared"] == int(live.sum())
    v = s["verdict"]
    assert v["passes"] is False and v["words"] == "does not depend on the weights"
    assert v["threshold"] == RHO_THRESHOLD and v["why"] == RHO_WHY
    assert set(v) >= {"statistic", "value", "threshold", "why", "passes", "words"}


def test_random_projections_equal_the_autograd_oracle_on_the_random_model() -> None:
    """Projections through the re-initialised model, seeded with the trained values: where
    the random model's own activation there is positive, the oracle's projection (seeded with
    that activation) scaled by trained / random value (the projection is positively
    homogeneous in its seed)."""
    model, images, t = _setup("conv2")
    chain = random_weights_chain(model, seed=3)
    proj, _ = project_same_units(chain, images, t)
    rmodel = chain.model
    units = [
        (int(t.image_index[m, j]), int(t.maps[m]), int(t.y[m, j]), int(t.x[m, j]))
        for m in range(t.values.shape[0])
        for j in range(t.values.shape[1])
    ]
    with torch.no_grad():
        acts = rmodel.relu2(rmodel.conv2(rmodel.pool1(rmodel.relu1(rmodel.conv1(images)))))
    rand_vals = torch.tensor([float(acts[n, c, y, x]) for n, c, y, x in units])
    keep = [i for i, v in enumerate(rand_vals) if v > 0]
    assert len(keep) > 5
    want = autograd_projections(rmodel, images, "relu2", [units[i] for i in keep])
    scale = t.values.reshape(-1)[keep] / rand_vals[keep].double()
    got = proj.reshape(-1, *proj.shape[2:])[keep].double()
    torch.testing.assert_close(got, want * scale[:, None, None, None], rtol=1e-4, atol=1e-6)


def test_random_weights_differ_and_seeds_reproduce() -> None:
    model, images, t = _setup("conv2")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = random_topk(random_weights_chain(model, 0), images, t)
    b = random_topk(random_weights_chain(model, 0), images, t)
    c = random_topk(random_weights_chain(model, 1), images, t)
    for k, v in model.state_dict().items():  # the trained model is untouched
        assert torch.equal(v, before[k]), k
    assert torch.equal(a.projections, b.projections)
    for k in a.scores:
        np.testing.assert_array_equal(a.scores[k], b.scores[k])
    assert not torch.allclose(a.projections, c.projections)
    assert not torch.allclose(a.projections, t.projections.float(), atol=1e-3)
    live = (t.values > 0).numpy()
    assert np.nanmean(a.scores["spearman_abs"][live]) < 0.99


def test_compare_on_hand_made_patches() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn((2, 3, 1, 9, 9), generator=gen)
    values = torch.tensor([[1.0, 2.0, 0.0], [3.0, -1.0, 0.5]])
    b = a.clone()
    b[0, 1] = -a[0, 1]  # signs flipped: same |map|, signed rho -1
    b[1, 2] = torch.randn((1, 9, 9), generator=gen)
    s, win = compare(a, b, values)
    assert win == 7
    assert np.isnan(s["spearman_abs"][0, 2]) and np.isnan(s["ssim"][1, 1])
    assert s["spearman_abs"][0, 0] == pytest.approx(1.0)
    assert s["spearman"][0, 1] == pytest.approx(-1.0)
    assert s["spearman_abs"][0, 1] == pytest.approx(1.0)
    assert s["ssim"][0, 1] == pytest.approx(1.0)
    assert abs(s["spearman"][1, 2]) < 0.5  # independent noise
    with pytest.raises(Exception, match="do not match"):
        compare(a, b[:, :2], values)


@pytest.mark.parametrize(("hw", "want"), [((32, 32), 7), ((5, 5), 5), ((6, 9), 5), ((2, 8), None)])
def test_ssim_window(hw: tuple[int, int], want: int | None) -> None:
    assert ssim_window(hw) == want


@pytest.mark.parametrize("run_seed", [0, 1, 7])
def test_randomisation_seed_never_gives_back_the_initial_weights(run_seed: int) -> None:
    """The training loop builds the model after torch.manual_seed(run_seed): re-initialising
    after that same seed gives conv1 its initial weights back (the pitfall), the derived seed
    does not."""
    from convscope.analysis.sanity.randomise import fully_randomised
    from convscope.models import LeNet5

    torch.manual_seed(run_seed)
    init = LeNet5()
    trained = copy.deepcopy(init)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.01)  # "training" that moved every weight a little
    assert torch.equal(fully_randomised(trained, run_seed).conv1.weight, init.conv1.weight)
    s = randomisation_seed(run_seed)
    assert s != run_seed and s == randomisation_seed(run_seed)
    assert s != randomisation_seed(run_seed, 1)
    w = fully_randomised(trained, s).conv1.weight.detach().flatten()
    rho = torch.corrcoef(torch.stack([w, init.conv1.weight.detach().flatten()]))[0, 1]
    assert abs(float(rho)) < 0.3


def test_spearman_rows_equals_the_sanity_spearman() -> None:
    """The batched rank correlation against similarity.spearman (scipy's spearmanr), with ties,
    constant rows and sign flips."""
    from convscope.analysis.sanity.similarity import spearman

    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 5, 6))
    b = a + rng.normal(scale=rng.uniform(0.1, 3, size=(40, 1, 1)), size=a.shape)
    a[:5] = np.round(a[:5])  # ties
    b[5:8] = np.round(b[5:8] * 2) / 2
    b[8] = -a[8]
    a[9] = 3.0  # constant trained map: NaN
    b[10] = 0.0  # constant other map: 0
    got = spearman_rows(a, b)
    want = np.array([spearman(x, y) for x, y in zip(a, b)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert np.isnan(got[9]) and got[10] == 0.0 and got[8] == pytest.approx(-1.0)
