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


def _ranks(maps: np.ndarray) -> np.ndarray:
    """``(N, ...)`` -> ``(N, K)`` average ranks of each flattened map (scipy's ``rankdata``)."""
    from scipy.stats import rankdata

    flat = np.asarray(maps, np.float64).reshape(len(maps), -1)
    return rankdata(flat, axis=1)


def _rho(a: np.ndarray, b: np.ndarray, ra: np.ndarray, rb: np.ndarray) -> float:
    """:func:`spearman` of the flat maps ``a``, ``b`` from their ranks ``ra``, ``rb``: the
    same arithmetic as scipy's ``spearmanr`` (Pearson's r of the ranks by ``np.corrcoef`` on
    the two rank columns), so the same float, without its per-call checks and re-ranking."""
    if np.ptp(a) == 0:
        return float("nan")
    if np.ptp(b) == 0:
        return 0.0
    if np.isnan(a).any() or np.isnan(b).any():  # spearmanr's nan_policy="propagate"
        return float("nan")
    return float(np.corrcoef(np.column_stack((ra, rb)), rowvar=False)[1, 0])


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


class Reference:
    """Maps that many others are compared with (a trained model's): their ranks, taken once.

    ``Reference(a).similarities(b)`` is ``similarities(a, b)``, float for float.
    """

    def __init__(self, a: np.ndarray) -> None:
        a = np.asarray(a)
        if a.ndim != 3:
            raise ValueError(f"similarities: expected (N, H, W) maps, got {a.shape}")
        self.a = a
        self._flat = {
            "spearman_abs": np.abs(a).astype(np.float64).reshape(len(a), -1),
            "spearman": a.astype(np.float64).reshape(len(a), -1),
        }
        self._ranks = {k: _ranks(v) for k, v in self._flat.items()}

    def similarities(self, b: np.ndarray) -> dict[str, np.ndarray]:
        """Per map pair, every measure of :data:`MEASURES`: ``(N, H, W)`` -> ``(N,)``."""
        b = np.asarray(b)
        if b.shape != self.a.shape:
            raise ValueError(
                f"similarities: expected two (N, H, W) arrays, got {self.a.shape}, {b.shape}"
            )
        out: dict[str, np.ndarray] = {}
        for k, flat in self._flat.items():
            fb = (np.abs(b) if k == "spearman_abs" else b).astype(np.float64)
            fb = fb.reshape(len(b), -1)
            rb, ra = _ranks(fb), self._ranks[k]
            out[k] = np.array([_rho(flat[i], fb[i], ra[i], rb[i]) for i in range(len(b))])
        out["ssim"] = np.array([ssim(x, y) for x, y in zip(self.a, b)])
        return out


def similarities(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Per map pair, every measure of :data:`MEASURES`: ``a``, ``b`` ``(N, H, W)`` -> ``(N,)``
    (Spearman's rho as :func:`spearman` computes it, float for float)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"similarities: expected two (N, H, W) arrays, got {a.shape}, {b.shape}")
    return Reference(a).similarities(b)
