"""The explorer's unit pages show each unit's top projections under randomised weights
(issue 21) beside the trained ones, with a caption, and the numbers in the page's JSON."""

from __future__ import annotations

import html
import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from conftest import unit_json
from convscope.analysis.sanity.randomise import fully_randomised
from convscope.analysis.sanity.similarity import spearman
from convscope.analysis.zf.topk import topk_per_map
from convscope.analysis.zf.topk_random import random_topk, randomisation_seed
from convscope.explore.images import to_rgb8
from convscope.explore.random_weights import SHEET_RANDOM
from convscope.runs import RunDir


@pytest.fixture(scope="module")
def random_oracle(tiny_site: tuple[Path, Path, dict[str, Any]]) -> dict[str, Any]:
    run, _, _ = tiny_site
    rd = RunDir(run)
    ds, norm = rd.load_data()
    model = rd.load_model(None)
    seed = randomisation_seed(rd.config().train.seed, 0)
    rmodel = fully_randomised(model, seed)
    out = {}
    for layer in ("conv2", "fc1"):
        t = topk_per_map(model, ds.test.images, layer, k=9, transform=norm)
        out[layer] = (t, random_topk(rmodel, ds.test.images, t, transform=norm))
    return {"seed": seed, "layers": out}


@pytest.mark.parametrize("layer", ["conv2", "fc1"])
def test_unit_pages_show_the_random_weights_projections(tiny_site, random_oracle, layer) -> None:  # noqa: ANN001
    _, site, _ = tiny_site
    t, r = random_oracle["layers"][layer]
    ph, pw = r.projection_patches.shape[-2:]
    differs = 0
    for u in range(t.values.shape[0]):
        page = site / "units" / layer / f"{u}.html"
        text = page.read_text()
        d = unit_json(page)
        if d["dead"]:
            assert "random-weights" not in text and "random_weights" not in d
            continue
        n = len(d["top"])
        assert 'id="random-weights-title"' in text
        caption = re.search(r'<p class="note" id="random-weights-caption">(.*?)</p>', text, re.S)
        assert caption and "Adebayo et al. 2018" in caption.group(1)
        assert "does not show what the network learned" in html.unescape(caption.group(1))
        assert text.count('alt="projection, random weights"') == n
        rw = d["random_weights"]
        assert rw["seed"] == 0 and rw["torch_seed"] == random_oracle["seed"]
        assert len(rw["spearman_abs"]) == n
        sheet = np.asarray(
            Image.open(io.BytesIO((site / "units" / layer / f"{u}.png").read_bytes()))
        )
        for j in range(n):
            cell = sheet[SHEET_RANDOM * ph : (SHEET_RANDOM + 1) * ph, j * pw : (j + 1) * pw]
            want = to_rgb8(r.projection_patches[u, j].numpy(), True)
            np.testing.assert_array_equal(cell, want)
            trained = sheet[ph : 2 * ph, j * pw : (j + 1) * pw]
            differs += int(not np.array_equal(trained, cell))
            a = t.projection_patches[u, j].double().sum(0).numpy()
            b = r.projection_patches[u, j].double().sum(0).numpy()
            want_rho = spearman(np.abs(a), np.abs(b))
            got_rho = rw["spearman_abs"][j]
            if np.isnan(want_rho):
                assert got_rho is None
            else:
                assert got_rho == pytest.approx(want_rho, abs=1e-9)
    assert differs > 0, "the random-weights projections equal the trained ones"


def test_index_page_says_how_the_random_weights_were_drawn(tiny_site) -> None:  # noqa: ANN001
    _, site, _ = tiny_site
    text = html.unescape((site / "index.html").read_text())
    assert "random_weights" in text and "never that seed" in text
