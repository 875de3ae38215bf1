"""Settling step of activation statistics and the sentence built from it."""

from __future__ import annotations

import numpy as np
import pytest

from convscope.analysis.convergence import convergence_sentence, convergence_table, settling_step
from convscope.errors import ConvscopeError


def brute_force(steps: list[int], values: list[float], tol: float) -> int:
    final = values[-1]
    for i in range(len(values)):
        if all(abs(v - final) <= tol for v in values[i:]):
            return steps[i]
    raise AssertionError("unreachable: the last value is always within tol")


def test_settling_step_by_hand() -> None:
    steps = [0, 100, 200, 300, 400, 500]
    values = [0.0, 5.0, 9.0, 10.0, 10.2, 10.0]  # final 10 -> tol max(0.5, 0.01 * 10.2) = 0.5
    at, tol = settling_step(np.array(steps), np.array(values))
    assert tol == pytest.approx(0.5)
    assert at == 300
    # a late excursion resets it
    values2 = [0.0, 10.0, 10.1, 12.0, 10.2, 10.0]
    assert settling_step(np.array(steps), np.array(values2))[0] == 400


def test_floor_for_statistics_that_end_near_zero() -> None:
    steps = np.arange(6) * 10
    values = np.array([1.0, 0.5, 0.05, 0.009, -0.004, 0.001])  # 5% of |0.001| is tiny
    at, tol = settling_step(steps, values)
    assert tol == pytest.approx(0.01 * (1.0 - (-0.004)))
    assert at == 30


def test_matches_brute_force_on_random_series() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 12))
        steps = sorted(rng.choice(1000, n, replace=False).tolist())
        values = (rng.standard_normal(n).cumsum() * rng.uniform(0.01, 2)).tolist()
        at, tol = settling_step(np.array(steps), np.array(values))
        assert at == brute_force(steps, values, tol)


def test_bad_series_raise() -> None:
    with pytest.raises(ConvscopeError, match="same length"):
        settling_step(np.arange(3), np.arange(4.0))
    with pytest.raises(ConvscopeError, match="increasing"):
        settling_step(np.array([0, 2, 1]), np.arange(3.0))
    with pytest.raises(ConvscopeError, match="NaN"):
        settling_step(np.arange(2), np.array([0.0, np.nan]))


def arrays_for(settle: dict[str, int], steps: np.ndarray) -> dict[str, np.ndarray]:
    """Series that jump to their final value exactly at the given step."""
    out: dict[str, np.ndarray] = {"steps": steps}
    for layer, at in settle.items():
        for stat, final in (("mean", 1.0), ("std", 2.0), ("zero_fraction", 0.5)):
            out[f"{layer}.{stat}"] = np.where(steps < at, final * 3.0, final)
    return out


KINDS = {"L1": "conv", "L2": "conv", "L3": "linear", "Logits": "logits"}


def test_table_rows() -> None:
    steps = np.arange(0, 1001, 100)
    arr = arrays_for({"L1": 200, "L2": 300, "L3": 700, "Logits": 900}, steps)
    arr["L2.std"] = np.where(steps < 500, 6.0, 2.0)  # one statistic settles later
    table = convergence_table(arr, list(KINDS), KINDS)
    assert [r["settled_at"] for r in table] == [200, 500, 700, 900]
    assert table[1]["mean"]["settled_at"] == 300 and table[1]["std"]["settled_at"] == 500
    assert table[0]["settled_fraction"] == pytest.approx(0.2)
    assert table[2]["kind"] == "linear" and table[2]["mean"]["final"] == 1.0
    with pytest.raises(ConvscopeError, match="arrays lack 'L1.mean'"):
        convergence_table({"steps": steps}, ["L1"])


def test_sentence_early_layers_faster() -> None:
    steps = np.arange(0, 1001, 100)
    table = convergence_table(
        arrays_for({"L1": 200, "L2": 300, "L3": 700, "Logits": 900}, steps), list(KINDS), KINDS
    )
    s = convergence_sentence(table, cadence=100)
    assert "L1 at 200" in s and "Logits at 900" in s
    assert "every convolutional layer settles before every fully connected layer" in s
    assert "converge faster" in s


def test_sentence_early_layers_slower() -> None:
    steps = np.arange(0, 1001, 100)
    table = convergence_table(
        arrays_for({"L1": 900, "L2": 800, "L3": 200, "Logits": 300}, steps), list(KINDS), KINDS
    )
    s = convergence_sentence(table, cadence=100)
    assert "do not converge faster" in s


def test_sentence_mixed_and_indistinguishable() -> None:
    steps = np.arange(0, 1001, 100)
    mixed = convergence_table(
        arrays_for({"L1": 100, "L2": 800, "L3": 500, "Logits": 900}, steps), list(KINDS), KINDS
    )
    assert "somewhat faster" in convergence_sentence(mixed, cadence=100)
    close = convergence_table(
        arrays_for({"L1": 400, "L2": 500, "L3": 500, "Logits": 500}, steps), list(KINDS), KINDS
    )
    s = convergence_sentence(close, cadence=100)
    assert "about the same time" in s and "within one record interval of 100" in s


def test_sentence_without_both_kinds_only_lists() -> None:
    steps = np.arange(0, 301, 100)
    table = convergence_table(
        arrays_for({"L3": 100, "Logits": 200}, steps), ["L3", "Logits"], KINDS
    )
    s = convergence_sentence(table)
    assert "L3 at 100, Logits at 200." in s
    assert "converge" not in s and "same time" not in s
    with pytest.raises(ConvscopeError, match="empty"):
        convergence_sentence([])


def test_sentence_when_nothing_settles_before_the_end() -> None:
    steps = np.arange(0, 401, 100)
    table = convergence_table(arrays_for({"L1": 400, "L3": 400}, steps), ["L1", "L3"], KINDS)
    assert "no layer settles before the last 10% of training" in convergence_sentence(table, 100)
    table = convergence_table(arrays_for({"L1": 100, "L3": 400}, steps), ["L1", "L3"], KINDS)
    s = convergence_sentence(table, 100)
    assert "(L3 still changing at the last record)" in s and "converge faster" in s


def test_sentence_by_statistic_like_a_real_run() -> None:
    """Sparsity settles early in conv layers and late in fc ones; magnitudes drift to the end;
    the logits' zero fraction is constant and left out of the comparison."""
    steps = np.arange(0, 1601, 100)
    arr: dict[str, np.ndarray] = {"steps": steps}
    drift = 1.0 + steps / 1600.0  # grows by 100% over training: never within 5% until the end
    for layer, zf_at in (("L1", 200), ("L2", 100), ("L3", 900)):
        arr[f"{layer}.mean"] = 0.1 * drift
        arr[f"{layer}.std"] = 0.3 * drift
        arr[f"{layer}.zero_fraction"] = np.where(steps < zf_at, 0.2, 0.8)
    arr["Logits.mean"] = -drift
    arr["Logits.std"] = 2 * drift
    arr["Logits.zero_fraction"] = np.zeros(steps.size)
    table = convergence_table(arr, ["L1", "L2", "L3", "Logits"], KINDS)
    assert table[3]["zero_fraction"]["constant"] and not table[0]["zero_fraction"]["constant"]
    s = convergence_sentence(table, cadence=100)
    assert (
        "zero fraction (L1 200, L2 100, L3 900; constant in Logits): every convolutional layer settles before every fully connected layer (mean 150 vs 900 iterations)"
        in s
    )
    assert (
        "mean (L1 1500, L2 1500, L3 1500, Logits 1500) keeps changing in every layer until "
        "the last 10% of training" in s
    )
    assert "; no layer settles before the last 10% of training" in s
