"""The numbers on unit pages equal the analysis arrays, checked against brute-force oracles.

Oracles are independent of the explorer and of the chain: forward hooks on the model's own ReLU
modules give each test image's activation per unit; top images, histograms, class means, class
purity, the evolution and the settle step are recomputed from those with numpy. Units are
picked at random (seeded, printed on failure).
"""

from __future__ import annotations

import io
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import unit_json
from convscope.analysis.gabor import PARAM_NAMES, fit_filters
from convscope.analysis.zf.topk import topk_per_map
from convscope.explore.images import to_rgb8
from convscope.explore.pages import fmt
from convscope.runs import RunDir

READ = {"conv1": "relu1", "conv2": "relu2", "fc1": "relu3"}
SEED = 20261201


def per_image(model: torch.nn.Module, x: torch.Tensor, module: str) -> np.ndarray:
    """``(N, M)`` each image's maximum over positions of ``module``'s output (hooks)."""
    got: list[torch.Tensor] = []
    h = dict(model.named_modules())[module].register_forward_hook(
        lambda _m, _i, o: got.append(o.detach().clone())
    )
    try:
        with torch.no_grad():
            model(x)
    finally:
        h.remove()
    a = got[0]
    return (a.amax(dim=(2, 3)) if a.dim() == 4 else a).double().numpy()


@pytest.fixture(scope="module")
def oracle(tiny_site: tuple[Path, Path, dict[str, Any]]) -> dict[str, Any]:
    run, _, _ = tiny_site
    rd = RunDir(run)
    ds, norm = rd.load_data()
    x = norm(ds.test.images)
    steps = rd.checkpoint_steps()
    final = rd.load_model(None)
    return {
        "x": x,
        "labels": ds.test.labels.numpy(),
        "classes": list(ds.classes),
        "acts": {ly: per_image(final, x, m) for ly, m in READ.items()},
        "steps": steps,
        "evo": {
            s: {ly: per_image(rd.load_model(s), x, m) for ly, m in READ.items()} for s in steps
        },
        "model": final,
        "images": ds.test.images,
        "norm": norm,
    }


def _units(layer: str, n: int) -> list[int]:
    return sorted(random.Random(f"{SEED}-{layer}").sample(range(n), min(4, n)))


@pytest.mark.parametrize("layer", ["conv1", "conv2", "fc1"])
def test_unit_pages_equal_the_oracle(tiny_site, oracle, layer: str) -> None:  # noqa: ANN001
    _, site, _ = tiny_site
    acts = oracle["acts"][layer]
    labels, steps = oracle["labels"], oracle["steps"]
    for u in _units(layer, acts.shape[1]):
        where = f"{layer} unit {u} (seed {SEED})"
        d = unit_json(site / "units" / layer / f"{u}.html")
        a = acts[:, u]
        assert d["unit"] == u and d["layer"] == layer and d["read"] == READ[layer], where
        assert d["max"] == pytest.approx(a.max(), rel=1e-5, abs=1e-6), where
        assert d["mean"] == pytest.approx(a.mean(), rel=1e-5, abs=1e-6), where
        assert d["dead"] == bool(a.max() <= 0), where
        top = np.sort(a)[::-1][:9]
        top = top[top > 0]  # zeros are ties: not shown
        # equal values may come in any order (ties are broken by a fixed random permutation,
        # see analysis.zf.topk.rank_images): compare values, and each index against its value
        order = np.array([t["test_index"] for t in d["top"]], dtype=np.int64)
        assert len(set(order.tolist())) == len(order) == len(top), where
        np.testing.assert_allclose([t["value"] for t in d["top"]], top, rtol=1e-5)
        np.testing.assert_allclose(a[order], top, rtol=1e-5)
        assert [t["class_name"] for t in d["top"]] == [oracle["classes"][labels[i]] for i in order]
        if len(order) < 9:  # dead, or fewer than 9 positive: no class purity
            assert d["purity"] is None, where
        else:
            purity = Counter(labels[order].tolist()).most_common(1)[0][1] / 9
            assert d["purity"] == pytest.approx(purity), where
        counts, edges = np.histogram(a.astype(np.float32).astype(np.float64), bins=20)
        assert d["histogram"]["counts"] == counts.tolist(), where
        np.testing.assert_allclose(d["histogram"]["edges"], edges, rtol=1e-6, atol=1e-7)
        means = [a[labels == c].mean() for c in range(len(oracle["classes"]))]
        np.testing.assert_allclose(d["class_means"]["values"], means, rtol=1e-5, atol=1e-6)
        assert d["class_means"]["classes"] == oracle["classes"]
        # evolution: the strongest test image at each snapshot, and when it stopped changing
        ev = d["evolution"]
        assert ev["steps"] == steps, where
        best = [int(np.argmax(oracle["evo"][s][layer][:, u])) for s in steps]
        # where the unit is inactive at a snapshot, its strongest image is a tie at 0: any one
        best = [
            b if oracle["evo"][s][layer][b, u] > 0 else got
            for s, b, got in zip(steps, best, ev["test_index"])
        ]
        assert ev["test_index"] == best, where
        np.testing.assert_allclose(
            ev["values"], [oracle["evo"][s][layer][b, u] for s, b in zip(steps, best)], rtol=1e-5
        )
        settle = None
        if oracle["evo"][steps[-1]][layer][:, u].max() > 0:
            settle = steps[0]
            for j in range(1, len(steps)):
                if best[j] != best[j - 1]:
                    settle = steps[j]
        assert ev["settle_step"] == settle, where


def test_visible_numbers_are_the_json_numbers(tiny_site) -> None:  # noqa: ANN001
    _, site, _ = tiny_site
    for layer in READ:
        for page in sorted((site / "units" / layer).glob("*.html")):
            html = page.read_text()
            d = unit_json(page)
            shown = re.findall(r'<figure class="top"[^>]*>.*?value <span class="v">([^<]*)<', html)
            assert shown == [fmt(t["value"]) for t in d["top"]], page
            assert f'<b class="v-max">{fmt(d["max"])}</b>' in html, page
            assert ("dead-banner" in html) == d["dead"], page


def test_first_layer_filter_and_fully_connected_inputs(tiny_site, oracle) -> None:  # noqa: ANN001
    _, site, _ = tiny_site
    model = oracle["model"]
    fits, _ = fit_filters(model.conv1.weight.detach().double().numpy())
    for u in _units("conv1", 4):
        f = unit_json(site / "units" / "conv1" / f"{u}.html")["filter"]
        assert f["r2"] == pytest.approx(fits.r2[u])
        assert list(f["gabor"]) == list(PARAM_NAMES)
        np.testing.assert_allclose(list(f["gabor"].values()), fits.params[u])
    assert "filter" not in unit_json(site / "units" / "conv2" / "0.html")
    # fc1's inputs: weight x mean flattened pool2 output, summed over each conv2 map
    got: list[torch.Tensor] = []
    h = model.flatten.register_forward_hook(lambda _m, _i, o: got.append(o.detach().clone()))
    with torch.no_grad():
        model(oracle["x"])
    h.remove()
    mean_in = got[0].double().mean(0)
    w = model.fc1.weight.detach().double()
    contrib = (w * mean_in).reshape(w.shape[0], 6, -1).sum(2).numpy()
    for u in _units("fc1", 16):
        ins = unit_json(site / "units" / "fc1" / f"{u}.html")["inputs"]
        want = [c for c in np.argsort(-contrib[u], kind="stable") if contrib[u, c] > 0][:8]
        assert [i["unit"] for i in ins] == [int(c) for c in want]
        np.testing.assert_allclose([i["contribution"] for i in ins], contrib[u, want], rtol=1e-6)
        assert all(i["layer"] == "conv2" and i["href"] == f"conv2/{i['unit']}.html" for i in ins)


def test_sprite_cells_are_the_topk_patches_and_projections(tiny_site, oracle) -> None:  # noqa: ANN001
    _, site, _ = tiny_site
    t = topk_per_map(oracle["model"], oracle["images"], "conv2", k=9, transform=oracle["norm"])
    ph, pw = t.patches.shape[-2:]
    for u in _units("conv2", 6):
        sheet = np.asarray(Image.open(io.BytesIO((site / "units/conv2" / f"{u}.png").read_bytes())))
        for j in range(9):
            cell = sheet[:ph, j * pw : (j + 1) * pw]
            np.testing.assert_array_equal(cell, to_rgb8(t.patches[u, j].numpy(), False))
            cell = sheet[ph : 2 * ph, j * pw : (j + 1) * pw]
            np.testing.assert_array_equal(cell, to_rgb8(t.projection_patches[u, j].numpy(), True))


def test_dead_units_are_grouped_apart(tiny_site, oracle) -> None:  # noqa: ANN001
    _, site, _ = tiny_site
    for layer, acts in oracle["acts"].items():
        html = (site / "layers" / f"{layer}.html").read_text()
        alive, dead = html.split('id="group-dead"')
        dead_units = sorted(int(m) for m in re.findall(r'data-unit="(\d+)"', dead))
        alive_units = sorted(int(m) for m in re.findall(r'data-unit="(\d+)"', alive))
        want_dead = [u for u in range(acts.shape[1]) if acts[:, u].max() <= 0]
        assert dead_units == want_dead, layer
        assert alive_units == [u for u in range(acts.shape[1]) if u not in want_dead], layer
        assert html.count('loading="lazy"') == 2 * len(alive_units)  # patch + projection
    assert any(oracle["acts"]["fc1"][:, u].max() <= 0 for u in range(16)), "no dead unit to test"
