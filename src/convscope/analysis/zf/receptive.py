"""Receptive fields from the architecture (Zeiler & Fergus 2014, Fig. 2 patches).

For each layer of a :class:`~convscope.analysis.zf.graph.Chain`, per spatial axis:

* ``size``: how many input pixels one unit sees (the box, including dilation holes);
* ``jump``: input pixels between neighbouring units;
* ``start``: input coordinate of the top/left edge of unit 0's box (negative where the
  box starts in the padding).

Unit ``u`` at that layer sees input pixels ``start + u * jump .. start + u * jump + size - 1``.
After a ``flatten`` or ``linear`` layer every unit sees the whole image, and so does a unit of
an adaptive pooling layer whose bins are not one fixed window (a global average pool).

On a graph (residual adds, ``torch.cat``) a unit sees the *union* of what it sees along each
path from the input; the box recorded is that union's bounding box (for the concentric boxes
of the usual residual block the union itself). Paths with different jumps make the boxes of
different units overlap differently: there the field is recorded as ``full`` (conservative).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from convscope.analysis.zf.graph import (
    ADAPTIVEAVG,
    ADAPTIVEMAX,
    AVGPOOL,
    CONV,
    FLATTEN,
    INPUT,
    LINEAR,
    MAXPOOL,
    OP,
    RECURRENT,
    VALUE,
    Chain,
    _pair,
    conv_padding,
    display_name,
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


_PIXEL = ReceptiveField((1, 1), (1, 1), (0, 0))
_FULL = ReceptiveField((1, 1), (1, 1), (0, 0), full=True)


def _union(fields: Sequence[ReceptiveField]) -> ReceptiveField:
    """The bounding box of what a unit sees along each of several paths."""
    if any(f.full for f in fields) or len({f.jump for f in fields}) > 1:
        return _FULL
    start = tuple(min(f.start[a] for f in fields) for a in (0, 1))
    end = tuple(max(f.start[a] + f.size[a] for f in fields) for a in (0, 1))
    return ReceptiveField(
        (end[0] - start[0], end[1] - start[1]), fields[0].jump, (start[0], start[1])
    )


def _adaptive_window(
    out_size: object, in_hw: tuple[int, ...] | None
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """``(kernel, stride)`` of an adaptive pool whose bins are one fixed window (input size a
    multiple of the output size), else ``None``."""
    if in_hw is None:
        return None
    outs = out_size if isinstance(out_size, (tuple, list)) else (out_size, out_size)
    ks = []
    for o, n in zip(outs, in_hw):
        o = n if o is None else int(o)
        if n % o:
            return None
        ks.append(n // o)
    return (ks[0], ks[1]), (ks[0], ks[1])


def receptive_fields(
    chain: Chain, input_shape: Sequence[int] | None = None
) -> list[ReceptiveField]:
    """One :class:`ReceptiveField` per layer (the field of that layer's output units).

    Args:
        input_shape: ``(C, H, W)`` of one input; needed only for adaptive pooling with more
            than one output per axis (without it such a layer's units are recorded ``full``).
    """
    shapes = chain.output_shapes(input_shape) if input_shape is not None else None
    out: list[ReceptiveField] = []
    for i, layer in enumerate(chain.layers):
        # a shape read (x.size(0)) carries no pixels: it does not widen the field
        ins = [
            (_PIXEL if j == INPUT else out[j])
            for j in chain.inputs_of(i)
            if j == INPUT or chain.layers[j].kind != VALUE
        ] or [_FULL]
        rf = _union(ins) if len(ins) > 1 else ins[0]
        if layer.kind in (FLATTEN, LINEAR, RECURRENT, VALUE) or (
            layer.kind == OP and not layer.pointwise
        ):
            rf = _FULL
        elif layer.kind in (ADAPTIVEAVG, ADAPTIVEMAX) and not rf.full:
            j = chain.inputs_of(i)[0]
            in_hw = None
            if shapes is not None:
                in_hw = tuple(input_shape[1:]) if j == INPUT else shapes[j][1:]  # type: ignore[index]
            geo = _adaptive_window(getattr(layer.module, "output_size", None), in_hw)
            if geo is None or (in_hw is not None and geo[0] == tuple(in_hw)):
                rf = _FULL
            else:
                rf = _grow(rf, geo[0], geo[1], (0, 0), (1, 1))
        elif layer.kind in (CONV, MAXPOOL, AVGPOOL) and not rf.full:
            assert layer.module is not None
            rf = _grow(rf, *_kernel_geometry(layer.module))
        out.append(rf)
    return out


def _grow(
    rf: ReceptiveField,
    k: tuple[int, int],
    s: tuple[int, int],
    p: tuple[int, int],
    d: tuple[int, int],
) -> ReceptiveField:
    """The field after a window of kernel ``k``, stride ``s``, padding ``p``, dilation ``d``."""
    eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
    start = tuple(st - pi * ji for st, pi, ji in zip(rf.start, p, rf.jump))
    size = tuple(r + (e - 1) * ji for r, e, ji in zip(rf.size, eff, rf.jump))
    jump = tuple(ji * si for ji, si in zip(rf.jump, s))
    return ReceptiveField((size[0], size[1]), (jump[0], jump[1]), (start[0], start[1]))


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


def describe_layers(chain: Chain, input_shape: Sequence[int]) -> list[dict[str, object]]:
    """One row per layer for listing: name, kind, what it reads, output shape (without the
    batch) and receptive field; ``analyzable`` when the output is ``(C, H, W)`` or ``(F,)``."""
    shapes = chain.output_shapes(input_shape)
    rfs = receptive_fields(chain, input_shape)
    rows: list[dict[str, object]] = []
    for i, (layer, shape, rf) in enumerate(zip(chain.layers, shapes, rfs)):
        rows.append(
            {
                "name": layer.name,
                "kind": layer.kind,
                "display": display_name(layer),
                "inputs": [
                    "input" if j == INPUT else chain.layers[j].name for j in chain.inputs_of(i)
                ],
                "shape": list(shape),
                "receptive_field": "full" if rf.full else f"{rf.size[0]}x{rf.size[1]}",
                "analyzable": len(shape) in (1, 3) and i != chain.output,
                "default": i in chain.default_layers(),
            }
        )
    return rows
