"""First-layer filters: found in any model, channel reduction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from convscope.analysis.filters import first_conv, first_conv_weights, reduce_channels
from convscope.errors import ConvscopeError
from convscope.models import LeNet5, RowRNN


class Nested(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(4, 2)  # registered first, but not a conv
        self.body = nn.Sequential(nn.Sequential(nn.Conv2d(3, 6, 3)), nn.ReLU(), nn.Conv2d(6, 2, 1))


def test_first_conv_of_lenet_is_conv1() -> None:
    m = LeNet5(in_channels=1)
    name, conv = first_conv(m)
    assert name == "conv1" and conv is m.conv1
    w = first_conv_weights(m)
    assert w.shape == (32, 1, 5, 5) and w.dtype == np.float64
    np.testing.assert_array_equal(w, m.conv1.weight.detach().double().numpy())
    w[0, 0, 0, 0] = 123.0  # a copy, not a view of the parameter
    assert float(m.conv1.weight.detach()[0, 0, 0, 0]) != 123.0


def test_first_conv_in_a_nested_model() -> None:
    m = Nested()
    name, conv = first_conv(m)
    assert name == "body.0.0" and conv is m.body[0][0]
    assert first_conv_weights(m).shape == (6, 3, 3, 3)


def test_model_without_conv_raises() -> None:
    with pytest.raises(ConvscopeError, match="RowRNN: has no nn.Conv2d"):
        first_conv_weights(RowRNN("gru"))


def test_reduce_one_channel_is_identity() -> None:
    w = np.random.default_rng(0).standard_normal((4, 1, 5, 5))
    maps, kept = reduce_channels(w)
    np.testing.assert_array_equal(maps, w[:, 0])
    np.testing.assert_array_equal(kept, 1.0)


def test_principal_channel_of_a_rank_one_filter() -> None:
    rng = np.random.default_rng(1)
    m = rng.standard_normal((5, 5))
    colour = np.array([1.0, -1.0, 0.5])  # opponent colours: the channel mean nearly cancels
    w = (colour[:, None, None] * m)[None]
    maps, kept = reduce_channels(w, "principal")
    assert kept[0] == pytest.approx(1.0)
    # the map is m up to a positive scale (signed like the channel sum, which is +0.5)
    scale = maps[0].ravel() @ m.ravel() / (m.ravel() @ m.ravel())
    assert scale > 0
    np.testing.assert_allclose(maps[0], scale * m, atol=1e-12)
    mean_maps, mean_kept = reduce_channels(w, "mean")
    np.testing.assert_allclose(mean_maps[0], m * colour.mean())
    # energy kept by the uniform channel direction: C * ||mean||^2 / ||w||^2 = (sum c)^2 / (C |c|^2)
    assert mean_kept[0] == pytest.approx(colour.sum() ** 2 / (3 * (colour**2).sum()))


def test_bad_weights_raise() -> None:
    with pytest.raises(ConvscopeError, match=r"\(F, C, kh, kw\)"):
        reduce_channels(np.zeros((3, 5, 5)))
    with pytest.raises(ConvscopeError, match="'principal' or 'mean'"):
        reduce_channels(np.zeros((1, 3, 5, 5)), "median")  # type: ignore[arg-type]
    with pytest.raises(ConvscopeError, match="NaN"):
        reduce_channels(np.full((1, 1, 3, 3), np.nan))


def test_first_conv_weights_reflect_current_weights() -> None:
    m = LeNet5()
    with torch.no_grad():
        m.conv1.weight.fill_(1.0)
    assert float(first_conv_weights(m).sum()) == pytest.approx(32 * 25)
