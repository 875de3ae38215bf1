"""The sanity checks against known answers (Adebayo et al. 2018) and against Quantus.

* a "method" that returns the input image, or an edge filter of it, fails both randomisation
  tests (its maps do not change at all);
* gradient saliency of a LeNet5 trained on the built-in digits passes parameter
  randomisation;
* the similarity scores equal Quantus's ``ModelParameterRandomisation`` (MPRT) on the same
  maps and similarity function, cascading and independent (Quantus: test-only oracle).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from convscope.analysis.sanity import verdicts as V
from convscope.analysis.sanity.methods import Setup, cam_layer, last_conv, make_methods
from convscope.analysis.sanity.randomise import randomisable_layers, randomised
from convscope.analysis.sanity.similarity import similarities
from convscope.config import from_flat
from convscope.models.lenet import LeNet5
from convscope.runs import RunDir
from convscope.studies.sanity.checks import (
    compare_models,
    deletion_insertion,
    parameter_randomisation,
)
from convscope.train.loop import train

N_IMAGES = 6


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A LeNet5 trained on the built-in digits (test accuracy ~0.95), and 6 test images."""
    out = tmp_path_factory.mktemp("sanity") / "run"
    cfg = from_flat(
        {
            "data": "digits",
            "model": "lenet5",
            "iterations": 80,
            "batch_size": 50,
            "eval_every": 80,
            "checkpoint_every": 80,
            "threads": 1,
            "device": "cpu",
        }
    )
    train(cfg, out)
    rd = RunDir(out)
    ds, norm = rd.load_data()
    x = norm(ds.test.images[:N_IMAGES])
    return rd.load_model(), x, ds.test.labels[:N_IMAGES]


def _input(model: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return x.detach().sum(1)


def _edges(model: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of the image: depends on the input only."""
    k = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    g = x.detach().sum(1, keepdim=True)
    gx = nn.functional.conv2d(g, k.view(1, 1, 3, 3), padding=1)
    gy = nn.functional.conv2d(g, k.t().reshape(1, 1, 3, 3), padding=1)
    return (gx**2 + gy**2).sqrt()[:, 0]


def test_randomisation_leaves_the_trained_model_alone_and_is_seeded() -> None:
    torch.manual_seed(0)
    model = LeNet5()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    names = randomisable_layers(model)
    assert names == ["conv1", "conv2", "fc1", "fc2"]
    casc = [
        (n, {k: v.clone() for k, v in m.state_dict().items()})
        for n, m in randomised(model, "cascading", 3)
    ]
    assert [n for n, _ in casc] == ["fc2", "fc1", "conv2", "conv1"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    # step 2 of the cascade: fc2 and fc1 random, the convs trained
    s = casc[1][1]
    assert not torch.equal(s["fc2.weight"], before["fc2.weight"])
    assert not torch.equal(s["fc1.weight"], before["fc1.weight"])
    assert torch.equal(s["conv2.weight"], before["conv2.weight"])
    indep = dict(
        (n, {k: v.clone() for k, v in m.state_dict().items()})
        for n, m in randomised(model, "independent", 3)
    )
    assert torch.equal(indep["conv1"]["fc2.weight"], before["fc2.weight"])
    assert torch.equal(indep["conv1"]["conv1.weight"], casc[3][1]["conv1.weight"])  # same seed
    again = dict(
        (n, m.state_dict()["conv1.weight"].clone()) for n, m in randomised(model, "independent", 3)
    )
    other = dict(
        (n, m.state_dict()["conv1.weight"].clone()) for n, m in randomised(model, "independent", 4)
    )
    assert torch.equal(again["conv1"], indep["conv1"]["conv1.weight"])
    assert not torch.equal(other["conv1"], again["conv1"])


@pytest.mark.parametrize("method", [_input, _edges], ids=["input", "edges"])
def test_a_map_of_the_image_alone_fails_both_randomisation_tests(trained, method) -> None:
    model, x, t = trained
    pr = parameter_randomisation(model, {"m": method}, x, t, seeds=[0, 1])
    stat = pr.after_full_cascade("m")  # (S, N)
    np.testing.assert_allclose(stat, 1.0)
    assert pr.statistic("m") == pytest.approx(1.0)
    assert not V.depends(pr.statistic("m"), "weights")["passes"]
    other = LeNet5()  # any other network: a "twin" that learned something else
    _, sims = compare_models(model, other, {"m": method}, x, t)
    np.testing.assert_allclose(sims["m"]["spearman_abs"], 1.0)
    assert not V.depends(float(sims["m"]["spearman_abs"].mean()), "labels")["passes"]


def test_gradient_saliency_of_a_trained_lenet5_passes_parameter_randomisation(trained) -> None:
    model, x, t = trained
    setup = Setup(last_conv(model), (0.0,), cam_layer(model, last_conv(model)))
    pr = parameter_randomisation(model, make_methods(["saliency"], setup), x, t, seeds=[0, 1])
    v = V.depends(pr.statistic("saliency"), "weights")
    assert v["passes"], v
    # and its maps do change from the top layer on (the cascade's first step is already < 1)
    assert pr.scores["saliency"]["cascading"]["spearman_abs"][:, 0].mean() < 0.9


def _quantus_scores(model, x, t, explain, order, seed, measure, hw):
    quantus = pytest.importorskip("quantus")
    from quantus.functions.normalise_func import normalise_by_max
    from quantus.functions.similarity_func import correlation_spearman, ssim

    def explain_func(model, inputs, targets, **kw):
        a = explain(model, torch.as_tensor(inputs), torch.as_tensor(targets))
        return a.numpy()[:, None].astype(np.float64)

    if measure == "ssim":

        def sim(a, b, batched=True, **kw):  # Quantus's ssim on the maps as (H, W) images;
            # it returns a list where MPRT expects an array
            return np.asarray(ssim(a.reshape(-1, *hw), b.reshape(-1, *hw), batched=True))

        kw = dict(
            abs=True,
            normalise=True,
            normalise_func=normalise_by_max,
            normalise_func_kwargs={"normalise_axes": (1, 2, 3)},
        )
    else:
        sim = correlation_spearman
        kw = dict(abs=measure == "spearman_abs", normalise=False)
    metric = quantus.ModelParameterRandomisation(
        similarity_func=sim,
        layer_order="top_down" if order == "cascading" else "independent",
        seed=seed - 1,  # Quantus seeds seed + 1 before each layer; we seed `seed`
        disable_warnings=True,
        display_progressbar=False,
        **kw,
    )
    return metric(
        model=model,
        x_batch=x.numpy(),
        y_batch=t.numpy(),
        a_batch=None,
        explain_func=explain_func,
        device="cpu",
        batch_size=64,
    )


@pytest.mark.parametrize("order", ["cascading", "independent"])
def test_graph_methods_traced_once_per_model_object_equal_fresh_traces(trained, order) -> None:
    """Deconvnet and occlusion trace the randomised model once per generator (its weights
    change in place) and must give what a fresh trace of every step gives."""
    model, x, target = trained
    setup = Setup(last_conv(model), (0.0,), cam_layer(model, last_conv(model)))
    shared = make_methods(["deconvnet", "occlusion"], setup)
    for _, rmodel in randomised(model, order, seed=3):
        fresh = make_methods(["deconvnet", "occlusion"], setup)  # a new trace each step
        for name in shared:
            got, want = shared[name](rmodel, x, target), fresh[name](rmodel, x, target)
            assert torch.equal(got, want), name


@pytest.mark.parametrize("order", ["cascading", "independent"])
def test_similarities_equal_quantus_model_parameter_randomisation(trained, order) -> None:
    model, x, t = trained
    setup = Setup(last_conv(model), (0.0,), cam_layer(model, last_conv(model)))
    methods = make_methods(["saliency"], setup)
    seed = 5
    pr = parameter_randomisation(model, methods, x, t, seeds=[seed], orders=[order])
    for measure in ("spearman_abs", "spearman", "ssim"):
        q = _quantus_scores(model, x, t, methods["saliency"], order, seed, measure, x.shape[2:])
        for li, layer in enumerate(pr.layers):
            ours = pr.scores["saliency"][order][measure][0, li]
            np.testing.assert_allclose(
                ours,
                np.asarray(q[layer]),
                rtol=1e-6,
                atol=1e-9,
                err_msg=f"{order} {measure} {layer}",
            )


def test_similarity_measures_on_known_maps() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 12, 12))
    s = similarities(a, a)
    for v in s.values():
        np.testing.assert_allclose(v, 1.0)
    s = similarities(a, -a)
    np.testing.assert_allclose(s["spearman"], -1.0)
    np.testing.assert_allclose(s["spearman_abs"], 1.0)  # |-a| = |a|
    np.testing.assert_allclose(s["ssim"], 1.0)
    s = similarities(np.zeros_like(a), a)
    assert np.isnan(s["spearman_abs"]).all()  # nothing to rank in the trained map
    s = similarities(a, np.zeros_like(a))
    np.testing.assert_allclose(s["spearman_abs"], 0.0)  # the structure is gone


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.tuples(st.integers(1, 4), st.integers(7, 12), st.integers(7, 12)),
    ties=st.sampled_from([None, 1.0, 0.5]),
    constant=st.sampled_from([None, "a", "b"]),
    nan=st.sampled_from([None, "a", "b"]),
)
def test_spearman_of_similarities_is_scipys_float_for_float(
    seed: int,
    shape: tuple[int, int, int],
    ties: float | None,
    constant: str | None,
    nan: str | None,
) -> None:
    """The ranks-once rank correlation gives scipy's ``spearmanr`` bit for bit (the sanity
    study's numbers must not change), with ties, constant maps and NaNs."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(seed)
    a = rng.normal(size=shape)
    b = a * rng.uniform(-1, 1) + rng.normal(size=shape) * rng.uniform(0, 3)
    if ties is not None:
        a, b = np.round(a / ties) * ties, np.round(b / ties) * ties
    for which, arr in (("a", a), ("b", b)):
        if constant == which:
            arr[0] = 2.0
        if nan == which:
            arr[-1, 0, 0] = np.nan
    got = similarities(a, b)

    def want(x: np.ndarray, y: np.ndarray) -> float:
        x, y = x.ravel(), y.ravel()
        if np.ptp(x) == 0:
            return float("nan")
        if np.ptp(y) == 0:
            return 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(spearmanr(x, y)[0])

    for k, f in (("spearman", lambda v: v), ("spearman_abs", np.abs)):
        expected = np.array([want(f(x), f(y)) for x, y in zip(a, b)])
        assert np.array_equal(got[k], expected, equal_nan=True), k


def test_deletion_and_insertion_of_a_hand_set_model() -> None:
    """A 2-class linear model on 4x4 images whose class-1 logit is 3 * the top-left pixel: the
    map that ranks that pixel first deletes it first (probability falls at once), a map that
    ranks it last keeps it to the end."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2, bias=False))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[1, 0] = 3.0
    x = torch.ones(1, 1, 4, 4)
    t = torch.tensor([1])
    good = np.zeros((1, 4, 4))
    good[0, 0, 0] = 1.0
    bad = -good
    f = deletion_insertion(model, {"good": good, "bad": bad}, x, t, baseline=[0.0], steps=16)
    p1 = 1 / (1 + np.exp(-3.0))
    np.testing.assert_allclose(f.deletion["good"][0], [p1] + [0.5] * 16)
    np.testing.assert_allclose(f.deletion["bad"][0], [p1] * 16 + [0.5])
    np.testing.assert_allclose(f.insertion["good"][0], [0.5] + [p1] * 16)
    area = f.area("deletion")
    assert area["good"][0] < area["random"][0] < area["bad"][0]
    rnd = np.array([0.5, 0.52, 0.49, 0.5, 0.51, 0.48])
    assert V.faithful(rnd - 0.3, rnd, "deletion")["passes"]  # every image lower: p = 1/64
    assert not V.faithful(rnd - 0.3, rnd, "insertion")["passes"]
    assert not V.faithful(rnd, rnd, "deletion")["passes"]
    mixed = rnd + np.array([-0.3, 0.1, -0.2, 0.2, 0.1, -0.1])
    assert not V.faithful(mixed, rnd, "deletion")["passes"]
