"""Where activations are taken (read from the one layer graph: module, functional and graph
rules), what is captured (against plain forward code on the unmodified model), and that the
model is left as it was."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hook_checks import no_hooks_left
from torch import nn

from convscope.analysis.hook_points import capture, find_hook_points
from convscope.models import LeNet5, RowRNN


# --- where the hooks go -----------------------------------------------------------------------
def test_lenet5_hook_points_follow_the_reference() -> None:
    pts = find_hook_points(LeNet5(), torch.zeros(2, 1, 28, 28))
    got = [(p.name, p.layer, p.module, p.kind, p.after) for p in pts]
    assert got == [
        ("Layer_1_Activations", "conv1", "relu1", "conv", "ReLU"),
        ("Layer_2_Activations", "conv2", "relu2", "conv", "ReLU"),
        ("Layer_3_Activations", "fc1", "relu3", "linear", "ReLU"),
        ("Logits", "fc2", "fc2", "logits", "none"),
    ]


class SharedAct(nn.Module):
    """One ReLU module used after two layers, BatchNorm before it, a functional tanh."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.act = nn.ReLU()
        self.c2 = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 4 * 4, 5)
        self.out = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn(self.c1(x)))
        x = self.act(self.c2(x))
        x = torch.tanh(self.fc(x.flatten(1)))  # functional: taken after the tanh
        return self.out(x)


def test_shared_activation_norm_and_functional_nonlinearity() -> None:
    torch.manual_seed(0)
    m = SharedAct()
    x = torch.randn(3, 1, 6, 6)
    pts = find_hook_points(m, x[:2])
    assert [(p.name, p.module, p.after) for p in pts] == [
        ("Layer_1_Activations", "act", "ReLU"),
        ("Layer_2_Activations", "act_1", "ReLU"),  # the module's second call: its fx name
        ("Layer_3_Activations", "tanh", "tanh (function)"),
        ("Logits", "out", "none"),
    ]
    acts = capture(m, x, pts)
    m.eval()
    with torch.no_grad():
        a1 = F.relu(m.bn(m.c1(x)))
        a2 = F.relu(m.c2(a1))
        a3 = torch.tanh(m.fc(a2.flatten(1)))
        logits = m.out(a3)
    for name, want in zip(
        ["Layer_1_Activations", "Layer_2_Activations", "Layer_3_Activations", "Logits"],
        [a1, a2, a3, logits],
    ):
        torch.testing.assert_close(acts[name], want)
    assert no_hooks_left(m)


def test_model_without_linear_uses_its_output_as_logits() -> None:
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    pts = find_hook_points(m, torch.zeros(2, 1, 5, 5))
    assert [(p.name, p.module) for p in pts] == [("Layer_1_Activations", "1"), ("Logits", "3")]
    x = torch.randn(2, 1, 5, 5)
    torch.testing.assert_close(capture(m, x, pts)["Logits"], m(x))
    assert no_hooks_left(m)


def test_recurrent_model_hooks_the_rnn_and_the_head() -> None:
    m = RowRNN("lstm", hidden_size=6, image_size=4)
    pts = find_hook_points(m, torch.zeros(2, 1, 4, 4))
    assert [(p.name, p.module, p.kind) for p in pts] == [
        ("Layer_1_Activations", "rnn", "recurrent"),
        ("Logits", "fc", "logits"),
    ]


def test_rnn_that_is_not_batch_first_is_transposed() -> None:
    class TimeFirst(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.RNN(4, 3)  # (T, B, H)
            self.fc = nn.Linear(3, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.rnn(x[:, 0].permute(1, 0, 2))
            return self.fc(out[-1])

    torch.manual_seed(0)
    m = TimeFirst()
    x = torch.randn(2, 1, 5, 4)  # B=2, T=5
    acts = capture(m, x, find_hook_points(m, x))
    assert acts["Layer_1_Activations"].shape == (2, 5, 3)


# --- the model is left as it was ------------------------------------------------------------
class Raise(nn.Module):
    fail = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _maybe_raise(x, self)


@torch.fx.wrap
def _maybe_raise(x: torch.Tensor, m: nn.Module) -> torch.Tensor:
    if getattr(m, "fail", False):
        raise RuntimeError("boom")
    return x


def test_no_hooks_are_registered() -> None:
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 3 * 3, 2))
    x = torch.randn(2, 1, 5, 5)
    capture(m, x, find_hook_points(m, x))
    assert no_hooks_left(m)


def test_training_mode_is_restored_even_after_an_exception() -> None:
    m = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), Raise(), nn.Linear(3, 2)).train()
    pts = find_hook_points(m, torch.zeros(2, 3))
    assert m.training
    m[2].fail = True
    with pytest.raises(RuntimeError):
        capture(m, torch.zeros(2, 3), pts)
    assert m.training and all(c.training for c in m.children())


def test_functional_rectifiers_are_post_activation_points() -> None:
    """small_bn_cnn's third block uses F.relu; a residual model uses F.relu after an add and
    x.relu_(): each is taken after its rectifier (was: the raw conv output, 0% zeros)."""
    import torch.nn.functional as F

    from convscope.analysis.hook_points import capture, find_hook_points
    from convscope.models.examples import small_bn_cnn

    torch.manual_seed(0)
    m = small_bn_cnn().eval()
    x = torch.randn(4, 3, 32, 32)
    points = find_hook_points(m, x[:2])
    p3 = next(p for p in points if p.name == "Layer_3_Activations")
    assert (p3.layer, p3.module, p3.after) == ("conv3", "relu", "relu (function)")
    out = capture(m, x, points)
    with torch.no_grad():
        h = m.pool2(m.relu2(m.bn2(m.conv2(m.pool1(m.relu1(m.bn1(m.conv1(x))))))))
        want = F.relu(m.bn3(m.conv3(h)))
    torch.testing.assert_close(out["Layer_3_Activations"], want)
    assert float((out["Layer_3_Activations"] == 0).float().mean()) > 0.2

    class Res(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(1, 3, 3, padding=1), nn.Conv2d(3, 3, 3, padding=1)
            self.act = nn.ReLU()
            self.fc = nn.Linear(3 * 6 * 6, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.act(self.c1(x))
            x = F.relu(x + self.c2(x))
            return self.fc(x.relu_().flatten(1))

    r = Res().eval()
    xr = torch.randn(3, 1, 6, 6)
    pts = find_hook_points(r, xr)
    assert [(p.layer, p.module) for p in pts] == [("c1", "act"), ("c2", "relu"), ("fc", "fc")]
    got = capture(r, xr, pts)["Layer_2_Activations"]
    with torch.no_grad():
        h1 = torch.relu(r.c1(xr))
        torch.testing.assert_close(got, torch.relu(h1 + r.c2(h1)))


def test_residual_blocks_are_measured_after_their_rectified_sum() -> None:
    """resnet8: a block's last conv is measured after the ReLU of the residual sum (its own
    output is followed by an add, then the rectifier); the projection conv keeps its output."""
    from convscope.config import ModelConfig
    from convscope.models import build_model

    torch.manual_seed(0)
    m = build_model(ModelConfig(model="resnet8"), (3, 16, 16), 10).eval()
    x = torch.randn(4, 3, 16, 16)
    pts = {p.layer: p for p in find_hook_points(m, x[:2])}
    assert (pts["layer1.conv2"].module, pts["layer1.conv2"].after) == ("layer1.relu2", "ReLU")
    assert pts["layer2.conv2"].module == "layer2.relu2"
    assert (pts["layer2.shortcut.0"].module, pts["layer2.shortcut.0"].after) == (
        "layer2.shortcut.0",
        "none",
    )
    got = capture(m, x, list(pts.values()))[pts["layer2.conv2"].name]
    with torch.no_grad():
        b = m.layer2
        h = m.layer1(m.relu(m.bn1(m.conv1(x))))
        want = torch.relu(b.bn2(b.conv2(b.relu1(b.bn1(b.conv1(h))))) + b.shortcut(h))
    torch.testing.assert_close(got, want)
