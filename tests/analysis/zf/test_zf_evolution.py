"""Feature evolution across checkpoints (Zeiler & Fergus 2014, Fig. 4)."""

from __future__ import annotations

import pytest
import torch
from zf_nets import make_net

from convscope.analysis.zf.evolution import feature_evolution
from convscope.analysis.zf.topk import topk_per_map
from convscope.errors import ConvscopeError


def recording_loader(models: dict[int, torch.nn.Module]):
    """A checkpoint loader over ``models`` and the list of the steps it was asked for."""
    loaded: list[int] = []

    def load(step: int) -> torch.nn.Module:
        loaded.append(step)
        return models[step]

    return load, loaded


def test_each_column_is_the_top1_of_its_checkpoint() -> None:
    models = {0: make_net("lenet5", seed=20)[0], 50: make_net("lenet5", seed=21)[0]}
    load, loaded = recording_loader(models)
    images = torch.randn((20, 1, 28, 28), dtype=torch.float64)
    ev = feature_evolution([0, 50], load, images, "conv2", maps=[1, 4, 9], batch_size=8)
    assert loaded == [0, 50] and ev.steps.tolist() == [0, 50] and ev.layer == "relu2"
    assert ev.projections.shape == (3, 2, 1, 28, 28)
    for s, step in enumerate([0, 50]):
        t = topk_per_map(models[step], images, "conv2", k=1, maps=[1, 4, 9])
        assert ev.image_index[:, s].tolist() == t.image_index[:, 0].tolist()
        torch.testing.assert_close(ev.values[:, s], t.values[:, 0])
        torch.testing.assert_close(ev.projections[:, s], t.projections[:, 0])
        # the strongest over the whole set: no image has a larger max in that map
        m_ = models[step]
        with torch.no_grad():
            acts = m_.relu2(m_.conv2(m_.pool1(m_.relu1(m_.conv1(images)))))
        for r, m in enumerate([1, 4, 9]):
            assert float(ev.values[r, s]) == pytest.approx(float(acts[:, m].max()))
    with pytest.raises(ConvscopeError, match="steps"):
        feature_evolution([], load, images, "conv2")


def test_several_layers_from_one_pass_per_checkpoint_equal_one_layer_at_a_time() -> None:
    from convscope.analysis.zf.evolution import feature_evolution_of_layers

    models = {0: make_net("lenet5", seed=22)[0], 30: make_net("lenet5", seed=23)[0]}
    load, loaded = recording_loader(models)
    images = torch.randn((24, 1, 28, 28), dtype=torch.float64)
    layers = ["conv1", "conv2", "fc1"]
    many = feature_evolution_of_layers([0, 30], load, images, layers, batch_size=7)
    assert loaded == [0, 30]  # each checkpoint loaded once for all the layers
    for ev, layer in zip(many, layers):
        one = feature_evolution([0, 30], models.__getitem__, images, layer, batch_size=7)
        assert ev.layer == one.layer
        for name, a in ev.arrays().items():
            assert (a == one.arrays()[name]).all(), (layer, name)
    with pytest.raises(ConvscopeError, match="layers"):
        feature_evolution_of_layers([0], load, images, [])


def test_a_map_changing_at_the_last_checkpoint_is_still_changing() -> None:
    from convscope.analysis.zf.evolution import settle_steps

    steps = [0, 10, 20, 30]
    rows = torch.tensor(
        [
            [4, 4, 4, 4],  # settled from the start
            [1, 2, 3, 3],  # settled at step 20
            [1, 1, 1, 2],  # changes between the last two checkpoints: still changing
            [1, 2, 1, 2],
        ]
    )
    assert settle_steps(rows, steps) == [0, 20, None, None]
