"""The top-k projections beside the same projections under random weights (Adebayo et al. 2018
on Zeiler & Fergus Fig. 2): arrays in, Figure out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from convscope.plots.images import FIG_WIDTH_IN, image_to_unit, signed_to_unit
from convscope.plots.images import as_array as _np
from convscope.plots.images import to_rgb as _to_rgb
from convscope.plots.table import Cell, image_table


@dataclass
class LayerRow:
    """One layer's row: ``U`` units, each its strongest entry.

    Attributes:
        title: the layer as a reader sees it, with its similarity.
        patches, trained, random: ``(U, C, ph, pw)`` image patch, trained projection and
            random-weights projection of each unit's strongest test image.
        captions: ``U`` short captions (e.g. ``"map 3, rho 0.12"``).
    """

    title: str
    patches: np.ndarray
    trained: np.ndarray
    random: np.ndarray
    captions: Sequence[str]


def random_weights_figure(rows: Sequence[LayerRow], seed: int) -> Figure:
    """Rows layers; per unit three columns: the patch, its projection with the trained weights
    and with every layer re-initialised (grey = 0). One picture (:func:`image_table`)."""
    if not rows:
        raise ValueError("random_weights_figure: no layer to show")
    units = max(len(r.captions) for r in rows)
    cells = [
        [
            c
            for u in range(len(r.captions))
            for c in (
                Cell(_to_rgb(image_to_unit(_np(r.patches[u]))), r.captions[u]),
                Cell(_to_rgb(signed_to_unit(_np(r.trained[u]))), "trained"),
                Cell(_to_rgb(signed_to_unit(_np(r.random[u]))), "random"),
            )
        ]
        for r in rows
    ]
    return image_table(
        cells,
        cell_in=min(1.3, FIG_WIDTH_IN / (3 * units)),
        row_titles=[r.title for r in rows],
        title="Top activation per map: patch, projection with the trained weights, and with "
        f"every layer re-initialised (seed {seed})\nalike = the projection shows the image, not "
        "what was learned (Adebayo et al. 2018)",
    )


def pick_units(values: np.ndarray, n: int = 4) -> list[int]:
    """Rows of ``(M, k)`` top-k values to show: the ``n`` maps with the strongest top entry
    (live ones only)."""
    v = np.asarray(values, np.float64)[:, 0]
    return [int(i) for i in np.argsort(-v, kind="stable")[:n] if v[i] > 0]
