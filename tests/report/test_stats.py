"""The report's numbers: seed aggregates, threshold crossings, learning speed, formatting."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from convscope.report import stats


def test_aggregate_matches_hand_computation() -> None:
    a = stats.aggregate(
        [
            (np.array([10, 20, 30]), np.array([0.1, 0.4, 0.5])),
            (np.array([10, 20, 30]), np.array([0.3, 0.2, np.nan])),
            (np.array([10, 20]), np.array([0.2, np.inf])),
        ]
    )
    assert a.steps.tolist() == [10, 20, 30]
    assert a.count.tolist() == [3, 2, 1]
    np.testing.assert_allclose(a.mean, [0.2, 0.3, 0.5])
    np.testing.assert_allclose(a.low, [0.1, 0.2, 0.5])
    np.testing.assert_allclose(a.high, [0.3, 0.4, 0.5])
    # sample std (ddof=1) by hand: [0.1, 0.3, 0.2] -> 0.1; [0.4, 0.2] -> sqrt(0.02)
    np.testing.assert_allclose(a.std, [0.1, math.sqrt(0.02), 0.0])


def test_aggregate_of_nothing_is_empty() -> None:
    a = stats.aggregate([])
    assert a.steps.size == 0 and a.mean.size == 0


def test_first_crossings_against_a_loop() -> None:
    rng = np.random.default_rng(0)
    steps = np.arange(1, 41) * 25
    for _ in range(20):
        v = rng.random(40)
        thr = float(rng.random())
        brute = next((int(s) for s, x in zip(steps, v) if x >= thr), None)
        assert stats.first_step_at_or_above(steps, v, thr) == brute
        brute_below = next((int(s) for s, x in zip(steps, v) if x < thr), None)
        assert stats.first_step_below(steps, v, thr) == brute_below
    assert stats.first_step_at_or_above(steps, np.zeros(40), 0.5) is None
    # non-finite values never count
    assert stats.first_step_below([1, 2], [np.nan, 0.1], 0.2) == 2


def test_mean_over_horizon_of_a_line_and_carry_forward() -> None:
    steps = np.array([0, 100, 200])
    # a straight line from 0 to 1 over [0, 200]: mean 0.5
    assert stats.mean_over_horizon(steps, np.array([0.0, 0.5, 1.0]), 200) == pytest.approx(0.5)
    # horizon beyond the last record: the last value is carried forward
    # area = 0.5*200 (line) + 1.0*200 (flat) over 400 -> 0.75
    assert stats.mean_over_horizon(steps, np.array([0.0, 0.5, 1.0]), 400) == pytest.approx(0.75)
    # horizon inside: mean of the line on [0, 100] = 0.25
    assert stats.mean_over_horizon(steps, np.array([0.0, 0.5, 1.0]), 100) == pytest.approx(0.25)
    # NaNs are dropped before interpolation
    assert stats.mean_over_horizon(
        np.array([0, 100, 200]), np.array([0.0, np.nan, 1.0]), 200
    ) == pytest.approx(0.5)
    assert math.isnan(stats.mean_over_horizon(steps, np.full(3, np.nan), 200))


def test_mean_std_and_formatting() -> None:
    m = stats.MeanStd.of([0.5, 0.6, None, float("nan")])
    assert m.n == 2 and m.n_total == 4
    assert m.mean == pytest.approx(0.55)
    assert m.std == pytest.approx(np.std([0.5, 0.6], ddof=1))
    assert stats.fmt_ms(m) == "55.0 ± 7.1% (2/4 seeds)"
    assert stats.fmt_ms(stats.MeanStd.of([0.4123])) == "41.2%"
    assert stats.fmt_ms(stats.MeanStd.of([])) == "–"
    assert stats.fmt_steps([100, 300]) == "200 ± 141"
    assert stats.fmt_steps([100, None, 300]) == "200 ± 141 (2/3 seeds)"
    assert stats.fmt_steps([None]) == "never"
    assert stats.pct(0.4123) == "41.2%" and stats.pct(None) == "–"
    assert stats.pp(-0.0123) == "-1.2 pp"


def test_spearman_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    for _ in range(10):
        x, y = rng.random(6), rng.random(6)
        assert stats.spearman(x, y) == pytest.approx(sps.spearmanr(x, y).statistic)
    assert math.isnan(stats.spearman([1, 1, 1], [1, 2, 3]))
