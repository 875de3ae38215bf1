"""Figures for the Zeiler & Fergus analyses: arrays in, Figure out."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from convscope.plots import images as pz
from convscope.studies.correspondence.figures import correspondence_table_figure
from convscope.studies.evolution.figures import evolution_grid
from convscope.studies.invariance.figures import invariance_figure
from convscope.studies.occlusion.figures import occlusion_figure
from convscope.studies.topk.figures import topk_grid


def test_signed_to_unit_puts_zero_at_grey() -> None:
    p = np.array([[[-2.0, 0.0, 1.0]]])
    np.testing.assert_allclose(pz.signed_to_unit(p), [[[0.0, 0.5, 0.75]]])
    np.testing.assert_allclose(pz.signed_to_unit(np.zeros((1, 2, 2))), 0.5)
    np.testing.assert_allclose(pz.image_to_unit(np.array([[[0, 255]]], dtype=np.uint8)), [[[0, 1]]])


def test_figures_render(tmp_path) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    classes = [f"c{i}" for i in range(10)]
    figs = {
        "topk": topk_grid(
            rng.normal(size=(5, 9, 3, 8, 8)),
            rng.integers(0, 256, size=(5, 9, 3, 8, 8), dtype=np.uint8),
            maps=[0, 3, 5, 7, 9],
            title="conv2",
        ),
        "topk_noimg": topk_grid(rng.normal(size=(2, 4, 1, 6, 6))),
        "evolution": evolution_grid(rng.normal(size=(4, 3, 1, 12, 12)), [0, 10, 100]),
        "occlusion": occlusion_figure(
            rng.integers(0, 256, size=(2, 1, 28, 28), dtype=np.uint8),
            rng.normal(size=(2, 11, 11)),
            rng.uniform(size=(2, 11, 11)),
            np.stack([np.full((11, 11), 3), np.arange(121).reshape(11, 11) % 2]),
            ys=np.arange(0, 21, 2),
            xs=np.arange(0, 21, 2),
            size=8,
            labels=[3, 1],
            classes=classes,
            map_index=[5, 6],
            layer="relu2",
        ),
        "invariance": invariance_figure(
            {"translate_y": np.arange(-2, 3), "rotate": np.array([-10.0, 0.0, 10.0])},
            {
                k: {
                    n: rng.uniform(size=(3, p))
                    for n in ("dist_low", "dist_high", "rel_low", "rel_high", "prob_true")
                }
                for k, p in (("translate_y", 5), ("rotate", 3))
            },
            low_layer="relu1",
            high_layer="relu3",
            labels=[0, 1, 2],
            classes=classes,
        ),
        "table": correspondence_table_figure(
            ["centre", "random"], ["relu1", "relu3"], [["0.1 ± 0.0", "0.2 ± 0.1"]] * 2
        ),
    }
    for name, fig in figs.items():
        assert isinstance(fig, Figure)
        fig.savefig(tmp_path / f"{name}.png", dpi=40)
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    occ = figs["occlusion"]
    assert len(occ.axes) == 2 * 4 + 2 * 2  # 4 panels per image + 2 colour bars per image
    legend = [t.get_text() for t in occ.axes[3].get_legend().get_texts()]
    assert legend == ["c3"]
    assert len(figs["invariance"].axes) == 6
