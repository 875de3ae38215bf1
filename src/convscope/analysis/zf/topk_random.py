"""Top-k projections under randomised weights: Adebayo et al. 2018 ("Sanity Checks for Saliency
Maps", arXiv 1810.03292, §3.1) applied to Zeiler & Fergus's Fig. 2.

For each top-k entry of a layer (:class:`~convscope.analysis.zf.topk.TopK`: a map, an image and
a position), the same deconvnet projection is taken through a copy of the model whose every
layer was re-initialised (:func:`~convscope.analysis.sanity.randomise.fully_randomised`, the end
of the cascade, seeded). Only the weights differ: the same images, the same unit positions and
the same seed value (the trained model's activation there, :func:`project`'s ``values``), so
switches and rectifications on the way down are the random network's own. The random network's
own activation at that position is not used: it is often 0 after a ReLU, and a zero seed would
make the comparison trivially "different".

Trained and random projections are compared per entry on the projection cut to the unit's
receptive field and summed over channels (outside the field both are 0, and shared zeros would
inflate a rank correlation), with :mod:`~convscope.analysis.sanity.similarity`: Spearman of
|map| and of the signed map, and SSIM (window 7, or the largest odd size the patch holds).
Entries whose activation is <= 0 project to 0 in both and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from convscope.analysis.sanity import verdicts as V
from convscope.analysis.sanity.randomise import (  # noqa: F401 - randomisation_seed re-exported
    SEED_STREAM,
    fully_randomised,
    randomisation_seed,
)
from convscope.analysis.sanity.similarity import MEASURES, ssim
from convscope.analysis.zf._common import Transform, to_input
from convscope.analysis.zf.deconvnet import Units, project
from convscope.analysis.zf.graph import Chain, as_chain, trace_chain
from convscope.analysis.zf.receptive import extract_patches, receptive_fields
from convscope.analysis.zf.topk import TopK
from convscope.errors import ConvscopeError

RANDOM_WEIGHTS_SEED = 0  # the re-initialisation compared with the trained projections
SSIM_WINDOW = 7  # scikit-image's default
STATISTIC = (
    "mean over a layer's top-k entries (activation > 0) of Spearman rho between the trained "
    "and the fully randomised model's projections (cut to the receptive field, summed over "
    "channels), the larger of |map| and signed map; one seed"
)

CHOICES = {
    "source": "Adebayo et al. 2018 (arXiv 1810.03292) section 3.1, on Zeiler & Fergus Fig. 2",
    "model": "a copy with every layer that has reset_parameters re-initialised by it, "
    "after torch.manual_seed(torch_seed), logits down (the end of the cascading "
    "randomisation); torch_seed is derived from the run's training seed and the option seed "
    "and is never the training seed (that seed would give the first layer back its own "
    "initial weights)",
    "same_units": "the same images, maps and positions as the trained top-k; each seeded with "
    "the trained activation there, so only the weights differ",
    "compared": "per entry with activation > 0: the projection cut to the receptive field, "
    "summed over channels; Spearman of |map| and of the signed map; SSIM of |map|/max with "
    f"a {SSIM_WINDOW}x{SSIM_WINDOW} window (the largest odd size a smaller patch holds)",
    "verdict": f"{STATISTIC}; below {V.RHO_THRESHOLD} the projections depend on the weights",
}


def random_weights_chain(model: nn.Module | Chain, seed: int = RANDOM_WEIGHTS_SEED) -> Chain:
    """The traced copy of ``model`` with every layer re-initialised (``model`` is unchanged)."""
    m = model.model if isinstance(model, Chain) else model
    return trace_chain(fully_randomised(m, seed))


@dataclass
class RandomTopK:
    """A layer's top-k projections under random weights, and their similarity to the trained.

    Attributes:
        layer: the layer read. projections: ``(M, k, C, H, W)``; projection_patches:
            ``(M, k, C, ph, pw)`` cut to the receptive field, as :class:`TopK`'s.
        scores: measure (:data:`MEASURES`) -> ``(M, k)`` float64, NaN where not compared.
        ssim_window: the SSIM window used (None: the patch is smaller than 3x3, no SSIM).
    """

    layer: str
    projections: torch.Tensor
    projection_patches: torch.Tensor
    scores: dict[str, np.ndarray]
    ssim_window: int | None

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Patches and scores as numpy for ``np.savez`` (the full projections are not kept:
        outside the receptive field they are 0)."""
        out = {f"{prefix}projection_patches_random_weights": self.projection_patches.numpy()}
        out |= {f"{prefix}random_weights_{k}": v for k, v in self.scores.items()}
        return out


def project_same_units(
    random: nn.Module | Chain,
    images: torch.Tensor,
    t: TopK,
    *,
    transform: Transform | None = None,
    chunk_size: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The projections of ``t``'s entries through ``random`` (same images, positions, seeds).

    Args:
        random: the model with other weights (same architecture as the one ``t`` came from).
        images: the images ``t`` searched (``t.image_index`` indexes them).

    Returns:
        ``(projections (M, k, C, H, W), patches (M, k, C, ph, pw))`` float32 on CPU.
    """
    chain = as_chain(random)
    idx = chain.resolve(t.layer, False)
    top = t.image_index
    flat_img, flat_y, flat_x = top.reshape(-1), t.y.reshape(-1), t.x.reshape(-1)
    uniq, inverse = torch.unique(flat_img, return_inverse=True)
    m_idx = t.maps[:, None].expand_as(top).reshape(-1)
    x_sel = to_input(images[uniq.to(images.device)], chain, transform)
    units = Units.of(inverse, m_idx, flat_y, flat_x)
    p = project(
        chain, x_sel, idx, units, block_output=False, chunk_size=chunk_size, values=t.values
    )
    proj = p.float().cpu().view(*top.shape, *p.shape[1:])
    rf = receptive_fields(chain, tuple(images.shape[1:]))[idx]
    patches = extract_patches(proj.flatten(0, 1), rf, flat_y, flat_x)
    return proj, patches.view(*top.shape, *patches.shape[1:])


def ssim_window(hw: tuple[int, int]) -> int | None:
    """The SSIM window for ``(ph, pw)`` patches: 7, or the largest odd size that fits."""
    w = min(SSIM_WINDOW, *hw)
    w -= 1 - w % 2
    return w if w >= 3 else None


def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`convscope.analysis.sanity.similarity.spearman` of each row pair at once (scipy's
    ``spearmanr`` costs about a millisecond a call; a layer of 1024 units has 9216 entries):
    ``(N, ...)`` each -> ``(N,)``, the Pearson correlation of the average ranks; NaN where the
    row of ``a`` is constant, else 0 where the row of ``b`` is."""
    from scipy.stats import rankdata

    a = np.asarray(a, np.float64).reshape(len(a), -1)
    b = np.asarray(b, np.float64).reshape(len(b), -1)
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.clip((ra * rb).sum(1) / den, -1.0, 1.0)
    out[np.ptp(b, axis=1) == 0] = 0.0
    out[np.ptp(a, axis=1) == 0] = np.nan
    return out


def compare(
    trained: torch.Tensor,
    random: torch.Tensor,
    values: torch.Tensor,
    measures: tuple[str, ...] = MEASURES,
) -> tuple[dict[str, np.ndarray], int | None]:
    """``(M, k, C, ph, pw)`` trained and random patches, ``(M, k)`` activations -> per entry
    every measure ``(M, k)`` (NaN where the activation is <= 0, and for a measure not in
    ``measures``), and the SSIM window."""
    if trained.shape != random.shape or trained.shape[:2] != values.shape:
        raise ConvscopeError(
            f"compare: shapes {tuple(trained.shape)}, {tuple(random.shape)}, "
            f"{tuple(values.shape)} do not match"
        )
    a = trained.double().sum(2).numpy()  # (M, k, ph, pw)
    b = random.double().sum(2).numpy()
    live = (values > 0).numpy()
    win = ssim_window((a.shape[-2], a.shape[-1]))
    out = {k: np.full(live.shape, np.nan) for k in MEASURES}
    if "spearman_abs" in measures:
        out["spearman_abs"][live] = spearman_rows(np.abs(a[live]), np.abs(b[live]))
    if "spearman" in measures:
        out["spearman"][live] = spearman_rows(a[live], b[live])
    if win is not None and "ssim" in measures:
        for m, j in zip(*np.nonzero(live)):
            out["ssim"][m, j] = ssim(a[m, j], b[m, j], win_size=win)
    return out, win


def random_topk(
    random: nn.Module | Chain,
    images: torch.Tensor,
    t: TopK,
    *,
    transform: Transform | None = None,
    chunk_size: int = 256,
    measures: tuple[str, ...] = MEASURES,
) -> RandomTopK:
    """:func:`project_same_units` and :func:`compare` of one layer's top-k ``t``."""
    if t.projection_patches is None:
        raise ConvscopeError(f"layer {t.layer!r}: its top-k has no projections to compare")
    proj, patches = project_same_units(
        random, images, t, transform=transform, chunk_size=chunk_size
    )
    scores, win = compare(t.projection_patches, patches, t.values, measures)
    return RandomTopK(t.layer, proj, patches, scores, win)


def _stats(v: np.ndarray) -> dict[str, float | None]:
    v = v[~np.isnan(v)]
    if not len(v):
        return {"mean": None, "sd": None}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0}


def layer_summary(r: RandomTopK) -> dict[str, Any]:
    """JSON-ready numbers of one layer and its verdict (the form of the ``sanity`` verdicts:
    statistic, value, threshold, why, passes, words)."""
    st = {k: _stats(v) for k, v in r.scores.items()}
    compared = int((~np.isnan(r.scores["spearman_abs"])).sum())
    means = [st[k]["mean"] for k in ("spearman_abs", "spearman")]
    known = [float(m) for m in means if m is not None]
    verdict = V.depends(max(known) if known else float("nan"), "weights")
    verdict["statistic"] = STATISTIC
    if not known:
        verdict["words"] = (
            "untestable: no entry with a positive activation and a varying projection"
        )
    return {
        "layer": r.layer,
        "entries_compared": compared,
        **st,
        "ssim_window": r.ssim_window,
        "verdict": verdict,
    }
