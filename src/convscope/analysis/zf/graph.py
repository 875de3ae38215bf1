"""A CNN as a linear chain of layers, traced with ``torch.fx``.

The Zeiler & Fergus analyses (arXiv 1311.2901) need to run a network layer by layer: to read a
layer's feature maps, to record the max-pooling switches of a forward pass, and to walk back
down through the transposed layers (§2.1). :func:`trace_chain` turns any ``nn.Module`` built
from the usual layers into a :class:`Chain` of :class:`Layer` objects, without reaching into
the model's attributes by name.

Supported, in any order, as one unbranched chain:

* ``nn.Conv2d`` (``padding_mode="zeros"``), ``nn.Linear``;
* ``nn.ReLU`` (module), ``F.relu`` / ``torch.relu`` / ``x.relu()`` (function);
* ``nn.MaxPool2d``, ``nn.AvgPool2d``;
* ``nn.BatchNorm2d`` / ``nn.BatchNorm1d`` with running statistics;
* ``nn.Dropout`` (and its 1d/2d/3d/alpha variants), ``nn.Identity``;
* ``nn.Flatten`` / ``torch.flatten(x, 1)`` / ``x.flatten(1)`` / ``x.view(x.size(0), -1)`` /
  ``x.view(-1, N)`` (checked at run time: ``N`` must be the per-image feature count).

Anything else (a skip connection, a second input, another activation function) raises
:class:`~convscope.errors.ConvscopeError` naming the node.

Recorded choice: the chain always runs with *evaluation* semantics, whatever the model's
``training`` flag: batch norm uses its running statistics (an affine per-channel map) and
dropout is the identity. ReLU is applied out of place even where the model says ``inplace``,
so a captured feature map is never overwritten by the next layer.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from convscope.errors import ConvscopeError

log = logging.getLogger(__name__)

CONV, RELU, MAXPOOL, AVGPOOL, BN, DROPOUT, FLATTEN, LINEAR = (
    "conv",
    "relu",
    "maxpool",
    "avgpool",
    "bn",
    "dropout",
    "flatten",
    "linear",
)
KINDS = (CONV, RELU, MAXPOOL, AVGPOOL, BN, DROPOUT, FLATTEN, LINEAR)
SPATIAL_KINDS = (CONV, MAXPOOL, AVGPOOL)

_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_RELU_FUNCS = {F.relu, torch.relu, torch.relu_, torch.nn.functional.relu_}
_FLATTEN_FUNCS = {torch.flatten}


@dataclass
class Layer:
    """One step of the chain.

    Attributes:
        name: the module's qualified name (``"conv1"``, ``"features.0"``) or, for a function
            such as ``F.relu``, the fx node's name (``"relu"``, ``"relu_1"``).
        kind: one of :data:`KINDS`.
        module: the ``nn.Module`` for module layers, ``None`` for functions.
        start_dim: for ``flatten``: the first flattened dimension (always 1 here).
        flat_size: for ``x.view(-1, N)``: the ``N`` each input must flatten to (checked).
    """

    name: str
    kind: str
    module: nn.Module | None = None
    start_dim: int = 1
    flat_size: int | None = None

    def __repr__(self) -> str:
        return f"Layer({self.name!r}, {self.kind})"


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    t = tuple(int(i) for i in v)
    return (t[0], t[0]) if len(t) == 1 else (t[0], t[1])


def conv_padding(conv: nn.Conv2d) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding of a ``Conv2d`` as ``((top, bottom), (left, right))``, resolving ``"same"``."""
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return (0, 0), (0, 0)
        # "same" (stride 1): PyTorch pads total = dilation * (k - 1), the extra one at the end.
        out = []
        for k, d in zip(conv.kernel_size, conv.dilation):
            total = d * (k - 1)
            out.append((total // 2, total - total // 2))
        return out[0], out[1]
    ph, pw = _pair(conv.padding)
    return (ph, ph), (pw, pw)


@dataclass
class ForwardRecord:
    """What one recorded forward pass keeps for the way back down (the deconvnet's input).

    Attributes:
        input_shapes: per chain index, the shape of that layer's input ``(B, ...)``.
        switches: per max-pool chain index, the argmax indices ``(B, C, H_out, W_out)`` into
            each ``H_in * W_in`` input plane (``return_indices=True``), i.e. the paper's switches.
        outputs: per requested chain index, that layer's output ``(B, ...)``.
    """

    input_shapes: list[torch.Size] = field(default_factory=list)
    switches: dict[int, torch.Tensor] = field(default_factory=dict)
    outputs: dict[int, torch.Tensor] = field(default_factory=dict)


class Chain:
    """A model traced into a linear chain of :class:`Layer` s; runs with eval semantics.

    Build it with :func:`trace_chain`. Layers are addressed by name or chain index.
    """

    def __init__(self, model: nn.Module, layers: list[Layer]) -> None:
        self.model = model
        self.layers = layers
        self._index = {layer.name: i for i, layer in enumerate(layers)}

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        return "Chain(" + ", ".join(f"{ly.name}:{ly.kind}" for ly in self.layers) + ")"

    @property
    def names(self) -> list[str]:
        return [ly.name for ly in self.layers]

    @property
    def device(self) -> torch.device:
        for p in self.model.parameters():
            return p.device
        for b in self.model.buffers():
            return b.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        for p in self.model.parameters():
            return p.dtype
        return torch.float32

    def index(self, layer: str | int) -> int:
        """Chain index of a layer given by name or index; ConvscopeError if unknown."""
        if isinstance(layer, int) and not isinstance(layer, bool):
            if not -len(self.layers) <= layer < len(self.layers):
                raise ConvscopeError(
                    f"layer index {layer}: expected -{len(self.layers)}..{len(self.layers) - 1}"
                )
            return layer % len(self.layers)
        if layer not in self._index:
            raise ConvscopeError(f"layer {layer!r}: expected one of {', '.join(self.names)}")
        return self._index[layer]

    def resolve(self, layer: str | int, block_output: bool = True) -> int:
        """The chain index a named layer's feature maps are read from.

        With ``block_output`` (the default), naming a ``conv`` or ``linear`` layer means its
        rectified output: the index moves forward over batch norm and dropout to the first ReLU,
        if one follows before any other conv, linear, pooling or flatten. So ``"conv2"`` of
        LeNet5 reads ``relu2`` (post-ReLU, before pooling). Recorded choice: the paper projects
        from a layer's pooled maps; the rectified maps before pooling carry the same maxima at
        finer positions, and projecting one of them gives the same reconstruction as projecting
        the pooled unit it wins.
        """
        i = self.index(layer)
        if not block_output or self.layers[i].kind not in (CONV, LINEAR, BN):
            return i
        for j in range(i + 1, len(self.layers)):
            kind = self.layers[j].kind
            if kind == RELU:
                return j
            if kind not in (BN, DROPOUT):
                break
        return i

    def default_layers(self) -> list[int]:
        """Each conv block's output (see :meth:`resolve`), in order."""
        return [self.resolve(i) for i, ly in enumerate(self.layers) if ly.kind == CONV]

    def penultimate(self) -> int:
        """The index of the feature vector that feeds the last ``Linear`` (e.g. LeNet5's
        ``relu3``); the last conv block if there is a single Linear after flatten."""
        linears = [i for i, ly in enumerate(self.layers) if ly.kind == LINEAR]
        if not linears:
            raise ConvscopeError("model has no Linear layer; expected a classifier head")
        j = linears[-1] - 1
        while j > 0 and self.layers[j].kind in (DROPOUT, FLATTEN):
            j -= 1
        return j

    # -- running -----------------------------------------------------------------------------

    def apply_layer(self, i: int, x: torch.Tensor, with_indices: bool = False) -> Any:
        """Run layer ``i`` on ``x`` with eval semantics. For max-pool with ``with_indices``,
        return ``(output, switches)``."""
        layer = self.layers[i]
        kind, m = layer.kind, layer.module
        if kind == RELU:
            return torch.relu(x)
        if kind == DROPOUT:
            return x
        if kind == FLATTEN:
            if layer.flat_size is not None and x[0].numel() != layer.flat_size:
                raise ConvscopeError(
                    f"layer {layer.name!r}: view(-1, {layer.flat_size}) of a "
                    f"{tuple(x.shape[1:])} input would mix images; expected "
                    f"{x[0].numel()} features per image"
                )
            return x.flatten(layer.start_dim)
        if kind == BN:
            assert isinstance(m, nn.modules.batchnorm._BatchNorm)
            return F.batch_norm(
                x, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps
            )
        if kind == MAXPOOL and with_indices:
            assert isinstance(m, nn.MaxPool2d)
            return F.max_pool2d(
                x,
                m.kernel_size,
                m.stride,
                m.padding,
                m.dilation,
                ceil_mode=m.ceil_mode,
                return_indices=True,
            )
        if kind == MAXPOOL:
            assert isinstance(m, nn.MaxPool2d)
            return F.max_pool2d(x, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)
        assert m is not None
        return m(x)

    def run(
        self,
        x: torch.Tensor,
        taps: Iterable[int] = (),
        to_end: bool = True,
    ) -> tuple[dict[int, torch.Tensor], torch.Tensor | None]:
        """Forward ``x`` ``(B, C, H, W)``; return ``({index: output}, logits or None)``.

        Stops after the last tap when ``to_end`` is false (then logits is ``None``).
        """
        taps = sorted(set(taps))
        stop = len(self.layers) if to_end or not taps else taps[-1] + 1
        out: dict[int, torch.Tensor] = {}
        for i in range(stop):
            x = self.apply_layer(i, x)
            if i in taps:
                out[i] = x
        return out, (x if stop == len(self.layers) else None)

    def record(self, x: torch.Tensor, upto: int, taps: Iterable[int] = ()) -> ForwardRecord:
        """Forward ``x`` through layers ``0..upto``, keeping input shapes and max-pool switches
        (and the outputs of ``taps``, plus ``upto`` itself)."""
        rec = ForwardRecord()
        keep = set(taps) | {upto}
        for i in range(upto + 1):
            rec.input_shapes.append(x.shape)
            if self.layers[i].kind == MAXPOOL:
                x, idx = self.apply_layer(i, x, with_indices=True)
                rec.switches[i] = idx
            else:
                x = self.apply_layer(i, x)
            if i in keep:
                rec.outputs[i] = x
        return rec

    def output_shapes(self, input_shape: Sequence[int]) -> list[tuple[int, ...]]:
        """Per layer, the output shape (without batch) for one input of shape ``(C, H, W)``."""
        x = torch.zeros((1, *input_shape), device=self.device, dtype=self.dtype)
        shapes = []
        with torch.no_grad():
            for i in range(len(self.layers)):
                x = self.apply_layer(i, x)
                shapes.append(tuple(x.shape[1:]))
        return shapes


# -- tracing -----------------------------------------------------------------------------------


def _is_shape_node(node: fx.Node) -> bool:
    """``x.size(0)``, ``x.size()[0]``, ``x.shape[0]``: only used as a view/reshape argument."""
    if node.op == "call_method" and node.target == "size":
        return True
    if node.op == "call_function" and node.target is getattr and node.args[1] == "shape":
        return True
    if node.op == "call_function" and node.target is operator.getitem:
        src = node.args[0]
        return isinstance(src, fx.Node) and _is_shape_node(src)
    return False


def _module_layer(name: str, m: nn.Module) -> Layer | None:
    """The layer for a leaf module, ``None`` for an identity to drop."""
    if isinstance(m, nn.Identity):
        return None
    if isinstance(m, nn.Conv2d):
        if m.padding_mode != "zeros":
            raise ConvscopeError(
                f"layer {name!r}: Conv2d padding_mode {m.padding_mode!r} is not supported; "
                "expected 'zeros'"
            )
        return Layer(name, CONV, m)
    if isinstance(m, nn.Linear):
        return Layer(name, LINEAR, m)
    if isinstance(m, nn.ReLU):
        return Layer(name, RELU, m)
    if isinstance(m, nn.MaxPool2d):
        return Layer(name, MAXPOOL, m)
    if isinstance(m, nn.AvgPool2d):
        return Layer(name, AVGPOOL, m)
    if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
        if not m.track_running_stats or m.running_mean is None:
            raise ConvscopeError(
                f"layer {name!r}: BatchNorm without running statistics is not an affine map in "
                "eval mode; expected track_running_stats=True"
            )
        return Layer(name, BN, m)
    if isinstance(m, _DROPOUTS):
        return Layer(name, DROPOUT, m)
    if isinstance(m, nn.Flatten):
        if m.end_dim != -1 or m.start_dim != 1:
            raise ConvscopeError(
                f"layer {name!r}: Flatten(start_dim={m.start_dim}, end_dim={m.end_dim}); "
                "expected start_dim=1, end_dim=-1"
            )
        return Layer(name, FLATTEN, m)
    raise ConvscopeError(
        f"layer {name!r}: {type(m).__name__} is not supported; expected Conv2d, ReLU, "
        "MaxPool2d, AvgPool2d, BatchNorm2d, Dropout, Flatten or Linear"
    )


def _flatten_dim(node: fx.Node) -> tuple[int, int | None] | None:
    """``(start_dim, checked size)`` if the node flattens its first argument, else ``None``."""
    args, kwargs = node.args, node.kwargs
    if (node.op == "call_function" and node.target in _FLATTEN_FUNCS) or (
        node.op == "call_method" and node.target == "flatten"
    ):
        start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
        end = args[2] if len(args) > 2 else kwargs.get("end_dim", -1)
        return (start, None) if end == -1 else None
    if node.op == "call_method" and node.target in ("view", "reshape"):
        shape = args[1:]
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if (
            len(shape) == 2
            and shape[1] == -1
            and isinstance(shape[0], fx.Node)
            and _is_shape_node(shape[0])
        ):
            return (1, None)
        if len(shape) == 2 and shape[0] == -1 and isinstance(shape[1], int) and shape[1] > 0:
            return (1, shape[1])  # x.view(-1, N): the batch survives iff N is the feature size
    return None


def trace_chain(model: nn.Module) -> Chain:
    """Trace ``model`` into a :class:`Chain`; ConvscopeError for unsupported ops or branches.

    Args:
        model: a CNN taking one ``(B, C, H, W)`` tensor and returning ``(B, num_classes)``
            logits, made of the layers listed in this module's docstring.
    """
    try:
        gm = fx.symbolic_trace(model)
    except Exception as e:  # noqa: BLE001 - fx raises many types; the message says which op
        raise ConvscopeError(
            f"model {type(model).__name__}: cannot be traced with torch.fx ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}); expected a plain chain of layers"
        ) from None
    modules = dict(model.named_modules())
    nodes = list(gm.graph.nodes)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ConvscopeError(
            f"model {type(model).__name__}: forward takes {len(placeholders)} inputs; expected 1"
        )
    layers: list[Layer] = []
    seen_modules: set[str] = set()
    current = placeholders[0]
    for node in nodes:
        if node.op == "placeholder" or _is_shape_node(node):
            continue
        if node.op == "output":
            if node.args[0] is not current:
                raise ConvscopeError(
                    f"model {type(model).__name__}: output is not the end of a single chain of "
                    "layers; expected forward to return the last layer's output"
                )
            break
        if node.op == "get_attr":
            raise ConvscopeError(
                f"model {type(model).__name__}: forward reads the tensor {node.target!r} "
                "directly (e.g. F.conv2d(x, self.weight)); expected layers as nn.Modules"
            )
        inputs = [a for a in node.all_input_nodes if not _is_shape_node(a)]
        if inputs != [current]:
            raise ConvscopeError(
                f"model {type(model).__name__}: node {node.name!r} ({node.op} {node.target}) "
                "branches or merges the data flow; expected a linear chain of layers"
            )
        users = [u for u in current.users if not _is_shape_node(u)]
        if len(users) != 1:
            raise ConvscopeError(
                f"model {type(model).__name__}: the output of {current.name!r} is used "
                f"{len(users)} times; expected a linear chain of layers"
            )
        if node.op == "call_module":
            target = str(node.target)
            # a module used twice (one nn.ReLU after every conv) gets its fx node name the 2nd time
            name = target if target not in seen_modules else node.name
            seen_modules.add(target)
            layer = _module_layer(name, modules[target])
        elif (node.op == "call_function" and node.target in _RELU_FUNCS) or (
            node.op == "call_method" and node.target in ("relu", "relu_")
        ):
            layer = Layer(node.name, RELU, None)
        elif (flat := _flatten_dim(node)) is not None:
            if flat[0] != 1:
                raise ConvscopeError(
                    f"node {node.name!r}: flatten from dim {flat[0]}; expected flatten(x, 1)"
                )
            layer = Layer(node.name, FLATTEN, None, start_dim=1, flat_size=flat[1])
        else:
            target = getattr(node.target, "__name__", node.target)
            raise ConvscopeError(
                f"model {type(model).__name__}: node {node.name!r} ({node.op} {target}) is not "
                "supported; expected Conv2d, ReLU (module or F.relu), MaxPool2d, AvgPool2d, "
                "BatchNorm2d, Dropout, Flatten or Linear"
            )
        if layer is not None:
            layers.append(layer)
        current = node
    if not layers:
        raise ConvscopeError(f"model {type(model).__name__}: no layers found")
    names = [ly.name for ly in layers]
    if len(set(names)) != len(names):
        raise ConvscopeError(
            f"model {type(model).__name__}: layer names collide ({names}); "
            "expected unique module names"
        )
    log.debug("traced %s into %d layers", type(model).__name__, len(layers))
    return Chain(model, layers)


def as_chain(model: nn.Module | Chain) -> Chain:
    """``model`` if it is already a :class:`Chain`, else :func:`trace_chain` of it."""
    return model if isinstance(model, Chain) else trace_chain(model)
