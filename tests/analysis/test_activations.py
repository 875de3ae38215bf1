"""Activation statistics: numbers against hand computation, the fixed batch, the callback and
TensorBoard."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hook_checks import no_hooks_left
from torch import nn

from convscope.analysis.hook_points import capture, find_hook_points
from convscope.config import RunConfig
from convscope.data.base import Dataset, Normalize, Split
from convscope.errors import ConvscopeError
from convscope.models import LeNet5, RowRNN
from convscope.studies.activations.compute import (
    PERCENTILES,
    ActivationMeter,
    ActivationStatsCallback,
    dead_units,
    fixed_batch_indices,
    layer_stats,
    rows_to_arrays,
    stats_row,
    write_tensorboard,
)
from convscope.train.loop import StepContext


# --- a tiny hand-set model --------------------------------------------------------------------
def tiny() -> nn.Sequential:
    """conv 2x2 (2 maps) -> ReLU -> flatten -> fc 8->3 -> ReLU -> fc 3->2, integer-ish weights."""
    m = nn.Sequential(
        nn.Conv2d(1, 2, kernel_size=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8, 3),
        nn.ReLU(),
        nn.Linear(3, 2),
    )
    with torch.no_grad():
        m[0].weight.copy_(torch.tensor([[[[1.0, 0.0], [0.0, -1.0]]], [[[0.5, 0.5], [0.5, 0.5]]]]))
        m[0].bias.copy_(torch.tensor([0.0, -1.0]))
        m[3].weight.copy_(
            torch.tensor(
                [
                    [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
                    [-1.0, -1.0, -1.0, -1.0, 0.0, 0.0, 0.0, 0.0],
                    [0.5, -0.5, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0],
                ]
            )
        )
        m[3].bias.copy_(torch.tensor([0.0, 0.5, -0.25]))
        m[5].weight.copy_(torch.tensor([[1.0, -1.0, 2.0], [0.0, 1.0, -1.0]]))
        m[5].bias.copy_(torch.tensor([0.1, -0.1]))
    return m


X = torch.tensor(
    [
        [[[1.0, 2.0, 0.0], [0.0, 3.0, 1.0], [2.0, 0.0, 1.0]]],
        [[[0.0, 1.0, 1.0], [2.0, 0.0, 0.0], [1.0, 1.0, 3.0]]],
    ]
)


def hand_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tiny model by explicit loops: (relu(conv), relu(fc1), fc2)."""
    w = [np.array([[1.0, 0.0], [0.0, -1.0]]), np.full((2, 2), 0.5)]
    b = [0.0, -1.0]
    a1 = np.zeros((2, 2, 2, 2))
    for n in range(2):
        for c in range(2):
            for i in range(2):
                for j in range(2):
                    a1[n, c, i, j] = max(
                        0.0, float((x[n, 0, i : i + 2, j : j + 2] * w[c]).sum() + b[c])
                    )
    w1 = np.array(
        [
            [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
            [-1.0, -1.0, -1.0, -1.0, 0.0, 0.0, 0.0, 0.0],
            [0.5, -0.5, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0],
        ]
    )
    a2 = np.zeros((2, 3))
    for n in range(2):
        flat = a1[n].reshape(-1)  # (C, H, W) order, as nn.Flatten
        for u in range(3):
            a2[n, u] = max(
                0.0, float(sum(w1[u, k] * flat[k] for k in range(8))) + [0.0, 0.5, -0.25][u]
            )
    w2 = np.array([[1.0, -1.0, 2.0], [0.0, 1.0, -1.0]])
    logits = np.array(
        [
            [sum(w2[o, u] * a2[n, u] for u in range(3)) + [0.1, -0.1][o] for o in range(2)]
            for n in range(2)
        ]
    )
    return a1, a2, logits


def hand_stats(values: np.ndarray, units: np.ndarray, bins: int) -> dict[str, Any]:
    v = sorted(float(t) for t in values.ravel())
    n = len(v)
    mean = sum(v) / n
    std = math.sqrt(sum((t - mean) ** 2 for t in v) / n)
    pct = []
    for q in PERCENTILES:
        pos = (n - 1) * q / 100
        lo = math.floor(pos)
        hi = min(lo + 1, n - 1)
        pct.append(v[lo] + (pos - lo) * (v[hi] - v[lo]))
    counts, edges = np.histogram(np.array(v), bins=bins)
    return {
        "mean": mean,
        "std": std,
        "zero_fraction": sum(t == 0.0 for t in v) / n,
        "min": v[0],
        "max": v[-1],
        "percentiles": pct,
        "hist_edges": edges.tolist(),
        "hist_counts": counts.tolist(),
        "unit_max": units.tolist(),
    }


class InplaceAfterConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2 * 3 * 3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.conv(x), inplace=True).flatten(1))


def test_capture_is_not_changed_by_a_later_inplace_op() -> None:
    torch.manual_seed(0)
    m = InplaceAfterConv()
    x = torch.randn(2, 1, 5, 5)
    pts = find_hook_points(m, x)
    assert (pts[0].module, pts[0].after) == ("relu", "relu (function)")  # post-activation
    with torch.no_grad():
        torch.testing.assert_close(capture(m, x, pts)["Layer_1_Activations"], F.relu(m.conv(x)))
    raw = dataclasses.replace(
        pts[0], module="conv", after="none", index=0
    )  # the conv output itself
    a = capture(m, x, [raw, pts[1]])["Layer_1_Activations"]
    with torch.no_grad():
        torch.testing.assert_close(a, m.conv(x))  # negatives included: a copy, not overwritten
    assert float(a.min()) < 0
    # the meter computes inside the hook: the same numbers, no copy needed
    row = ActivationMeter(x).measure(m, 0)
    assert row["layers"] == stats_row(0, capture(m, x, pts), pts)["layers"]
    assert row["layers"]["Layer_1_Activations"]["min"] == 0  # after the in-place F.relu
    # dead units too: measured after the functional rectifier
    dead = dead_units(m, (x.clamp(-1, 1) * 127 + 128).to(torch.uint8), Normalize(), batch_size=1)
    assert dead["Layer_1_Activations"]["after"] == "relu (function)"


# --- numbers against the hand computation -----------------------------------------------------
def test_statistics_equal_hand_computation_on_a_tiny_model() -> None:
    m = tiny()
    a1, a2, logits = hand_forward(X.numpy().astype(np.float64))
    row = ActivationMeter(X, bins=5).measure(m, step=7)
    assert row["step"] == 7 and row["n_images"] == 2
    assert list(row["layers"]) == ["Layer_1_Activations", "Layer_2_Activations", "Logits"]
    want = {
        "Layer_1_Activations": hand_stats(a1, a1.max(axis=(0, 2, 3)), 5),
        "Layer_2_Activations": hand_stats(a2, a2.max(axis=0), 5),
        "Logits": hand_stats(logits, logits.max(axis=0), 5),
    }
    # the hand model really has zeros, negatives and several distinct values
    assert 0 < want["Layer_1_Activations"]["zero_fraction"] < 1
    assert want["Logits"]["min"] < 0
    for name, w in want.items():
        got = row["layers"][name]
        for key in ("mean", "std", "zero_fraction", "min", "max"):
            assert got[key] == pytest.approx(w[key], rel=1e-6, abs=1e-7), (name, key)
        for key in ("percentiles", "hist_edges", "unit_max"):
            np.testing.assert_allclose(
                got[key], w[key], rtol=1e-6, atol=1e-7, err_msg=f"{name} {key}"
            )
        assert got["hist_counts"] == w["hist_counts"], name
        assert sum(got["hist_counts"]) == a1.size if name.startswith("Layer_1") else True
    assert no_hooks_left(m)


def test_histogram_values_on_bin_edges_follow_numpy() -> None:
    values = torch.tensor([[0.0, 2.0, 2.0, 4.0, 5.0, 6.0, 8.0, 10.0, 10.0, 1.0]])  # edges 0,2,..,10
    s = layer_stats(values, "linear", bins=5)
    counts, edges = np.histogram(values.numpy(), bins=5)
    assert s["hist_counts"] == counts.tolist() == [2, 2, 2, 1, 3]
    np.testing.assert_allclose(s["hist_edges"], edges)


def test_constant_layer_and_nonfinite_values() -> None:
    s = layer_stats(torch.zeros(4, 3), "linear", bins=4)
    assert s["zero_fraction"] == 1.0 and s["std"] == 0.0 and sum(s["hist_counts"]) == 12
    assert s["hist_edges"][0] == -0.5 and s["hist_edges"][-1] == 0.5
    t = torch.tensor([[1.0, float("nan")], [3.0, float("inf")]])
    s = layer_stats(t, "linear", bins=2)
    assert s["mean"] == 2.0 and s["nonfinite_fraction"] == 0.5
    with pytest.raises(ConvscopeError, match="NaN or infinite"):
        layer_stats(torch.full((2, 2), float("nan")), "linear")


def test_recurrent_statistics_per_time_step() -> None:
    torch.manual_seed(1)
    m = RowRNN("gru", hidden_size=5, image_size=4)
    x = torch.randn(3, 1, 4, 4)
    row = ActivationMeter(x).measure(m, 0)
    s = row["layers"]["Layer_1_Activations"]
    with torch.no_grad():
        h = m.hidden_states(x).double().numpy()  # (B, T, H)
    np.testing.assert_allclose(s["step_mean"], h.mean(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(s["step_std"], h.std(axis=(0, 2)), rtol=1e-5)
    np.testing.assert_allclose(s["step_zero_fraction"], (h == 0).mean(axis=(0, 2)))
    np.testing.assert_allclose(s["unit_max"], h.max(axis=(0, 1)), rtol=1e-6)
    assert s["mean"] == pytest.approx(h.mean(), rel=1e-5)
    assert len(s["step_mean"]) == 4


# --- fixed batch, callback, TensorBoard -------------------------------------------------------
def test_fixed_batch_is_deterministic_and_leaves_the_global_rng_alone() -> None:
    before = torch.get_rng_state()
    a = fixed_batch_indices(1000, 256)
    b = fixed_batch_indices(1000, 256)
    assert torch.equal(before, torch.get_rng_state())
    np.testing.assert_array_equal(a, b)
    assert len(a) == 256 and len(set(a.tolist())) == 256 and np.all(np.diff(a) > 0)
    assert len(fixed_batch_indices(10, 256)) == 10
    with pytest.raises(ConvscopeError, match="activation_stats_size"):
        fixed_batch_indices(10, 0)


def small_dataset(n: int = 40, size: int = 8) -> Dataset:
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (n, 1, size, size), generator=g, dtype=torch.uint8)
    labels = torch.arange(n) % 3
    return Dataset(
        "fake",
        Split(imgs, labels),
        Split(imgs.clone(), labels.clone()),
        ("a", "b", "c"),
        "test data",
    )


@dataclass
class FakeRecords:
    rows: list[tuple[str, dict]] = field(default_factory=list)

    def append(self, stream: str, row: dict) -> None:
        assert "step" in row
        self.rows.append((stream, row))


@dataclass
class FakeTB:
    calls: list[tuple[str, str, int]] = field(default_factory=list)

    def add_histogram_raw(self, tag: str, **kw: Any) -> None:
        assert len(kw["bucket_limits"]) == len(kw["bucket_counts"])
        self.calls.append(("hist", tag, kw["global_step"]))

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        assert math.isfinite(value)
        self.calls.append(("scalar", tag, step))


def test_callback_writes_records_and_tensorboard_without_touching_training(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ds = small_dataset()
    model = LeNet5(image_size=8, num_classes=3, dropout=0.5).train()
    params = {k: v.clone() for k, v in model.state_dict().items()}
    ctx = StepContext(  # the loop's own context type
        0,
        model,
        ds,
        Normalize([0.5], [0.25]),
        torch.device("cpu"),
        RunConfig(),
        tmp_path,
        FakeTB(),
        FakeRecords(),
    )
    cb = ActivationStatsCallback(every=10, size=16)
    assert cb.every == 10
    rng = torch.get_rng_state()
    cb(ctx)
    ctx.step = 10
    cb(ctx)
    assert torch.equal(rng, torch.get_rng_state())
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, params[k]), k
    assert [(s, r["step"]) for s, r in ctx.records.rows] == [
        ("activations", 0),
        ("activations", 10),
    ]
    row = ctx.records.rows[0][1]
    assert row["n_images"] == 16
    assert set(row["layers"]) == {
        "Layer_1_Activations",
        "Layer_2_Activations",
        "Layer_3_Activations",
        "Logits",
    }
    assert row["points"]["Layer_1_Activations"]["module"] == "relu1"
    assert ("hist", "Layer_1_Activations", 0) in ctx.tb.calls
    assert ("scalar", "Logits/mean", 10) in ctx.tb.calls
    assert ("scalar", "Layer_3_Activations/zero_fraction", 10) in ctx.tb.calls
    # eval mode during the measurement: dropout off, so the same weights give the same numbers
    assert ctx.records.rows[0][1]["layers"] == ctx.records.rows[1][1]["layers"]
    # same images as an independent computation on the fixed indices
    idx = torch.from_numpy(fixed_batch_indices(len(ds.test), 16))
    model.eval()
    with torch.no_grad():
        logits = model(Normalize([0.5], [0.25])(ds.test.images[idx]))
    assert row["layers"]["Logits"]["mean"] == pytest.approx(float(logits.double().mean()), rel=1e-5)
    assert no_hooks_left(model)


def test_callback_on_a_recurrent_model(tmp_path: Path) -> None:
    ds = small_dataset()
    model = RowRNN("lstm", hidden_size=4, image_size=8, num_classes=3)
    ctx = StepContext(  # the loop's own context type
        0, model, ds, Normalize(), torch.device("cpu"), RunConfig(), tmp_path, None, FakeRecords()
    )
    ActivationStatsCallback(every=1, size=5)(ctx)
    ((_, row),) = ctx.records.rows
    assert row["points"]["Layer_1_Activations"]["kind"] == "recurrent"
    assert len(row["layers"]["Layer_1_Activations"]["step_mean"]) == 8
    assert len(row["layers"]["Logits"]["unit_max"]) == 3


def test_callback_rejects_bad_settings() -> None:
    with pytest.raises(ConvscopeError, match="activation_stats_every"):
        ActivationStatsCallback(every=0)
    with pytest.raises(ConvscopeError, match="activation_stats_size"):
        ActivationStatsCallback(every=5, size=0)


def test_real_tensorboard_histograms_can_be_read_back(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    row = ActivationMeter(X).measure(tiny(), 3)
    tb = SummaryWriter(str(tmp_path))
    write_tensorboard(tb, row)
    tb.close()
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert set(acc.Tags()["histograms"]) == {"Layer_1_Activations", "Layer_2_Activations", "Logits"}
    h = acc.Histograms("Layer_1_Activations")[0]
    assert h.step == 3 and h.histogram_value.num == 16
    a1, _, _ = hand_forward(X.numpy().astype(np.float64))
    assert h.histogram_value.sum_squares == pytest.approx(float((a1**2).sum()), rel=1e-6)
    assert h.histogram_value.sum == pytest.approx(float(a1.sum()), rel=1e-6)
    assert acc.Scalars("Layer_2_Activations/mean")[0].value == pytest.approx(
        row["layers"]["Layer_2_Activations"]["mean"]
    )


def test_rows_to_arrays_stacks_by_step() -> None:
    meter = ActivationMeter(X, bins=4)
    rows = [meter.measure(tiny(), s) for s in (20, 0, 10)]
    arr = rows_to_arrays(rows)
    np.testing.assert_array_equal(arr["steps"], [0, 10, 20])
    again = dict(rows[1], layers={k: dict(v, mean=-1.0) for k, v in rows[1]["layers"].items()})
    dedup = rows_to_arrays([*rows, again])  # step 0 twice: the later record wins
    np.testing.assert_array_equal(dedup["steps"], [0, 10, 20])
    assert dedup["Logits.mean"][0] == -1.0
    assert arr["Layer_1_Activations.mean"].shape == (3,)
    assert arr["Layer_1_Activations.percentiles"].shape == (3, 7)
    assert arr["Layer_1_Activations.hist_edges"].shape == (3, 5)
    assert arr["Layer_1_Activations.hist_counts"].dtype == np.int64
    assert arr["Layer_2_Activations.unit_max"].shape == (3, 3)
    with pytest.raises(ConvscopeError, match="no records"):
        rows_to_arrays([])


# --- dead units -------------------------------------------------------------------------------
def test_dead_units_over_batches() -> None:
    m = nn.Sequential(
        nn.Conv2d(1, 3, 2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3 * 3 * 3, 4),
        nn.ReLU(),
        nn.Linear(4, 2),
    )
    with torch.no_grad():
        m[0].weight.copy_(
            torch.stack([torch.ones(1, 2, 2), -torch.ones(1, 2, 2), torch.ones(1, 2, 2)])
        )
        m[0].bias.copy_(torch.tensor([0.0, -0.1, -10.0]))  # map 1 never fires; map 2 rarely
        m[3].weight.fill_(0.01)
        m[3].weight[2].fill_(-0.01)  # unit 2 sees only non-negative inputs with negative weights
        m[3].bias.fill_(0.0)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (50, 1, 4, 4), generator=g, dtype=torch.uint8)
    images[7] = 255  # the only image that wakes map 2: 4 * 1.0 - 10 < 0 ... still dead
    norm = Normalize()  # [0, 1] inputs, never negative
    out = dead_units(m, images, norm, batch_size=7)
    assert set(out) == {"Layer_1_Activations", "Layer_2_Activations"}
    l1 = out["Layer_1_Activations"]
    assert (
        l1["dead"] == [1, 2] and l1["n_units"] == 3 and l1["dead_fraction"] == pytest.approx(2 / 3)
    )
    assert out["Layer_2_Activations"]["dead"] == [2]
    # batched maxima equal one big batch computed directly
    with torch.no_grad():
        a1 = F.relu(m[0](norm(images)))
    np.testing.assert_allclose(l1["unit_max"], a1.amax(dim=(0, 2, 3)).numpy(), rtol=1e-6)
    assert dead_units(m, images, norm, batch_size=50) == out
    assert no_hooks_left(m)
    with pytest.raises(ConvscopeError, match="batch_size"):
        dead_units(m, images, norm, batch_size=0)
