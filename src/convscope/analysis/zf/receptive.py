"""Receptive fields from the architecture (Zeiler & Fergus 2014, Fig. 2 patches).

For each layer of a :class:`~convscope.analysis.zf.graph.Chain`, per spatial axis:

* ``size``: how many input pixels one unit sees (the box, including dilation holes);
* ``jump``: input pixels between neighbouring units;
* ``start``: input coordinate of the top/left edge of unit 0's box (negative where the
  box starts in the padding).

Unit ``u`` at that layer sees input pixels ``start + u * jump .. start + u * jump + size - 1``.
After a ``flatten`` or ``linear`` layer every unit sees the whole image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from convscope.analysis.zf.graph import (
    AVGPOOL,
    CONV,
    FLATTEN,
    LINEAR,
    MAXPOOL,
    Chain,
    _pair,
    conv_padding,
)
from convscope.errors import ConvscopeError


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one layer's units. Each field is ``(along y, along x)``.

    ``full`` is true after flatten/linear: every unit sees the whole input.
    """

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[int, int]
    full: bool = False

    def box(self, y: int, x: int, hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """Unit ``(y, x)``'s patch ``(y0, y1, x0, x1)`` (half-open), clipped to an ``(H, W)``
        image."""
        h, w = hw
        if self.full:
            return 0, h, 0, w
        y0 = self.start[0] + y * self.jump[0]
        x0 = self.start[1] + x * self.jump[1]
        return max(y0, 0), min(y0 + self.size[0], h), max(x0, 0), min(x0 + self.size[1], w)

    def unclipped(self, y: int, x: int, hw: tuple[int, int]) -> tuple[int, int]:
        """Top-left ``(y0, x0)`` of unit ``(y, x)``'s box before clipping (may be negative)."""
        if self.full:
            return 0, 0
        return self.start[0] + y * self.jump[0], self.start[1] + x * self.jump[1]

    def to_dict(self) -> dict[str, object]:
        return {
            "size": list(self.size),
            "jump": list(self.jump),
            "start": list(self.start),
            "full": self.full,
        }


def _kernel_geometry(
    m: nn.Module,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """``(kernel, stride, top/left padding, dilation)`` per axis of a conv or pool module."""
    if isinstance(m, nn.Conv2d):
        (pt, _), (pl, _) = conv_padding(m)
        return _pair(m.kernel_size), _pair(m.stride), (pt, pl), _pair(m.dilation)
    if isinstance(m, nn.MaxPool2d):
        stride = m.stride if m.stride is not None else m.kernel_size
        return _pair(m.kernel_size), _pair(stride), _pair(m.padding), _pair(m.dilation)
    if isinstance(m, nn.AvgPool2d):
        stride = m.stride if m.stride is not None else m.kernel_size
        return _pair(m.kernel_size), _pair(stride), _pair(m.padding), (1, 1)
    raise ConvscopeError(f"{type(m).__name__}: not a spatial layer")


def receptive_fields(chain: Chain) -> list[ReceptiveField]:
    """One :class:`ReceptiveField` per chain layer (the field of that layer's output units)."""
    size, jump, start, full = (1, 1), (1, 1), (0, 0), False
    out = []
    for layer in chain.layers:
        if layer.kind in (FLATTEN, LINEAR):
            full = True
        elif layer.kind in (CONV, MAXPOOL, AVGPOOL) and not full:
            assert layer.module is not None
            k, s, p, d = _kernel_geometry(layer.module)
            eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
            start = tuple(st - pi * ji for st, pi, ji in zip(start, p, jump))  # type: ignore[assignment]
            size = tuple(r + (e - 1) * ji for r, e, ji in zip(size, eff, jump))  # type: ignore[assignment]
            jump = tuple(ji * si for ji, si in zip(jump, s))  # type: ignore[assignment]
        out.append(ReceptiveField(size, jump, start, full))
    return out


def extract_patches(
    images: torch.Tensor,
    rf: ReceptiveField,
    ys: Sequence[int] | torch.Tensor,
    xs: Sequence[int] | torch.Tensor,
    fill: float = 0.0,
) -> torch.Tensor:
    """Cut each unit's receptive-field patch out of its image.

    Args:
        images: ``(N, C, H, W)``, one image per unit.
        rf: the layer's receptive field.
        ys, xs: ``(N,)`` unit positions in that layer's maps.
        fill: value where the (unclipped) box leaves the image.

    Returns:
        ``(N, C, size_y, size_x)`` patches aligned to the unclipped box (the whole image for a
        ``full`` field), same dtype as ``images``.
    """
    n, c, h, w = images.shape
    if rf.full:
        return images.clone()
    sy, sx = rf.size
    ys_t = torch.as_tensor([int(v) for v in ys], dtype=torch.int64)
    xs_t = torch.as_tensor([int(v) for v in xs], dtype=torch.int64)
    if len(ys_t) != n or len(xs_t) != n:
        raise ConvscopeError(f"extract_patches: got {n} images but {len(ys_t)} ys, {len(xs_t)} xs")
    if n == 0:
        return images.new_full((0, c, sy, sx), fill)
    # pad by a whole field on every side, then gather every patch with one indexing op
    padded = torch.nn.functional.pad(images, (sx, sx, sy, sy), value=fill)
    y0 = (rf.start[0] + ys_t * rf.jump[0] + sy).clamp(0, h + sy)  # boxes always touch the image
    x0 = (rf.start[1] + xs_t * rf.jump[1] + sx).clamp(0, w + sx)
    rows = (y0[:, None] + torch.arange(sy)).to(images.device)  # (N, sy)
    cols = (x0[:, None] + torch.arange(sx)).to(images.device)  # (N, sx)
    i = torch.arange(n, device=images.device)[:, None, None, None]
    ch = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[i, ch, rows[:, None, :, None], cols[:, None, None, :]]
