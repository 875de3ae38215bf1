"""How similar two attribution maps are (Adebayo et al. 2018, arXiv 1810.03292, section 3.1):
Spearman rank correlation of the absolute values and of the signed values, and SSIM.

Maps are ``(H, W)`` (attributions summed over channels). SSIM follows Quantus's
``similarity_func.ssim`` on the maps as images: each map is first divided by its largest
absolute value (Quantus's ``normalise_by_max`` per map), made absolute, and scikit-image's
``structural_similarity`` is taken with ``data_range`` = max - min over both maps and its
default 7x7 window. A constant map has no ranks: where the trained map (the first) is
constant the similarity is undefined (NaN); where only the other one is, it has lost every
structure the first had, recorded as 0.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

MEASURES = ("spearman_abs", "spearman", "ssim")
MEASURE_TITLES = {
    "spearman_abs": "Spearman rank correlation of |map|",
    "spearman": "Spearman rank correlation (signed)",
    "ssim": "SSIM of |map| / max",
}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two maps, flattened; NaN where ``a`` is constant, else 0 where ``b``
    is."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if np.ptp(a) == 0:
        return float("nan")
    if np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b)[0])


def _unit_abs(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    m = float(np.abs(a).max())
    return np.abs(a) if m == 0 else np.abs(a / m)


def ssim(a: np.ndarray, b: np.ndarray, win_size: int | None = None) -> float:
    """SSIM of two ``(H, W)`` maps after ``|map / max|map||`` (see the module docstring);
    ``win_size`` (odd) for maps smaller than the default 7x7 window."""
    from skimage.metrics import structural_similarity

    aa, bb = _unit_abs(a), _unit_abs(b)
    if aa.ndim != 2 or aa.shape != bb.shape:
        raise ValueError(f"ssim: expected two (H, W) maps of one shape, got {aa.shape}, {bb.shape}")
    if np.ptp(aa) == 0:
        return float("nan")
    lo, hi = min(aa.min(), bb.min()), max(aa.max(), bb.max())
    return float(structural_similarity(aa, bb, data_range=float(hi - lo), win_size=win_size))


def similarities(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Per map pair, every measure of :data:`MEASURES`: ``a``, ``b`` ``(N, H, W)`` -> ``(N,)``."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"similarities: expected two (N, H, W) arrays, got {a.shape}, {b.shape}")
    return {
        "spearman_abs": np.array([spearman(np.abs(x), np.abs(y)) for x, y in zip(a, b)]),
        "spearman": np.array([spearman(x, y) for x, y in zip(a, b)]),
        "ssim": np.array([ssim(x, y) for x, y in zip(a, b)]),
    }
