"""How Gabor-like are first-layer filters? A least-squares 2-D Gabor fit per filter.

Zeiler & Fergus 2014 (arXiv 1311.2901) show first-layer filters (Sec. 4.1, Fig. 6; Fig. 2) and
the reference report says its filters "look slightly like Gabor filters". This module turns
that impression into a number: the fraction of each filter's variance that the best 2-D Gabor
function explains, ``R^2 = 1 - SSE / SST``, for the trained network and for the same network at
initialisation (the control: with 25 pixels and 9 parameters, even noise gets some R^2).

The model, on pixel coordinates centred on the filter (``x`` = column, ``y`` = row)::

    x' =  (x - x0) cos(theta) + (y - y0) sin(theta)
    y' = -(x - x0) sin(theta) + (y - y0) cos(theta)
    g  = amplitude * exp(-x'^2 / (2 sigma_x^2) - y'^2 / (2 sigma_y^2))
                   * cos(2 pi frequency x' + phase) + offset

``sigma_x`` is the envelope width across the stripes, ``frequency`` is in cycles per pixel.

Choices the paper leaves open (recorded in :data:`FIT_CHOICES`):

- Optimiser: ``scipy.optimize.least_squares`` (trust-region reflective, analytic Jacobian),
  parametrised by ``a = A cos(phase)``, ``b = -A sin(phase)`` instead of amplitude and phase,
  which is linear in the data and has no sign ambiguity.
- Starts: a deterministic grid (no random numbers) over orientation (8 values in [0, pi)),
  frequency (5 values from 0.5/k to 0.45 cycles/pixel), envelope width (k/4 and k/2) and
  centre (the filter centre and its largest absolute deviation). For each start the linear
  parameters (a, b, offset) are solved exactly; the best ``n_refine`` starts by that error are
  refined with all nine parameters free, and the best refinement wins.
- Bounds for a ``kh x kw`` filter: centre within the filter's extent (``|x0| <= kw/2``,
  ``|y0| <= kh/2``), ``0.5 <= sigma <= 2 max(kh, kw)`` pixels, ``0 <= frequency <= 0.5``
  (Nyquist), ``|a|, |b|, |offset| <= 10 max|w - mean(w)|``.
- Reported parameters are canonical: amplitude >= 0, theta in [0, pi) (theta + pi with
  phase -> -phase is the same function), phase in (-pi, pi].
- A constant filter (SST = 0) gets R^2 = NaN and counts as not fit.
- Filters with several input channels are reduced to one map first
  (:func:`convscope.analysis.filters.reduce_channels`, default: the principal channel map).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats

from convscope.analysis.filters import ChannelReduce, check_filters, reduce_channels
from convscope.errors import ConvscopeError
from convscope.formatting import pct

log = logging.getLogger(__name__)

PARAM_NAMES = (
    "amplitude",
    "x0",
    "y0",
    "sigma_x",
    "sigma_y",
    "theta",
    "frequency",
    "phase",
    "offset",
)
THRESHOLDS = (0.5, 0.8)

N_THETA = 8
N_FREQ = 5
F_MAX = 0.45  # highest start frequency, cycles/pixel (the bound is 0.5 = Nyquist)
SIGMA_MIN = 0.5  # pixels
AMP_FACTOR = 10.0  # |a|, |b|, |offset| <= AMP_FACTOR * max|w - mean(w)|
TOL = 1e-6  # least_squares ftol/xtol/gtol (R^2 agrees with 1e-8 to 4 decimals, ~30% faster)
MAX_NFEV = 200  # per refinement

FIT_CHOICES: dict[str, Any] = {
    "model": "A exp(-x'^2/2sx^2 - y'^2/2sy^2) cos(2 pi f x' + phase) + offset",
    "r2": "1 - SSE/SST on the filter's pixels (SST about the filter mean)",
    "optimizer": f"scipy.optimize.least_squares, method trf, analytic Jacobian, tolerances "
    f"{TOL:g}, at most {MAX_NFEV} evaluations per start",
    "starts": f"grid: {N_THETA} orientations x {N_FREQ} frequencies x 2 widths x 2 centres, "
    "linear parameters solved exactly per start; no random numbers",
    "bounds": f"|x0|<=kw/2, |y0|<=kh/2, {SIGMA_MIN}<=sigma<=2k px, 0<=f<=0.5 cycles/px, "
    f"|a|,|b|,|offset|<={AMP_FACTOR:g} max|w-mean|",
    "canonical": "amplitude>=0, theta in [0,pi), phase in (-pi,pi]",
    "constant_filter": "R^2 = NaN, counted as not fit",
}


@dataclass(frozen=True)
class GaborFits:
    """Gabor fits of ``F`` filters of size ``kh x kw``.

    Attributes:
        params: ``(F, 9)`` canonical parameters, columns :data:`PARAM_NAMES`.
        r2: ``(F,)`` fraction of variance explained (NaN for a constant filter).
        fitted: ``(F, kh, kw)`` the fitted Gabor functions on the filter's pixels.
        maps: ``(F, kh, kw)`` the 2-D maps that were fit.
    """

    params: np.ndarray
    r2: np.ndarray
    fitted: np.ndarray
    maps: np.ndarray

    def param(self, name: str) -> np.ndarray:
        """One parameter for every filter, ``(F,)``."""
        return self.params[:, PARAM_NAMES.index(name)]


def _grid(kh: int, kw: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:kh, 0:kw].astype(np.float64)
    return x.ravel() - (kw - 1) / 2.0, y.ravel() - (kh - 1) / 2.0


def _basis(
    x: np.ndarray, y: np.ndarray, x0, y0, sx, sy, theta, f
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Envelope times cos/sin carrier; broadcasts over leading axes of the parameters."""
    dx, dy = x - x0, y - y0
    ct, st = np.cos(theta), np.sin(theta)
    xr = dx * ct + dy * st
    yr = -dx * st + dy * ct
    env = np.exp(-(xr**2) / (2 * sx**2) - yr**2 / (2 * sy**2))
    u = 2 * np.pi * f * xr
    return env, np.cos(u), np.sin(u), xr, yr


def gabor(params: np.ndarray | list[float], shape: tuple[int, int]) -> np.ndarray:
    """Evaluate a Gabor with canonical ``params`` (:data:`PARAM_NAMES`) on a ``(kh, kw)`` grid."""
    amp, x0, y0, sx, sy, theta, f, phase, offset = (float(v) for v in params)
    kh, kw = shape
    x, y = _grid(kh, kw)
    env, _, _, xr, _ = _basis(x, y, x0, y0, sx, sy, theta, f)
    return (amp * env * np.cos(2 * np.pi * f * xr + phase) + offset).reshape(kh, kw)


# internal vector: a, b, x0, y0, sx, sy, theta, f, c
def _model(p: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    a, b, x0, y0, sx, sy, theta, f, c = p
    env, cu, su, _, _ = _basis(x, y, x0, y0, sx, sy, theta, f)
    return env * (a * cu + b * su) + c


def _jac(p: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    a, b, x0, y0, sx, sy, theta, f, c = p
    env, cu, su, xr, yr = _basis(x, y, x0, y0, sx, sy, theta, f)
    h = a * cu + b * su
    dh = -a * su + b * cu  # dh/du
    ct, st = math.cos(theta), math.sin(theta)
    d_xr = env * (-xr / sx**2 * h + dh * 2 * np.pi * f)  # d model / d x'
    d_yr = env * (-yr / sy**2 * h)  # d model / d y'
    j = np.empty((x.size, 9))
    j[:, 0] = env * cu
    j[:, 1] = env * su
    j[:, 2] = d_xr * (-ct) + d_yr * st
    j[:, 3] = d_xr * (-st) + d_yr * (-ct)
    j[:, 4] = env * h * xr**2 / sx**3
    j[:, 5] = env * h * yr**2 / sy**3
    j[:, 6] = d_xr * yr + d_yr * (-xr)
    j[:, 7] = env * dh * 2 * np.pi * xr
    j[:, 8] = 1.0
    return j


def _starts(z: np.ndarray, kh: int, kw: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """All grid starts ``(S, 9)`` with their exact linear parameters, best first."""
    k = max(kh, kw)
    thetas = np.arange(N_THETA) * np.pi / N_THETA
    freqs = np.linspace(0.5 / k, F_MAX, N_FREQ)
    sigmas = np.array([k / 4.0, k / 2.0])
    dev = np.abs(z - z.mean())
    i = int(np.argmax(dev))
    centres = np.array([[0.0, 0.0], [x[i], y[i]]])
    t, fr, s, ci = np.meshgrid(thetas, freqs, sigmas, np.arange(2), indexing="ij")
    t, fr, s, ci = (v.ravel()[:, None] for v in (t, fr, s, ci))
    x0 = centres[ci[:, 0], 0][:, None]
    y0 = centres[ci[:, 0], 1][:, None]
    env, cu, su, _, _ = _basis(x[None], y[None], x0, y0, s, s, t, fr)
    design = np.stack([env * cu, env * su, np.ones_like(env)], axis=2)  # (S, N, 3)
    gram = design.transpose(0, 2, 1) @ design + 1e-9 * np.eye(3)
    rhs = design.transpose(0, 2, 1) @ z
    coef = np.linalg.solve(gram, rhs[..., None])[..., 0]  # (S, 3)
    sse = ((design @ coef[..., None])[..., 0] - z) ** 2
    order = np.argsort(sse.sum(axis=1), kind="stable")
    p = np.concatenate(
        [coef[:, :2], x0, y0, s, s, t, fr, coef[:, 2:3]],
        axis=1,
    )
    return p[order]


def _canonical(p: np.ndarray) -> np.ndarray:
    a, b, x0, y0, sx, sy, theta, f, c = p
    amp = math.hypot(a, b)
    phase = math.atan2(-b, a)
    theta = theta % (2 * np.pi)
    if theta >= np.pi:
        theta -= np.pi
        phase = -phase
    phase = (phase + np.pi) % (2 * np.pi) - np.pi
    if phase <= -np.pi + 1e-12:
        phase = np.pi
    return np.array([amp, x0, y0, sx, sy, theta, f, phase, c])


MIN_KERNEL = 5  # a 2-D Gabor has 9 parameters: on a 3x3 kernel (9 pixels) any fit is exact


def gabor_applicable(kernel_hw: tuple[int, ...]) -> str | None:
    """``None`` if a Gabor fit means something on ``(kh, kw)`` kernels, else the reason."""
    kh, kw = int(kernel_hw[0]), int(kernel_hw[1])
    if kh < MIN_KERNEL or kw < MIN_KERNEL:
        return (
            f"not applicable: {kh}x{kw} kernels have {kh * kw} pixels for the Gabor function's "
            f"{len(PARAM_NAMES)} parameters (needs at least {MIN_KERNEL}x{MIN_KERNEL})"
        )
    return None


def fit_gabor(filter2d: np.ndarray, n_refine: int = 4) -> tuple[np.ndarray, float, np.ndarray]:
    """Fit one 2-D Gabor to a ``(kh, kw)`` map.

    Args:
        filter2d: ``(kh, kw)`` finite values.
        n_refine: how many of the best grid starts are refined with all parameters free.

    Returns:
        ``(params, r2, fitted)``: canonical ``(9,)`` parameters (:data:`PARAM_NAMES`), the
        fraction of variance explained, and the fitted ``(kh, kw)`` map.
    """
    w = np.asarray(filter2d, dtype=np.float64)
    if w.ndim != 2 or min(w.shape) < 2:
        raise ConvscopeError(
            f"Gabor fit: expected a 2-D filter of at least 2x2, got shape {w.shape}"
        )
    if not np.all(np.isfinite(w)):
        raise ConvscopeError("Gabor fit: the filter contains NaN or infinite values")
    if n_refine < 1:
        raise ConvscopeError(f"Gabor fit: n_refine must be >= 1, got {n_refine}")
    kh, kw = w.shape
    z = w.ravel()
    sst = float(((z - z.mean()) ** 2).sum())
    scale = float(np.abs(z - z.mean()).max())
    if sst <= 0.0 or scale <= 0.0:
        params = np.array([0.0, 0.0, 0.0, kw / 4.0, kh / 4.0, 0.0, 0.0, 0.0, float(z.mean())])
        return params, float("nan"), np.full_like(w, z.mean())
    # work on a unit scale so tolerances mean the same for every filter
    zs = (z - z.mean()) / scale
    x, y = _grid(kh, kw)
    k = max(kh, kw)
    lo = np.array(
        [-AMP_FACTOR, -AMP_FACTOR, -kw / 2, -kh / 2, SIGMA_MIN, SIGMA_MIN, -np.pi, 0.0, -AMP_FACTOR]
    )
    hi = np.array(
        [AMP_FACTOR, AMP_FACTOR, kw / 2, kh / 2, 2.0 * k, 2.0 * k, 2 * np.pi, 0.5, AMP_FACTOR]
    )
    best_p, best_cost = None, np.inf
    for p0 in _starts(zs, kh, kw, x, y)[:n_refine]:
        p0 = np.clip(p0, lo + 1e-9, hi - 1e-9)
        res = optimize.least_squares(
            lambda p: _model(p, x, y) - zs,
            p0,
            jac=lambda p: _jac(p, x, y, zs),
            bounds=(lo, hi),
            method="trf",
            x_scale="jac",
            ftol=TOL,
            xtol=TOL,
            gtol=TOL,
            max_nfev=MAX_NFEV,
        )
        if res.cost < best_cost:
            best_p, best_cost = res.x, float(res.cost)
    fitted_s = _model(best_p, x, y)
    sse_s = float(((fitted_s - zs) ** 2).sum())
    r2 = 1.0 - sse_s * scale**2 / sst
    p = best_p.copy()
    p[[0, 1, 8]] *= scale
    p[8] += z.mean()
    fitted = (fitted_s * scale + z.mean()).reshape(kh, kw)
    return _canonical(p), r2, fitted


def fit_gabors(maps: np.ndarray, n_refine: int = 4) -> GaborFits:
    """Fit a Gabor to each of ``(F, kh, kw)`` maps; see :func:`fit_gabor`."""
    m = np.asarray(maps, dtype=np.float64)
    if m.ndim != 3:
        raise ConvscopeError(f"Gabor fit: expected maps (F, kh, kw), got shape {m.shape}")
    params = np.empty((m.shape[0], len(PARAM_NAMES)))
    r2 = np.empty(m.shape[0])
    fitted = np.empty_like(m)
    for i in range(m.shape[0]):
        params[i], r2[i], fitted[i] = fit_gabor(m[i], n_refine=n_refine)
    return GaborFits(params=params, r2=r2, fitted=fitted, maps=m)


def fit_filters(
    weights: np.ndarray, channel_reduce: ChannelReduce = "principal", n_refine: int = 4
) -> tuple[GaborFits, np.ndarray]:
    """Fit ``(F, C, kh, kw)`` filters; returns the fits and ``(F,)`` share of energy kept
    by the channel reduction (all ones for one channel)."""
    w = check_filters(weights)
    maps, kept = reduce_channels(w, channel_reduce)
    return fit_gabors(maps, n_refine=n_refine), kept


def summarize_r2(r2: np.ndarray, thresholds: tuple[float, ...] = THRESHOLDS) -> dict[str, Any]:
    """Counts and shares of filters with ``R^2 >`` each threshold (NaN counts as not fit)."""
    r = np.asarray(r2, dtype=np.float64).ravel()
    n = int(r.size)
    if n == 0:
        raise ConvscopeError("Gabor summary: no filters")
    out: dict[str, Any] = {"n": n}
    for t in thresholds:
        c = int(np.sum(np.nan_to_num(r, nan=-np.inf) > t))
        out[f"n_above_{t:g}"] = c
        out[f"share_above_{t:g}"] = c / n
    finite = r[np.isfinite(r)]
    out["median_r2"] = float(np.median(finite)) if finite.size else float("nan")
    out["mean_r2"] = float(np.mean(finite)) if finite.size else float("nan")
    out["r2"] = r.tolist()
    return out


def compare_gabor(
    trained: dict[str, Any], init: dict[str, Any], alpha: float = 0.05, paired: bool = False
) -> dict[str, Any]:
    """Are the trained filters more Gabor-like than at initialisation? From two
    :func:`summarize_r2` dicts.

    One-sided (trained > init) at level ``alpha`` on the filters' R^2 values when the summaries
    carry them: with ``paired`` (filter ``i`` trained is filter ``i`` at initialisation) a
    Wilcoxon signed-rank test on the per-filter differences, else a Mann-Whitney U test.
    Without R^2 lists: a larger share above 0.5.

    Returns:
        ``{"test", "alpha", "p", "better", "median_trained", "median_init", "n_rose", "n"}``
        (``p`` and the medians are None when no test could be made).
    """
    for name, s in (("trained", trained), ("init", init)):
        if "n" not in s or "n_above_0.5" not in s or "n_above_0.8" not in s:
            raise ConvscopeError(
                f"Gabor comparison: {name} summary lacks n / n_above_0.5 / n_above_0.8"
            )
    out: dict[str, Any] = {
        "test": "share above 0.5",
        "alpha": alpha,
        "p": None,
        "better": trained["n_above_0.5"] / trained["n"] > init["n_above_0.5"] / init["n"],
        "median_trained": None,
        "median_init": None,
        "n_rose": None,
        "n": None,
    }
    rt, ri = trained.get("r2"), init.get("r2")
    if rt is None or ri is None:
        return out
    a = np.asarray([np.nan if v is None else v for v in rt], dtype=float)
    b = np.asarray([np.nan if v is None else v for v in ri], dtype=float)
    out["better"] = False
    if paired:
        if a.shape != b.shape:
            raise ConvscopeError(
                f"Gabor comparison: paired comparison needs as many trained as initial "
                f"filters, got {a.size} and {b.size}"
            )
        keep = np.isfinite(a) & np.isfinite(b)
        a, b = a[keep], b[keep]
        d = a - b
        out.update(test="one-sided Wilcoxon signed-rank (paired by filter)", n=int(d.size))
        if d.size and np.any(d != 0):
            out.update(
                p=float(stats.wilcoxon(d, alternative="greater").pvalue), n_rose=int(np.sum(d > 0))
            )
    else:
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        out.update(test="one-sided Mann-Whitney U", n=int(a.size))
        if a.size and b.size:
            out["p"] = float(stats.mannwhitneyu(a, b, alternative="greater").pvalue)
    if out["p"] is not None:
        out.update(
            better=out["p"] < alpha,
            median_trained=float(np.median(a)),
            median_init=float(np.median(b)),
        )
    return out


def gabor_sentence(
    trained: dict[str, Any], init: dict[str, Any], alpha: float = 0.05, paired: bool = False
) -> str:
    """The report's sentence about Gabor-like filters, from :func:`compare_gabor`'s numbers."""
    c = compare_gabor(trained, init, alpha, paired)
    nt, ni = trained["n"], init["n"]
    head = (
        f"After training, {trained['n_above_0.5']} of {nt} first-layer filters "
        f"({pct(trained['n_above_0.5'] / nt)}) are fit by a 2-D Gabor function with R^2 > 0.5 "
        f"({pct(trained['n_above_0.8'] / nt)} above 0.8), against {init['n_above_0.5']} of {ni} "
        f"({pct(init['n_above_0.5'] / ni)}; {pct(init['n_above_0.8'] / ni)} above 0.8) "
        "at initialisation"
    )
    if c["p"] is not None:
        rose = (
            f"; per filter, R^2 rose for {c['n_rose']} of {c['n']}"
            if c["n_rose"] is not None
            else ""
        )
        head += (
            f" (median R^2 {c['median_trained']:.2f} vs {c['median_init']:.2f}{rose}; "
            f"{c['test'].split(' (')[0]} p = {c['p']:.2g})"
        )
    better = c["better"]
    share8 = trained["n_above_0.8"] / nt
    share5 = trained["n_above_0.5"] / nt
    if not better:
        verdict = "the trained filters are no more Gabor-like than random initial weights"
    elif share8 >= 0.5:
        verdict = "the filters are measurably Gabor-like, most of them closely (R^2 > 0.8)"
    elif share5 >= 0.5:
        n8 = trained["n_above_0.8"]
        closely = "none is fit with R^2 > 0.8" if n8 == 0 else f"only {n8} of {nt} with R^2 > 0.8"
        verdict = (
            "the filters are measurably more Gabor-like than at initialisation, but only "
            f"loosely: {closely}"
        )
    else:
        verdict = (
            "training made the filters more Gabor-like than at initialisation, but most are "
            "still not fit by a Gabor function (R^2 <= 0.5)"
        )
    return f"{head}: {verdict}."
