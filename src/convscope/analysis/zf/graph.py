"""A CNN as a graph of layers, traced with ``torch.fx``.

The Zeiler & Fergus analyses (arXiv 1311.2901) need to run a network layer by layer: to read a
layer's feature maps, to record the max-pooling switches of a forward pass, and to walk back
down through the transposed layers (§2.1). :func:`trace_chain` turns any ``nn.Module`` built
from the usual layers into a :class:`Chain` of :class:`Layer` objects in execution order, each
naming the layers it reads, without reaching into the model's attributes by name. A layer is
named by its module path (``"layer1.0.conv1"``) or, for a function, by its fx node
(``"relu_1"``, ``"add"``).

Supported, in any graph (a plain chain, residual adds, ``torch.cat`` branches):

* ``nn.Conv2d`` (``padding_mode="zeros"``), ``nn.Linear``;
* ``nn.ReLU`` (module), ``F.relu`` / ``torch.relu`` / ``x.relu()`` / in-place variants;
  ``nn.LeakyReLU`` / ``F.leaky_relu``;
* ``nn.MaxPool2d``, ``nn.AvgPool2d``, ``nn.AdaptiveAvgPool2d``, ``nn.AdaptiveMaxPool2d``;
* ``nn.BatchNorm2d`` / ``nn.BatchNorm1d`` with running statistics;
* ``nn.Dropout`` (and its 1d/2d/3d/alpha variants), ``nn.Identity``;
* ``nn.Flatten`` / ``torch.flatten(x, 1)`` / ``x.flatten(1)`` / ``x.view(x.size(0), -1)`` /
  ``x.view(-1, N)`` (checked at run time: ``N`` must be the per-image feature count);
* ``a + b`` / ``a += b`` / ``torch.add(a, b)`` of equal shapes; ``torch.cat([...], dim=1)``.

Anything else (a second input, another activation function, a constant operand) raises
:class:`~convscope.errors.ConvscopeError` naming the node.

Recorded choice: the graph always runs with *evaluation* semantics, whatever the model's
``training`` flag: batch norm uses its running statistics (an affine per-channel map) and
dropout is the identity. Rectifiers run out of place even where the model says ``inplace``, so
a captured feature map is never overwritten; readers that the in-place op would have affected
are wired to its output instead (same numbers as the model).
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
LEAKYRELU, ADAPTIVEAVG, ADAPTIVEMAX, ADD, CAT = (
    "leakyrelu",
    "adaptiveavgpool",
    "adaptivemaxpool",
    "add",
    "cat",
)
KINDS = (CONV, RELU, MAXPOOL, AVGPOOL, BN, DROPOUT, FLATTEN, LINEAR)
KINDS += (LEAKYRELU, ADAPTIVEAVG, ADAPTIVEMAX, ADD, CAT)
SPATIAL_KINDS = (CONV, MAXPOOL, AVGPOOL, ADAPTIVEAVG, ADAPTIVEMAX)
RECTIFIERS = (RELU, LEAKYRELU)
SWITCHED = (MAXPOOL, ADAPTIVEMAX)
INPUT = -1  # the index that stands for the model's input in :attr:`Layer.inputs`

_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_RELU_FUNCS = {F.relu, torch.relu, torch.relu_, torch.nn.functional.relu_}
_LEAKY_FUNCS = {F.leaky_relu, torch.nn.functional.leaky_relu_}
_FLATTEN_FUNCS = {torch.flatten}
_ADD_FUNCS = {operator.add, operator.iadd, torch.add}
_CAT_FUNCS = {torch.cat, torch.concat}
_INPLACE_FUNCS = {torch.relu_, torch.nn.functional.relu_, torch.nn.functional.leaky_relu_}
_INPLACE_FUNCS |= {operator.iadd}


@dataclass
class Layer:
    """One node of the traced graph.

    Attributes:
        name: the module's qualified name (``"conv1"``, ``"layer1.0.conv1"``) or, for a
            function such as ``F.relu`` or ``+``, the fx node's name (``"relu"``, ``"add_1"``).
        kind: one of :data:`KINDS`.
        module: the ``nn.Module`` for module layers, ``None`` for functions.
        inputs: indices of the layers this one reads, in argument order; :data:`INPUT` is the
            model's input. A chain has ``inputs == (i - 1,)``.
        start_dim: for ``flatten``: the first flattened dimension (always 1 here).
        flat_size: for ``x.view(-1, N)``: the ``N`` each input must flatten to (checked).
        slope: for ``leakyrelu``: the negative slope.
    """

    name: str
    kind: str
    module: nn.Module | None = None
    start_dim: int = 1
    flat_size: int | None = None
    inputs: tuple[int, ...] = ()
    slope: float = 0.0

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
        input_shapes: per layer index run, the shapes of its inputs ``(B, ...)``, in order.
        switches: per max-pool layer index, the argmax indices ``(B, C, H_out, W_out)`` into
            each ``H_in * W_in`` input plane (``return_indices=True``), i.e. the paper's switches.
        outputs: per requested layer index, that layer's output ``(B, ...)``.
    """

    input_shapes: dict[int, list[torch.Size]] = field(default_factory=dict)
    switches: dict[int, torch.Tensor] = field(default_factory=dict)
    outputs: dict[int, torch.Tensor] = field(default_factory=dict)


class Chain:
    """A model traced into a graph of :class:`Layer` s in execution (topological) order;
    runs with eval semantics. A plain chain is the special case ``inputs == (i - 1,)``.

    Build it with :func:`trace_chain`. Layers are addressed by name or index.
    """

    def __init__(self, model: nn.Module, layers: list[Layer], output: int | None = None) -> None:
        self.model = model
        for i, ly in enumerate(layers):
            if not ly.inputs:
                ly.inputs = (i - 1,)
        self.layers = layers
        self.output = len(layers) - 1 if output is None else output
        self._index = {layer.name: i for i, layer in enumerate(layers)}
        self.users: list[list[int]] = [[] for _ in layers]
        for i, ly in enumerate(layers):
            for j in ly.inputs:
                if j != INPUT:
                    self.users[j].append(i)

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        return "Chain(" + ", ".join(f"{ly.name}:{ly.kind}" for ly in self.layers) + ")"

    @property
    def names(self) -> list[str]:
        return [ly.name for ly in self.layers]

    @property
    def is_chain(self) -> bool:
        """True when every layer reads the one before it (no skip, no branch)."""
        return all(ly.inputs == (i - 1,) for i, ly in enumerate(self.layers))

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
        """Index of a layer given by name or index; ConvscopeError if unknown."""
        if isinstance(layer, int) and not isinstance(layer, bool):
            if not -len(self.layers) <= layer < len(self.layers):
                raise ConvscopeError(
                    f"layer index {layer}: expected -{len(self.layers)}..{len(self.layers) - 1}"
                )
            return layer % len(self.layers)
        if layer not in self._index:
            raise ConvscopeError(f"layer {layer!r}: expected one of {', '.join(self.names)}")
        return self._index[layer]

    def ancestors(self, i: int) -> set[int]:
        """Every layer whose output reaches layer ``i`` (``i`` included)."""
        seen, todo = {i}, [i]
        while todo:
            for j in self.layers[todo.pop()].inputs:
                if j != INPUT and j not in seen:
                    seen.add(j)
                    todo.append(j)
        return seen

    def resolve(self, layer: str | int, block_output: bool = True) -> int:
        """The index a named layer's feature maps are read from.

        With ``block_output`` (the default), naming a ``conv`` or ``linear`` layer means its
        rectified output: the index moves forward over batch norm, dropout and residual adds
        (while each is the only reader) to the first rectifier, if one follows before any
        other conv, linear, pooling or flatten. So ``"conv2"`` of LeNet5 reads ``relu2``
        (post-ReLU, before pooling), and a residual block's last conv reads the rectified sum.
        Recorded choice: the paper projects from a layer's pooled maps; the rectified maps
        before pooling carry the same maxima at finer positions, and projecting one of them
        gives the same reconstruction as projecting the pooled unit it wins.
        """
        i = self.index(layer)
        if not block_output or self.layers[i].kind not in (CONV, LINEAR, BN):
            return i
        j = i
        while len(self.users[j]) == 1:
            j = self.users[j][0]
            kind = self.layers[j].kind
            if kind in RECTIFIERS:
                return j
            if kind not in (BN, DROPOUT, ADD):
                break
        return i

    def default_layers(self) -> list[int]:
        """Each conv block's output (see :meth:`resolve`), in order, without repeats."""
        out = [self.resolve(i) for i, ly in enumerate(self.layers) if ly.kind == CONV]
        if not self.is_chain:  # a projection shortcut's conv resolves to its own bn: skip it
            out = [i for i in out if self.layers[i].kind in RECTIFIERS]
        return sorted(dict.fromkeys(out))

    def penultimate(self) -> int:
        """The index of the feature vector that feeds the last ``Linear`` (e.g. LeNet5's
        ``relu3``); the last conv block if there is a single Linear after flatten."""
        linears = [i for i, ly in enumerate(self.layers) if ly.kind == LINEAR]
        if not linears:
            raise ConvscopeError("model has no Linear layer; expected a classifier head")
        j = self.layers[linears[-1]].inputs[0]
        while j > 0 and self.layers[j].kind in (DROPOUT, FLATTEN):
            j = self.layers[j].inputs[0]
        return max(j, 0)

    # -- running -----------------------------------------------------------------------------

    def apply_layer(self, i: int, xs: Sequence[torch.Tensor], with_indices: bool = False) -> Any:
        """Run layer ``i`` on its inputs ``xs`` with eval semantics. For max-pool with
        ``with_indices``, return ``(output, switches)``."""
        layer = self.layers[i]
        kind, m = layer.kind, layer.module
        if kind == ADD:
            if any(t.shape != xs[0].shape for t in xs):
                raise ConvscopeError(
                    f"layer {layer.name!r}: adds {[tuple(t.shape) for t in xs]}; expected "
                    "equal shapes (no broadcasting)"
                )
            out = xs[0]
            for t in xs[1:]:
                out = out + t
            return out
        if kind == CAT:
            return torch.cat(list(xs), dim=1)
        (x,) = xs
        if kind == RELU:
            return torch.relu(x)
        if kind == LEAKYRELU:
            return F.leaky_relu(x, layer.slope)
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
        if kind == MAXPOOL:
            assert isinstance(m, nn.MaxPool2d)
            return F.max_pool2d(
                x,
                m.kernel_size,
                m.stride,
                m.padding,
                m.dilation,
                ceil_mode=m.ceil_mode,
                return_indices=with_indices,
            )
        if kind == ADAPTIVEMAX:
            assert isinstance(m, nn.AdaptiveMaxPool2d)
            return F.adaptive_max_pool2d(x, m.output_size, return_indices=with_indices)
        assert m is not None
        return m(x)

    def _run(
        self, x: torch.Tensor, stop: int, keep: set[int], rec: ForwardRecord | None = None
    ) -> dict[int, torch.Tensor]:
        """Forward ``x`` through the layers ``stop`` needs; return the outputs in ``keep``."""
        need = self.ancestors(stop)
        last_use: dict[int, int] = {}
        for i in sorted(need):
            for j in self.layers[i].inputs:
                last_use[j] = i
        vals: dict[int, torch.Tensor] = {INPUT: x}
        out: dict[int, torch.Tensor] = {}
        for i in sorted(need):
            layer = self.layers[i]
            xs = [vals[j] for j in layer.inputs]
            if rec is not None:
                rec.input_shapes[i] = [t.shape for t in xs]
            if rec is not None and layer.kind in SWITCHED:
                y, rec.switches[i] = self.apply_layer(i, xs, with_indices=True)
            else:
                y = self.apply_layer(i, xs)
            vals[i] = y
            if i in keep:
                out[i] = y
            for j in set(layer.inputs):
                if last_use.get(j) == i and j not in keep:
                    vals.pop(j, None)
        return out

    def run(
        self,
        x: torch.Tensor,
        taps: Iterable[int] = (),
        to_end: bool = True,
    ) -> tuple[dict[int, torch.Tensor], torch.Tensor | None]:
        """Forward ``x`` ``(B, C, H, W)``; return ``({index: output}, logits or None)``.

        Stops once the taps are computed when ``to_end`` is false (then logits is ``None``).
        """
        taps = sorted(set(taps))
        if to_end or not taps:
            out = self._run(x, self.output, {*taps, self.output})
            return {i: out[i] for i in taps}, out[self.output]
        out = {}
        for t in taps[::-1]:  # the last tap usually needs all the others
            if t not in out:
                rest = {u for u in taps if u not in out and u in self.ancestors(t)}
                out.update(self._run(x, t, rest | {t}))
        return {i: out[i] for i in taps}, None

    def record(self, x: torch.Tensor, upto: int, taps: Iterable[int] = ()) -> ForwardRecord:
        """Forward ``x`` through the layers ``upto`` reads, keeping input shapes and max-pool
        switches (and the outputs of ``taps`` among them, plus ``upto`` itself)."""
        rec = ForwardRecord()
        rec.outputs = self._run(x, upto, set(taps) | {upto}, rec)
        return rec

    def output_shapes(self, input_shape: Sequence[int]) -> list[tuple[int, ...]]:
        """Per layer, the output shape (without batch) for one input of shape ``(C, H, W)``."""
        x = torch.zeros((1, *input_shape), device=self.device, dtype=self.dtype)
        with torch.no_grad():
            out = self._run(x, len(self.layers) - 1, set(range(len(self.layers))))
            for i in range(len(self.layers)):  # layers that do not reach the last one
                if i not in out:
                    out.update(self._run(x, i, {i}))
        return [tuple(out[i].shape[1:]) for i in range(len(self.layers))]


Graph = Chain  # the general name; a chain is a graph without branches


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


_SUPPORTED = (
    "Conv2d, Linear, ReLU/LeakyReLU (module or function), MaxPool2d, AvgPool2d, "
    "AdaptiveAvg/MaxPool2d, BatchNorm, Dropout, Flatten/view, + (residual add) or torch.cat"
)


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
    if isinstance(m, nn.LeakyReLU):
        return Layer(name, LEAKYRELU, m, slope=float(m.negative_slope))
    if isinstance(m, nn.MaxPool2d):
        return Layer(name, MAXPOOL, m)
    if isinstance(m, nn.AvgPool2d):
        return Layer(name, AVGPOOL, m)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return Layer(name, ADAPTIVEAVG, m)
    if isinstance(m, nn.AdaptiveMaxPool2d):
        return Layer(name, ADAPTIVEMAX, m)
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
        f"layer {name!r}: {type(m).__name__} is not supported; expected {_SUPPORTED}"
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


def _leaky_slope(node: fx.Node) -> float:
    args, kwargs = node.args, node.kwargs
    slope = args[1] if len(args) > 1 else kwargs.get("negative_slope", 0.01)
    if not isinstance(slope, (int, float)):
        raise ConvscopeError(f"node {node.name!r}: leaky_relu slope {slope!r}; expected a number")
    return float(slope)


def _is_inplace(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    """Whether the node overwrites its first input (``relu_``, ``inplace=True``, ``+=``)."""
    if node.op == "call_module":
        return bool(getattr(modules[str(node.target)], "inplace", False))
    if node.op == "call_function":
        return node.target in _INPLACE_FUNCS or bool(node.kwargs.get("inplace", False))
    return node.op == "call_method" and node.target in ("relu_", "add_", "leaky_relu_")


def _function_layer(node: fx.Node) -> Layer | None:
    """The layer for a function or method node, ``None`` if it is not one we know."""
    fn, meth = node.op == "call_function", node.op == "call_method"
    if (fn and node.target in _RELU_FUNCS) or (meth and node.target in ("relu", "relu_")):
        return Layer(node.name, RELU)
    if fn and node.target in _LEAKY_FUNCS:
        return Layer(node.name, LEAKYRELU, slope=_leaky_slope(node))
    if (fn and node.target in _ADD_FUNCS) or (meth and node.target in ("add", "add_")):
        if "alpha" in node.kwargs or len(node.args) != 2:
            raise ConvscopeError(f"node {node.name!r}: add with alpha; expected a + b")
        return Layer(node.name, ADD)
    if fn and node.target in _CAT_FUNCS:
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        if dim != 1:
            raise ConvscopeError(
                f"node {node.name!r}: torch.cat along dim {dim}; expected dim=1 (channels)"
            )
        return Layer(node.name, CAT)
    if (flat := _flatten_dim(node)) is not None:
        if flat[0] != 1:
            raise ConvscopeError(
                f"node {node.name!r}: flatten from dim {flat[0]}; expected flatten(x, 1)"
            )
        return Layer(node.name, FLATTEN, None, start_dim=1, flat_size=flat[1])
    return None


def _data_inputs(node: fx.Node) -> list[fx.Node]:
    """The node's tensor arguments in order (``torch.cat``'s list unpacked), shape reads
    left out; ConvscopeError for a constant operand (``x + 1``)."""
    args = node.args
    if node.op == "call_function" and node.target in _CAT_FUNCS:
        args = tuple(args[0]) if args else tuple(node.kwargs.get("tensors", ()))
    elif node.op == "call_function" and node.target in _ADD_FUNCS | {F.leaky_relu}:
        args = args[:2] if node.target in _ADD_FUNCS else args[:1]
    elif node.op == "call_method" and node.target in ("add", "add_"):
        args = args[:2]
    else:
        return [a for a in node.all_input_nodes if not _is_shape_node(a)]
    out = []
    for a in args:
        if not isinstance(a, fx.Node):
            raise ConvscopeError(
                f"node {node.name!r} ({node.target}) has the constant operand {a!r}; "
                "expected tensors computed by layers"
            )
        out.append(a)
    return out


def trace_chain(model: nn.Module) -> Chain:
    """Trace ``model`` into a :class:`Chain` (a graph of layers); ConvscopeError for an
    unsupported op, naming the node.

    Args:
        model: a CNN taking one ``(B, C, H, W)`` tensor and returning ``(B, num_classes)``
            logits, made of the layers listed in this module's docstring, in any graph:
            residual adds and ``torch.cat`` branches included.

    An in-place op (``relu_``, ``nn.ReLU(inplace=True)``, ``+=``) overwrites its input, so a
    reader of that tensor that runs after it sees the result: the graph wires such readers to
    the in-place op's output, exactly as eager PyTorch computes. (torch.fx itself records
    ``a += b`` as ``a = a + b``: another name bound to the same tensor does not see the sum.)
    """
    try:
        gm = fx.symbolic_trace(model)
    except Exception as e:  # noqa: BLE001 - fx raises many types; the message says which op
        raise ConvscopeError(
            f"model {type(model).__name__}: cannot be traced with torch.fx ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}); expected a CNN without "
            "data-dependent control flow"
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
    # fx node -> layer index; an in-place op re-points its input node to its own index
    where: dict[fx.Node, int] = {placeholders[0]: INPUT}
    aliases: dict[fx.Node, fx.Node] = {}  # a node dropped as identity -> the node it forwards
    same_tensor: dict[fx.Node, list[fx.Node]] = {}  # nodes naming one tensor (in-place ops)
    output = None
    for node in nodes:
        if node.op == "placeholder" or _is_shape_node(node):
            continue
        if node.op == "output":
            res = node.args[0]
            res = aliases.get(res, res) if isinstance(res, fx.Node) else res
            if not isinstance(res, fx.Node) or res not in where or where[res] == INPUT:
                raise ConvscopeError(
                    f"model {type(model).__name__}: forward returns {type(res).__name__}; "
                    "expected one logits tensor computed by the layers"
                )
            output = where[res]
            break
        if node.op == "get_attr":
            raise ConvscopeError(
                f"model {type(model).__name__}: forward reads the tensor {node.target!r} "
                "directly (e.g. F.conv2d(x, self.weight)); expected layers as nn.Modules"
            )
        if node.op == "call_module":
            target = str(node.target)
            # a module used twice (one nn.ReLU after every conv) gets its fx node name the 2nd time
            name = target if target not in seen_modules else node.name
            seen_modules.add(target)
            layer = _module_layer(name, modules[target])
        else:
            layer = _function_layer(node)
            if layer is None:
                target = getattr(node.target, "__name__", node.target)
                raise ConvscopeError(
                    f"model {type(model).__name__}: node {node.name!r} ({node.op} {target}) is "
                    f"not supported; expected {_SUPPORTED}"
                )
        ins = [aliases.get(a, a) for a in _data_inputs(node)]
        unknown = [a.name for a in ins if a not in where]
        if unknown or not ins:
            raise ConvscopeError(
                f"model {type(model).__name__}: node {node.name!r} reads {unknown or 'nothing'}"
                "; expected tensors computed from the input by supported layers"
            )
        n_in = 2 if layer is not None and layer.kind == ADD else None
        if layer is not None and layer.kind not in (ADD, CAT) and len(ins) != 1:
            raise ConvscopeError(
                f"model {type(model).__name__}: node {node.name!r} takes {len(ins)} tensors; "
                "expected 1"
            )
        if n_in is not None and len(ins) != n_in:
            raise ConvscopeError(f"node {node.name!r}: add of {len(ins)} tensors; expected 2")
        if layer is None:  # identity: readers of this node read its input
            aliases[node] = ins[0]
            continue
        layer.inputs = tuple(where[a] for a in ins)
        layers.append(layer)
        where[node] = len(layers) - 1
        if _is_inplace(node, modules):  # the input's tensor now holds the result: every
            group = same_tensor.setdefault(ins[0], [ins[0]])  # name for it reads this layer
            group.append(node)
            for alias in group:
                where[alias] = len(layers) - 1
                same_tensor[alias] = group
    if not layers or output is None:
        raise ConvscopeError(f"model {type(model).__name__}: no layers found")
    names = [ly.name for ly in layers]
    if len(set(names)) != len(names):
        raise ConvscopeError(
            f"model {type(model).__name__}: layer names collide ({names}); "
            "expected unique module names"
        )
    log.debug("traced %s into %d layers", type(model).__name__, len(layers))
    return Chain(model, layers, output)


trace_graph = trace_chain


def as_chain(model: nn.Module | Chain) -> Chain:
    """``model`` if it is already a :class:`Chain`, else :func:`trace_chain` of it."""
    return model if isinstance(model, Chain) else trace_chain(model)
