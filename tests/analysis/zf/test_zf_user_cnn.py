"""Every analysis on a second architecture, loaded by import path: three conv layers with
batch norm, functional ReLU, 3-channel 32x32 inputs (convscope.models.examples:small_bn_cnn)."""

from __future__ import annotations

import torch
from zf_nets import autograd_projection, randomize_bn

from convscope.analysis import zf
from convscope.config import ModelConfig
from convscope.models import build_model
from convscope.studies.correspondence.compute import correspondence, correspondence_summary
from convscope.studies.evolution.figures import evolution_grid
from convscope.studies.invariance.compute import invariance_curves, invariance_summary
from convscope.studies.topk.figures import topk_grid


def test_every_analysis_on_small_bn_cnn(tmp_path) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(model="convscope.models.examples:small_bn_cnn"), (3, 32, 32), 10
    )
    model = randomize_bn(model, torch.Generator().manual_seed(1)).eval()
    chain = zf.trace_chain(model)
    assert [chain.names[i] for i in chain.default_layers()] == ["relu1", "relu2", "relu"]
    gen = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (30, 3, 32, 32), generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, 10, (30,), generator=gen)

    def tf(x: torch.Tensor) -> torch.Tensor:
        return (x.float() / 255.0 - 0.5) / 0.25

    rfs = zf.receptive_fields(chain)
    assert rfs[chain.index("relu")].size == (18, 18)  # 3 -> 4 -> 8 -> 10 -> 18
    for layer in ("conv1", "conv2", "conv3", "fc1"):
        t = zf.topk_per_map(model, images, layer, k=9, maps=[0, 5], transform=tf)
        assert t.projections.shape == (2, 9, 3, 32, 32)
        assert t.patches.dtype == torch.uint8
        # the top projection matches autograd with the deconvnet ReLU rule
        n, y, x = int(t.image_index[0, 0]), int(t.y[0, 0]), int(t.x[0, 0])
        want = autograd_projection(
            model,
            tf(images[n]),
            t.layer,
            0,
            y if layer != "fc1" else None,
            x if layer != "fc1" else None,
        )
        torch.testing.assert_close(t.projections[0, 0], want, rtol=1e-4, atol=1e-5)
        topk_grid(t.projection_patches, t.patches, maps=t.maps).savefig(
            tmp_path / f"{layer}.png", dpi=30
        )

    ev = zf.feature_evolution([0, 1], lambda s: model, images, "conv3", maps=[0, 1], transform=tf)
    assert torch.equal(ev.image_index[:, 0], ev.image_index[:, 1])
    evolution_grid(ev.projections, ev.steps).savefig(tmp_path / "evo.png", dpi=30)

    occ = zf.occlusion_maps(
        model, images[:2], labels[:2], "conv3", transform=tf, fill=[0.1, 0.2, 0.3]
    )
    assert occ.activation.shape == (2, 13, 13)  # 8 px square, stride 2 over 32 px
    s = zf.occlusion_summary(occ, (32, 32), [str(i) for i in range(10)])
    assert s["observation"]

    inv = invariance_curves(model, images[:5], labels[:5], transform=tf)
    assert (inv.low_layer, inv.high_layer) == ("relu1", "relu4")
    assert inv.curves["rotate"]["prob_true"].shape == (5, 19)
    assert invariance_summary(inv)["observation"]

    cor = correspondence(model, images[:10], transform=tf)
    assert cor.layers == ["relu1", "relu2", "relu", "relu4"] and cor.mean.shape == (6, 4)
    assert correspondence_summary(cor)["observation"]
