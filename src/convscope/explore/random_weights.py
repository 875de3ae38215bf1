"""The explorer's random-weights projections (issue 21): each unit's top-k projections again,
through a copy of the model with every layer re-initialised (the end of Adebayo et al. 2018's
cascading randomisation, seeded), beside the trained ones on its page.

Same images, positions and seed values as the trained projections, so only the weights
differ (:mod:`convscope.analysis.zf.topk_random`). Per top image the page gives the Spearman
rank correlation of the two projections' |values| (cut to the receptive field, summed over
channels); the signed correlation and SSIM are left to the ``topk`` study (SSIM costs half a
millisecond a pair, and a fully connected layer has thousands of pairs).
"""

from __future__ import annotations

import logging
import math
from html import escape
from typing import Any

import numpy as np
import torch

from convscope.analysis.zf._common import Transform
from convscope.analysis.zf.graph import Chain
from convscope.analysis.zf.topk_random import (
    RANDOM_WEIGHTS_SEED,
    RandomTopK,
    random_topk,
    random_weights_chain,
    randomisation_seed,
)
from convscope.errors import ConvscopeError
from convscope.explore.compute import LayerUnits

log = logging.getLogger(__name__)

SHEET_RANDOM = 4  # the sprite-sheet row of the random-weights projections

CHOICE = (
    "each unit's top-k projections again with every layer of the model re-initialised by its "
    "own reset_parameters (torch.manual_seed of a seed derived from the run's training seed, "
    "never that seed): the same images, positions and seed values, so only the weights "
    "differ; rho: Spearman rank correlation of |projection| (cut to the receptive field, "
    "summed over channels) between the trained and the random-weights projection"
)


class RandomWeights:
    """The re-initialised model of one explorer build, and its projections per layer."""

    def __init__(self, chain: Chain, run_seed: int, seed: int = RANDOM_WEIGHTS_SEED) -> None:
        self.seed = seed
        self.torch_seed = randomisation_seed(run_seed, seed)
        self.chain: Chain | None = None
        try:  # a model without any reset_parameters layer: the pages go without the section
            self.chain = random_weights_chain(chain, self.torch_seed)
        except ConvscopeError as e:
            log.info("explorer: no random-weights projections: %s", e)

    def layer(
        self, ly: LayerUnits, images: torch.Tensor, transform: Transform
    ) -> RandomTopK | None:
        """``ly``'s top-k projected with random weights; None without trained projections (no
        deconvnet rule: the trained ones are grey too)."""
        if ly.topk.projections is None or self.chain is None:
            return None
        return random_topk(
            self.chain, images, ly.topk, transform=transform, measures=("spearman_abs",)
        )


def _num(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


def unit_numbers(r: RandomTopK, u: int, n_top: int, seed: int, torch_seed: int) -> dict[str, Any]:
    """The unit's JSON part: per shown top image the rank correlation, and their mean."""
    rho = [_num(float(v)) for v in r.scores["spearman_abs"][u, :n_top]]
    known = [v for v in rho if v is not None]
    return {
        "seed": seed,
        "torch_seed": torch_seed,
        "spearman_abs": rho,
        "mean_spearman_abs": float(np.mean(known)) if known else None,
    }


def section(d: dict[str, Any], cells: list[tuple[str, str]]) -> str:
    """The unit page's section: per top image, the trained projection beside the random-weights
    one (``cells``: their HTML), with what it means."""
    rw = d["random_weights"]
    figs = "".join(
        f'<figure class="random" data-test-index="{t["test_index"]}">{tr}{rd}'
        f"<figcaption>test #{t['test_index']}<br>trained | random<br>&rho; "
        f'<span class="v">{_fmt(rho)}</span></figcaption></figure>'
        for t, (tr, rd), rho in zip(d["top"], cells, rw["spearman_abs"])
    )
    mean = _fmt(rw["mean_spearman_abs"])
    return (
        '<h2 id="random-weights-title">Projections under randomised weights</h2>'
        '<p class="note" id="random-weights-caption">Each top image\'s projection with the '
        "trained weights (left) and with every layer of the network re-initialised (right; "
        f"seed {int(rw['seed'])}): the same image, position and starting value, only the "
        "weights differ. Adebayo et al. 2018 (&ldquo;Sanity Checks for Saliency Maps&rdquo;): "
        "a projection that looks the same under random weights does not show what the network "
        "learned; it shows the image (through the max-pool switches and rectifications). "
        f"&rho; is the rank correlation of the two |projections|; mean "
        f'<b class="v-random-rho">{escape(mean)}</b> (near 1: alike; near 0: unrelated).</p>'
        f'<div class="grid" id="random-weights">{figs}</div>'
    )


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"
