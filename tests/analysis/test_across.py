"""Pure helpers of the across analysis against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from convscope.errors import ConvscopeError
from convscope.studies.across.compute import dead_over_training, half_dead_step, relative_change


def test_pure_helpers_against_brute_force() -> None:
    um = np.array([[1.0, 0.0, -2.0], [0.0, 0.0, 5.0]])
    n, f = dead_over_training(um)
    assert n.tolist() == [2, 2] and f.tolist() == [2 / 3, 2 / 3]
    rng = np.random.default_rng(0)
    a = {"l.weight": rng.normal(size=(3, 4)), "l.bias": rng.normal(size=3), "m.w": np.ones(2)}
    b = {k: v + rng.normal(size=v.shape) for k, v in a.items()}
    got = relative_change(a, b)
    flat_a = np.concatenate([a["l.weight"].ravel(), a["l.bias"]])
    flat_b = np.concatenate([b["l.weight"].ravel(), b["l.bias"]])
    assert got["l"] == pytest.approx(np.linalg.norm(flat_b - flat_a) / np.linalg.norm(flat_a))
    assert got["m"] == pytest.approx(np.linalg.norm(b["m.w"] - 1) / np.sqrt(2))
    with pytest.raises(ConvscopeError, match="missing"):
        relative_change(a, {"l.weight": a["l.weight"]})
    assert np.isnan(relative_change({"z.w": np.zeros(2)}, {"z.w": np.ones(2)})["z"])
    assert half_dead_step(np.array([0, 10, 20]), np.array([0, 2, 4])) == 10
    assert half_dead_step(np.array([0, 10]), np.array([0, 0])) is None
