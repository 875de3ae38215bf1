"""Welch's t and Holm–Bonferroni against scipy and hand computation; the test's level."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from convscope.analysis.significance import compare_to_reference, holm, seeds_disagree, welch


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    for n, m in ((3, 3), (3, 5), (8, 4)):
        a, b = rng.normal(0, 1, n), rng.normal(0.5, 2, m)
        w = welch(a.tolist(), b.tolist())
        ref = stats.ttest_ind(a, b, equal_var=False)
        assert w.t == pytest.approx(ref.statistic) and w.p == pytest.approx(ref.pvalue)


def test_welch_is_scipys_ttest_ind_bit_for_bit() -> None:
    """The default is scipy's unequal-variance t-test itself (the report's claim 3.2 prints its
    p-value, as report/stats.welch_p did: 0.2517955625816184 for these seeds)."""
    a, b = [0.5, 0.51, 0.74], [0.66, 0.71, 0.95, 0.59]
    ref = stats.ttest_ind(a, b, equal_var=False)
    w = welch(a, b)
    assert (w.t, w.df, w.p) == (float(ref.statistic), float(ref.df), float(ref.pvalue))
    assert w.p == 0.2517955625816184


def test_welch_numpy_moments_keeps_the_across_numbers() -> None:
    """``numpy_moments=True`` gives what the across study saved before the one Welch test:
    t and df by the textbook formulas from np.mean / np.var(ddof=1), p = 2 sf(|t|, df). Pinned
    on two cases where scipy's own moments differ in the last bit (df, then t and p)."""
    for a, b, old in (
        ([0.83, 0.55, 0.92], [0.66, 0.61, 0.76, 0.93], (0.2021917592425289, 3.5472674765096452)),
        ([0.5, 0.51, 0.74], [0.66, 0.71, 0.95, 0.59], (-1.302520307701769, 4.793974859908987)),
    ):
        x, y = np.asarray(a), np.asarray(b)
        vx, vy = np.var(x, ddof=1) / x.size, np.var(y, ddof=1) / y.size
        t = (np.mean(x) - np.mean(y)) / np.sqrt(vx + vy)
        df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
        w = welch(a, b, numpy_moments=True)
        assert (w.t, w.df) == (float(t), float(df)) == old
        assert w.p == float(2.0 * stats.t.sf(abs(t), df))
        d = welch(a, b)
        assert (w.t, w.df, w.p) != (d.t, d.df, d.p)
    assert welch([0.5, 0.51, 0.74], [0.66, 0.71, 0.95, 0.59], numpy_moments=True).p == (
        0.25179556258161834
    )


def test_welch_edge_cases() -> None:
    for numpy_moments in (False, True):
        assert welch([0.9], [0.8, 0.7], numpy_moments=numpy_moments).p is None
        assert welch([0.5, 0.5], [0.5, 0.5], numpy_moments=numpy_moments).p == 1.0
        assert welch([0.5, 0.5], [0.4, 0.4], numpy_moments=numpy_moments).p == 0.0
    p = welch([0.9, 0.91, 0.92], [0.7, 0.71, 0.69]).p
    assert p is not None and p < 0.01
    assert welch([1.0], [1.0, 2.0]).p is None  # one value on a side: no test
    assert welch([1.0, None, float("nan")], [1.0, 2.0]).p is None  # non-finite left out
    assert welch([0.5, 0.5], [0.5, 0.5, 0.5]).p == 1.0
    w = welch([0.5, 0.5], [0.25, 0.25])
    assert w.p == 0.0 and w.exact


def test_holm_by_hand() -> None:
    # sorted 0.01, 0.03, 0.04, 0.5 -> x4, x3, x2, x1 = 0.04, 0.09, 0.08 -> 0.09 (monotone), 0.5
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([0.6, None, 0.4]) == [pytest.approx(0.8), None, pytest.approx(0.8)]
    assert holm([]) == []


def test_level_on_same_distribution_and_power_on_different() -> None:
    """Groups of 3 seeds from one distribution: the test rejects at about alpha (it says 'no
    difference' 95% of the time); 3 seeds 5 standard deviations apart: almost always rejected."""
    rng = np.random.default_rng(0)
    same = [welch(rng.normal(size=3), rng.normal(size=3)).p for _ in range(3000)]
    rate = np.mean(np.asarray(same) < 0.05)
    assert 0.02 < rate < 0.07  # Welch with 3 vs 3 is slightly conservative
    far = [welch(rng.normal(size=3), rng.normal(5.0, 1.0, size=3)).p for _ in range(300)]
    assert np.mean(np.asarray(far) < 0.05) > 0.9


def test_compare_to_reference_family() -> None:
    vals = {"ref": [0.6, 0.65, 0.7], "a": [0.62, 0.71, 0.6], "b": [0.1, 0.12, 0.15]}
    comps = {c.label: c for c in compare_to_reference(vals, "ref")}
    assert set(comps) == {"a", "b"}
    raw = {k: welch(vals[k], vals["ref"]).p for k in ("a", "b")}
    assert comps["b"].p_holm == pytest.approx(min(1, 2 * min(raw.values())))
    assert comps["b"].significant and not comps["a"].significant
    assert comps["a"].seeds_disagree and not comps["b"].seeds_disagree
    assert comps["b"].difference == pytest.approx(np.mean(vals["b"]) - 0.65)
    assert seeds_disagree([1.0, 3.0], 2.0) and not seeds_disagree([1.0, 1.5], 2.0)
    # the reference's own values (a seed-only quantity, like the initialisation) never disagree
    assert not seeds_disagree([1.0, 3.0], 2.0, [3.0, 1.0])
    assert seeds_disagree([1.0, 3.5], 2.0, [1.0, 3.0])
    with pytest.raises(KeyError):
        compare_to_reference(vals, "missing")
