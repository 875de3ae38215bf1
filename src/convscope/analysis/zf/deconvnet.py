"""Deconvnet projection of activations to pixel space (Zeiler & Fergus 2014, §2.1, Fig. 1).

To see what excites one unit, feed the image forward, keep that unit's activation and zero
every other activation of its layer, and pass the result back down to the input. At each layer
on the way down:

* max-pooling: *unpool* with the switches (argmax positions) of this image's forward pass;
* ReLU: *rectify* the signal (ReLU on the reconstruction, not the forward mask);
* convolution: *filter* with the transposed weights (``conv_transpose2d``, same weights).

Derived once for any graph (:mod:`~convscope.analysis.zf.graph`): every layer other than a
rectifier or a max-pool is linear in eval mode, and the deconvnet takes its transpose; a
rectifier is applied to the signal coming down; a max-pool routes through its switches. The
layers are visited in reverse execution order, and where a tensor feeds several readers (the
input of a residual block feeds both the convs and the skip) the signals coming back down
from them *add*: the reconstruction of a sum is the sum of the reconstructions along each
path. Concatenation splits the signal back into its parts. This is the same as
back-propagation with every rectifier's backward replaced by the rectifier applied to the
incoming gradient (the oracle the tests use). Choices the paper leaves open, for the layers it
did not have, are in :data:`DECONV_CHOICES` and written next to every result.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# re-exported: which rule applies at each layer lives in zf.deconv_rules
from convscope.analysis.zf.deconv_rules import (  # noqa: F401
    DECONV_CHOICES,
    NoDeconvRule,
    layer_rule,
    projection_rules,
)
from convscope.analysis.zf.graph import (
    ACT,
    ADAPTIVEAVG,
    ADAPTIVEMAX,
    ADD,
    AVGPOOL,
    BN,
    CAT,
    CONV,
    DROPOUT,
    FLATTEN,
    INPUT,
    LEAKYRELU,
    LINEAR,
    MAXPOOL,
    NORM,
    RELU,
    SCALE,
    Chain,
    ForwardRecord,
    as_chain,
    conv_padding,
    display_name,
    eval_mode,
)
from convscope.errors import ConvscopeError


@dataclass(frozen=True)
class Units:
    """A batch of activations to project, one per row; all tensors are ``(N,)`` int64.

    Attributes:
        image: index into the image batch.
        channel: feature map (or unit, for a fully connected layer).
        y, x: position in the map (ignored, and may be zeros, for a fully connected layer).
    """

    image: torch.Tensor
    channel: torch.Tensor
    y: torch.Tensor
    x: torch.Tensor

    @staticmethod
    def of(
        image: Sequence[int] | torch.Tensor,
        channel: Sequence[int] | torch.Tensor,
        y: Sequence[int] | torch.Tensor | None = None,
        x: Sequence[int] | torch.Tensor | None = None,
    ) -> Units:
        """Build from sequences; ``y``/``x`` default to zeros (fully connected layers)."""
        img = torch.as_tensor(image, dtype=torch.int64).reshape(-1)
        ch = torch.as_tensor(channel, dtype=torch.int64).reshape(-1)
        yy = torch.zeros_like(img) if y is None else torch.as_tensor(y, dtype=torch.int64)
        xx = torch.zeros_like(img) if x is None else torch.as_tensor(x, dtype=torch.int64)
        yy, xx = yy.reshape(-1), xx.reshape(-1)
        if not len(img) == len(ch) == len(yy) == len(xx):
            raise ConvscopeError(
                f"units: image, channel, y, x must have the same length, got "
                f"{len(img)}, {len(ch)}, {len(yy)}, {len(xx)}"
            )
        return Units(img, ch, yy, xx)

    def __len__(self) -> int:
        return int(self.image.shape[0])

    def subset(self, sl: slice | torch.Tensor) -> Units:
        return Units(self.image[sl], self.channel[sl], self.y[sl], self.x[sl])


def _check_units(units: Units, act_shape: torch.Size, n_images: int, layer: str) -> None:
    if len(units) == 0:
        return
    c = act_shape[1]
    if int(units.image.min()) < 0 or int(units.image.max()) >= n_images:
        raise ConvscopeError(f"units: image index out of range 0..{n_images - 1}")
    if int(units.channel.min()) < 0 or int(units.channel.max()) >= c:
        raise ConvscopeError(f"units: channel out of range 0..{c - 1} for layer {layer!r}")
    if len(act_shape) == 4:
        h, w = act_shape[2], act_shape[3]
        if int(units.y.min()) < 0 or int(units.y.max()) >= h:
            raise ConvscopeError(f"units: y out of range 0..{h - 1} for layer {layer!r}")
        if int(units.x.min()) < 0 or int(units.x.max()) >= w:
            raise ConvscopeError(f"units: x out of range 0..{w - 1} for layer {layer!r}")
    elif len(act_shape) != 2:
        raise ConvscopeError(
            f"layer {layer!r}: output shape {tuple(act_shape)}; expected (B, C, H, W) or (B, C)"
        )


def _conv_transpose(conv: nn.Conv2d, signal: torch.Tensor, in_shape: torch.Size) -> torch.Tensor:
    """Transpose of ``conv`` without bias, mapping ``(n, C_out, H_o, W_o)`` back to
    ``(n, C_in, H_in, W_in)``: ``conv_transpose2d`` with no padding, then crop the padding."""
    (pt, _), (pl, _) = conv_padding(conv)
    full = F.conv_transpose2d(
        signal, conv.weight, None, conv.stride, 0, 0, conv.groups, conv.dilation
    )
    h, w = in_shape[-2], in_shape[-1]
    pad_b = max(0, pt + h - full.shape[-2])  # rows the last window never reached
    pad_r = max(0, pl + w - full.shape[-1])
    if pad_b or pad_r:
        full = F.pad(full, (0, pad_r, 0, pad_b))
    return full[..., pt : pt + h, pl : pl + w]


def _avgpool_transpose(pool: nn.Module, signal: torch.Tensor, in_shape: torch.Size) -> torch.Tensor:
    """Transpose of average pooling (spread evenly): the adjoint of this linear map, computed
    exactly with one vector-Jacobian product so padding/ceil/divisor options are honoured."""
    with torch.enable_grad():
        z = torch.zeros(
            (signal.shape[0], *in_shape[1:]),
            dtype=signal.dtype,
            device=signal.device,
            requires_grad=True,
        )
        (g,) = torch.autograd.grad(pool(z), z, signal)
    return g


def _unpool(switches: torch.Tensor, signal: torch.Tensor, in_shape: torch.Size) -> torch.Tensor:
    """Max-unpool with switches ``(n, C, H_o, W_o)``; overlapping windows add."""
    n, c = signal.shape[:2]
    h, w = in_shape[-2], in_shape[-1]
    out = torch.zeros((n, c, h * w), dtype=signal.dtype, device=signal.device)
    out.scatter_add_(2, switches.reshape(n, c, -1), signal.reshape(n, c, -1))
    return out.view(n, c, h, w)


def transpose_layer(
    chain: Chain, i: int, signal: torch.Tensor, rec: ForwardRecord, image_of: torch.Tensor
) -> list[torch.Tensor]:
    """One deconvnet step down through layer ``i``.

    Args:
        signal: ``(n, ...)`` reconstruction at layer ``i``'s output.
        rec: the forward record of the images (switches, input shapes).
        image_of: ``(n,)`` row of ``rec`` each signal row belongs to (for the switches).
    Returns:
        ``(n, ...)`` reconstructions at layer ``i``'s inputs, one per entry of its ``inputs``.
    """
    layer = chain.layers[i]
    kind, m = layer.kind, layer.module
    in_shapes = rec.input_shapes[i]
    if kind == ADD:
        return [signal for _ in in_shapes]
    if kind == CAT:
        return list(torch.split(signal, [s[1] for s in in_shapes], dim=1))
    in_shape = in_shapes[0]
    if kind == SCALE:
        return [signal * layer.scale]
    if kind == NORM:
        return [signal * rec.norm_scales[i][image_of].to(signal.dtype)]
    if kind == ACT:
        return [_act_rule(chain, i, signal)]
    return [_transpose_one(layer.name, kind, m, layer.slope, signal, in_shape, rec, i, image_of)]


def _act_rule(chain: Chain, i: int, signal: torch.Tensor) -> torch.Tensor:
    """The rule at a nonlinearity other than ReLU/leaky ReLU (:data:`DECONV_CHOICES`)."""
    layer = chain.layers[i]
    rule = layer_rule(chain, i)
    if rule == "rectifier_act":
        return torch.relu(signal)
    if rule == "prelu" and isinstance(layer.module, nn.RReLU):
        return F.leaky_relu(signal, (layer.module.lower + layer.module.upper) / 2)
    if rule == "prelu":
        return chain.apply_layer(i, [signal])  # the layer's own slopes, out of place
    raise NoDeconvRule(f"deconvnet: layer {display_name(layer)} has no projection rule")


def _transpose_one(
    name: str,
    kind: str,
    m: nn.Module | None,
    slope: float,
    signal: torch.Tensor,
    in_shape: torch.Size,
    rec: ForwardRecord,
    i: int,
    image_of: torch.Tensor,
) -> torch.Tensor:
    if kind == RELU:
        return torch.relu(signal)
    if kind == LEAKYRELU:
        return F.leaky_relu(signal, slope)
    if kind == DROPOUT:
        return signal
    if kind == FLATTEN:
        return signal.reshape(signal.shape[0], *in_shape[1:])
    if kind == LINEAR:
        assert isinstance(m, nn.Linear)
        return signal @ m.weight
    if kind == CONV:
        assert isinstance(m, nn.Conv2d)
        return _conv_transpose(m, signal, in_shape)
    if kind in (MAXPOOL, ADAPTIVEMAX):
        return _unpool(rec.switches[i][image_of], signal, in_shape)
    if kind in (AVGPOOL, ADAPTIVEAVG):
        assert m is not None
        return _avgpool_transpose(m, signal, in_shape)
    if kind == BN:
        assert isinstance(m, nn.modules.batchnorm._BatchNorm)
        assert m.running_var is not None
        scale = torch.rsqrt(m.running_var + m.eps)
        if m.weight is not None:
            scale = scale * m.weight
        return signal * scale.view(1, -1, *([1] * (signal.dim() - 2)))
    raise ConvscopeError(f"layer {name!r}: no deconvnet rule for kind {kind!r}")


def project_down(
    chain: Chain, idx: int, signal: torch.Tensor, rec: ForwardRecord, image_of: torch.Tensor
) -> torch.Tensor:
    """Take ``signal`` ``(n, ...)`` at layer ``idx``'s output down to the input
    ``(n, C, H, W)``: layers in reverse execution order, signals of a tensor's readers summed."""
    pending: dict[int, torch.Tensor] = {idx: signal}
    out: torch.Tensor | None = None
    for i in range(idx, -1, -1):
        s = pending.pop(i, None)
        if s is None:  # layer i does not lead to idx
            continue
        for j, down in zip(chain.inputs_of(i), transpose_layer(chain, i, s, rec, image_of)):
            if j == INPUT:
                out = down if out is None else out + down
            else:
                pending[j] = down if j not in pending else pending[j] + down
    assert out is not None
    return out


@torch.no_grad()
def project(
    model: nn.Module | Chain,
    images: torch.Tensor,
    layer: str | int,
    units: Units,
    *,
    block_output: bool = True,
    keep_value: bool = True,
    chunk_size: int = 256,
    values: torch.Tensor | None = None,
) -> torch.Tensor:
    """Project activations of ``layer`` to pixel space with the deconvnet (§2.1).

    One recorded forward pass of the distinct images involved gives the switches; then all
    units go down together, ``chunk_size`` at a time.

    Args:
        model: the CNN (traced with :func:`~convscope.analysis.zf.graph.trace_chain`) or a
            :class:`Chain`.
        images: ``(B, C, H, W)`` model inputs (already normalised), on any device; moved to
            the model's device.
        layer: layer name or chain index; see :meth:`Chain.resolve` for ``block_output``.
        units: which activations, ``units.image`` indexing ``images``.
        keep_value: seed each unit with its forward value (the paper); else with 1.
        chunk_size: units projected per batch.
        values: ``(N,)`` the seed of each unit, given (e.g. another model's forward values,
            so that only the weights differ); overrides ``keep_value``.

    Returns:
        ``(N, C, H, W)`` projections on the model's device, one per unit, in ``units`` order.
    """
    chain = as_chain(model)
    idx = chain.resolve(layer, block_output)
    name = chain.layers[idx].name
    projection_rules(chain, idx)  # NoDeconvRule, in one line, before any work
    images = images.to(device=chain.device, dtype=chain.dtype)
    if images.dim() != 4:
        raise ConvscopeError(f"images: expected (B, C, H, W), got {tuple(images.shape)}")
    n = len(units)
    if n == 0:
        return images.new_zeros((0, *images.shape[1:]))
    img_idx = units.image.to(chain.device)
    uniq, inverse = torch.unique(img_idx, return_inverse=True)
    if int(uniq.min()) < 0 or int(uniq.max()) >= images.shape[0]:
        raise ConvscopeError(f"units: image index out of range 0..{images.shape[0] - 1}")
    rec = chain.record(images[uniq], upto=idx)
    act = rec.outputs[idx]
    _check_units(units, act.shape, images.shape[0], name)
    ch, yy, xx = (t.to(chain.device) for t in (units.channel, units.y, units.x))
    if values is not None:
        seeds = values.to(device=chain.device, dtype=act.dtype).reshape(-1)
        if seeds.shape[0] != n:
            raise ConvscopeError(f"values: expected {n} seeds (one per unit), got {seeds.shape[0]}")
    elif keep_value:
        seeds = act[inverse, ch, yy, xx] if act.dim() == 4 else act[inverse, ch]
    else:
        seeds = torch.ones((n,), device=chain.device, dtype=act.dtype)
    out = images.new_empty((n, *images.shape[1:]))
    for s in range(0, n, chunk_size):
        e = min(n, s + chunk_size)
        rows = torch.arange(e - s, device=chain.device)
        signal = act.new_zeros((e - s, *act.shape[1:]))
        if act.dim() == 4:
            signal[rows, ch[s:e], yy[s:e], xx[s:e]] = seeds[s:e]
        else:
            signal[rows, ch[s:e]] = seeds[s:e]
        with eval_mode(chain.model):
            out[s:e] = project_down(chain, idx, signal, rec, inverse[s:e])
    return out


def project_requests(
    model: nn.Module | Chain,
    images: torch.Tensor,
    requests: Sequence[tuple[int, str | int, int, int, int]],
    **kwargs: object,
) -> torch.Tensor:
    """Project a mixed batch of ``(image, layer, map, y, x)`` requests; one :func:`project`
    call per distinct layer. Returns ``(N, C, H, W)`` in request order."""
    chain = as_chain(model)
    groups: dict[int, list[int]] = defaultdict(list)
    for r, req in enumerate(requests):
        groups[chain.resolve(req[1], bool(kwargs.get("block_output", True)))].append(r)
    images = images.to(device=chain.device, dtype=chain.dtype)
    out = images.new_zeros((len(requests), *images.shape[1:]))
    for idx, rows in groups.items():
        u = Units.of(
            *zip(*[(requests[r][0], requests[r][2], requests[r][3], requests[r][4]) for r in rows])
        )
        kw = {k: v for k, v in kwargs.items() if k != "block_output"}
        out[rows] = project(chain, images, idx, u, block_output=False, **kw)  # type: ignore[arg-type]
    return out
