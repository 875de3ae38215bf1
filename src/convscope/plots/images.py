"""Image helpers shared by the studies' figures and the explorer: arrays in, arrays out.

Each study draws its own figures (``convscope.studies.<name>.figures``); what several of them
need to turn maps and images into pixels lives here. No pyplot, no global state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ArrayLike = np.ndarray


def as_array(a: object) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()  # type: ignore[union-attr]
    return np.asarray(a)


def to_rgb(img: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` on [0, 1] -> ``(H, W, 3)``."""
    img = np.clip(img, 0.0, 1.0)
    if img.shape[0] == 1:
        return np.repeat(img[0][:, :, None], 3, axis=2)
    if img.shape[0] == 3:
        return np.transpose(img, (1, 2, 0))
    return np.repeat(img.mean(0)[:, :, None], 3, axis=2)


def signed_to_unit(p: np.ndarray) -> np.ndarray:
    """A projection ``(C, H, W)`` to [0, 1] with 0 at grey: ``0.5 + 0.5 * p / max|p|``."""
    m = float(np.abs(p).max())
    return np.full_like(p, 0.5, dtype=np.float64) if m == 0 else 0.5 + 0.5 * p / m


def image_to_unit(img: np.ndarray) -> np.ndarray:
    """An image ``(C, H, W)``: uint8 -> /255; float -> min-max to [0, 1]."""
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    lo, hi = float(img.min()), float(img.max())
    return np.zeros_like(img, dtype=np.float64) if hi <= lo else (img - lo) / (hi - lo)


def mosaic(tiles: np.ndarray, pad: int = 1, value: float = 1.0) -> np.ndarray:
    """``(R, K, H, W, 3)`` -> one ``(R*(H+pad)-pad, K*(W+pad)-pad, 3)`` image."""
    r, k, h, w, _ = tiles.shape
    out = np.full((r * (h + pad) - pad, k * (w + pad) - pad, 3), value)
    for i in range(r):
        for j in range(k):
            out[i * (h + pad) : i * (h + pad) + h, j * (w + pad) : j * (w + pad) + w] = tiles[i, j]
    return out


def block(images: np.ndarray, side: int, to_unit) -> np.ndarray:  # noqa: ANN001
    """``(k, C, H, W)`` -> a ``side x side`` mosaic (missing tiles white)."""
    k, _, h, w = images.shape
    tiles = np.ones((side * side, h, w, 3))
    for i in range(min(k, side * side)):
        tiles[i] = to_rgb(to_unit(images[i]))
    return mosaic(tiles.reshape(side, side, h, w, 3), pad=1, value=1.0)


def list_ranges(values: Sequence[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    out: list[str] = []
    vs = sorted(values)
    i = 0
    while i < len(vs):
        j = i
        while j + 1 < len(vs) and vs[j + 1] == vs[j] + 1:
            j += 1
        out.append(str(vs[i]) if i == j else f"{vs[i]}-{vs[j]}")
        i = j + 1
    return ", ".join(out)


FIG_WIDTH_IN = 9.0  # fits the report's column (944 px at a 1000 px window) at its DPI
FONT_PT = 10.0  # text in figures; >= 9 px where the report shows them (checked in a browser test)


def bbox(p: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(C, H, W)`` -> ``(y0, y1, x0, x1)`` of its non-zero pixels, or None if all zero."""
    nz = np.abs(p).sum(axis=0) > 0
    if not nz.any():
        return None
    ys, xs = np.nonzero(nz)
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def square_at(box: tuple[int, int, int, int] | None, side: int, h: int, w: int) -> tuple:
    """A ``side`` x ``side`` window centred on ``box`` and kept inside the ``h`` x ``w`` image."""
    if box is None:
        y, x = (h - side) // 2, (w - side) // 2
    else:
        y0, y1, x0, x1 = box
        y, x = (y0 + y1 - side) // 2, (x0 + x1 - side) // 2
    y, x = min(max(0, y), max(0, h - side)), min(max(0, x), max(0, w - side))
    return y, y + side, x, x + side


def resize_nearest(img: np.ndarray, size: int, width: int | None = None) -> np.ndarray:
    """``(h, w, 3)`` -> ``(size, width or size, 3)`` by nearest neighbour (pixels stay
    visible)."""
    h, w = img.shape[:2]
    nw = size if width is None else width
    yi = np.minimum((np.arange(size) * h / size).astype(int), h - 1)
    xi = np.minimum((np.arange(nw) * w / nw).astype(int), w - 1)
    return img[yi][:, xi]
