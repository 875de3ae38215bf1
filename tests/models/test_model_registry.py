"""The one model registry: every built-in kind builds, and its facts are read from one place."""

from __future__ import annotations

import pytest
import torch

from convscope.config import from_flat
from convscope.experiments.run import image_cost
from convscope.models import KINDS, REGISTRY, build_model, register_model
from convscope.report import observations
from convscope.train import precision


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_registered_kind_builds_and_answers_a_batch(name):
    cfg = from_flat({"model": name}).model
    model = build_model(cfg, (1, 28, 28), 10)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_the_facts_other_modules_use_come_from_the_registry():
    assert list(REGISTRY) == list(KINDS)
    rec = {k for k, v in KINDS.items() if v.recurrent}
    assert rec == {"rnn", "lstm", "gru"}
    assert rec == precision.RECURRENT and set(observations.RECURRENT) == rec
    assert precision.BF16_MIN_HIDDEN == {"rnn": 256, "lstm": 64, "gru": 128}
    gru = KINDS["gru"]
    small = from_flat({"model": "gru", "hidden_size": 32})
    a, b = gru.cost
    assert image_cost(small) == pytest.approx(a + b * (32 / 256) ** 1.5)
    assert image_cost(from_flat({"model": "lenet5"})) == 1.0


def test_a_kind_registered_later_is_seen_by_precision_and_scheduling(monkeypatch):
    monkeypatch.setattr("convscope.models.registry.KINDS", dict(KINDS))
    from convscope.models import registry

    monkeypatch.setattr(precision, "KINDS", registry.KINDS)
    register_model("tiny_cell", recurrent=True, bf16=True, bf16_min_hidden=512, cost=(1.0, 1.0))(
        KINDS["gru"].build
    )
    assert not precision._measured_faster("tiny_cell", 256)
    assert precision._measured_faster("tiny_cell", 512)
    with pytest.raises(ValueError, match="registered twice"):
        register_model("tiny_cell")(KINDS["gru"].build)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 29, 31), (3, 48, 20), (1, 7, 9)])
def test_lenet5_flatten_size_is_what_its_layers_give(shape: tuple[int, int, int]) -> None:
    """LeNet5 computes its flatten size from the input shape (no trial forward pass, which
    costs seconds on the meta device); oracle: the layers run on real zeros."""
    from convscope.models.lenet import LeNet5

    c, h, w = shape
    net = LeNet5(in_channels=c, image_size=(h, w), num_classes=10)
    with torch.no_grad():
        names = [n for n, _ in net.named_children()]
        feats = torch.nn.Sequential(*list(net.children())[: names.index("flatten") + 1])
        assert feats(torch.zeros(2, c, h, w)).shape[1] == net.flatten_size == net.fc1.in_features
        assert net(torch.zeros(2, c, h, w)).shape == (2, 10)
