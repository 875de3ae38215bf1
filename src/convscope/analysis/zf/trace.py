"""Tracing a model into the layer graph (:class:`~convscope.analysis.zf.graph.Chain`).

``torch.fx`` records the model's forward as nodes. Modules of known kinds (convolutions,
linears, every activation, normalisation, pooling, dropout, flatten, recurrent cells) stay
whole, subclasses included (an ``nn.BatchNorm2d`` subclass is batch norm); the tracer steps
into every other module, so a custom ``Flatten`` or a scaling module ``x * s`` becomes the
plain tensor code it runs. Each node becomes one :class:`~convscope.analysis.zf.graph.Layer`
(kinds in :mod:`~convscope.analysis.zf.graph`); a node of no known kind is an ``op`` layer the
graph runs as written, so any traceable model runs layer by layer.

Refused, in one line naming the model or node: a model fx cannot trace (data-dependent control
flow), a forward with more than one input, and a forward that returns anything but one tensor.
"""

from __future__ import annotations

import logging
import operator
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from convscope.analysis.zf import kinds
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
    OP,
    RECURRENT,
    RELU,
    SCALE,
    VALUE,
    Attr,
    Chain,
    Layer,
    Ref,
    eval_mode,
)
from convscope.errors import ConvscopeError

log = logging.getLogger(__name__)

_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_DROPOUT_FUNCS = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout}
_RELU_FUNCS = {F.relu, torch.relu, torch.relu_, torch.nn.functional.relu_}
_LEAKY_FUNCS = {F.leaky_relu, torch.nn.functional.leaky_relu_}
_ADD_FUNCS = {operator.add, operator.iadd, torch.add}
_MUL_FUNCS = {operator.mul, operator.imul, torch.mul}
_DIV_FUNCS = {operator.truediv, operator.itruediv, torch.div}
_CAT_FUNCS = {torch.cat, torch.concat}
_INPLACE_FUNCS = {torch.relu_, torch.nn.functional.relu_, torch.nn.functional.leaky_relu_}
_INPLACE_FUNCS |= {operator.iadd, operator.imul, operator.isub, operator.itruediv}
_NORMS = (nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)
_LEAVES: tuple[type[nn.Module], ...] = (
    nn.Conv2d,
    nn.Linear,
    nn.ReLU,
    nn.LeakyReLU,
    *kinds.ACTIVATION_MODULES,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.modules.batchnorm._NormBase,
    *_NORMS,
    *_DROPOUTS,
    nn.Flatten,
    nn.Identity,
    nn.RNNBase,
)


class _Tracer(fx.Tracer):
    """fx's tracer, keeping every module of a known kind (and its subclasses) whole."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, _LEAVES) or super().is_leaf_module(m, qualname)


def _is_shape_node(node: fx.Node) -> bool:
    """``x.size(0)``, ``x.size()[0]``, ``x.shape[0]``, ``x.dim()``: a non-tensor value."""
    if node.op == "call_method" and node.target in ("size", "dim"):
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
        return Layer(name, CONV, m)
    if isinstance(m, nn.Linear):
        return Layer(name, LINEAR, m)
    if isinstance(m, nn.ReLU):
        return Layer(name, RELU, m, op="relu")
    if isinstance(m, nn.LeakyReLU):
        return Layer(name, LEAKYRELU, m, slope=float(m.negative_slope), op="leaky_relu")
    if (act := kinds.module_activation(m)) is not None:
        return Layer(name, ACT, m, op=act)
    if isinstance(m, nn.MaxPool2d):
        return Layer(name, MAXPOOL, m)
    if isinstance(m, nn.AvgPool2d):
        return Layer(name, AVGPOOL, m)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return Layer(name, ADAPTIVEAVG, m)
    if isinstance(m, nn.AdaptiveMaxPool2d):
        return Layer(name, ADAPTIVEMAX, m)
    norm_base = nn.modules.batchnorm._NormBase
    if isinstance(m, norm_base) and m.track_running_stats and m.running_mean is not None:
        return Layer(name, BN, m)  # eval mode: a fixed per-channel affine map
    if isinstance(m, _NORMS):
        return Layer(name, NORM, m)
    if isinstance(m, _DROPOUTS):
        return Layer(name, DROPOUT, m)
    if isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1:
        return Layer(name, FLATTEN, m)
    if isinstance(m, nn.RNNBase):
        return Layer(name, RECURRENT, m)
    return Layer(name, OP, m, op=type(m).__name__)


def _flatten_dim(node: fx.Node) -> tuple[int, int | None] | None:
    """``(start_dim, checked size)`` if the node flattens its first argument, else ``None``."""
    args, kwargs = node.args, node.kwargs
    if (node.op == "call_function" and node.target is torch.flatten) or (
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


def _number(a: Any) -> bool:
    return isinstance(a, (int, float)) and not isinstance(a, bool)


def _target_name(node: fx.Node) -> str:
    return str(getattr(node.target, "__name__", node.target))


def _function_layer(node: fx.Node) -> Layer | None:
    """The layer for a function or method node of a known kind, ``None`` otherwise."""
    fn, meth = node.op == "call_function", node.op == "call_method"
    t, args, kw = node.target, node.args, node.kwargs
    if (fn and t in _RELU_FUNCS) or (meth and t in ("relu", "relu_")):
        return Layer(node.name, RELU, op="relu")
    if fn and t in _LEAKY_FUNCS:
        slope = args[1] if len(args) > 1 else kw.get("negative_slope", 0.01)
        if _number(slope):
            return Layer(node.name, LEAKYRELU, slope=float(slope), op="leaky_relu")
    if (fn and (name := kinds.activation_name(t)) is not None) or (
        meth and (name := str(t).removesuffix("_")) in kinds.ACTIVATION_FUNCTIONS
    ):
        return Layer(node.name, ACT, op=name)
    if fn and t in _DROPOUT_FUNCS:
        return Layer(node.name, DROPOUT)
    both = len(args) == 2 and all(isinstance(a, fx.Node) and a.op != "get_attr" for a in args)
    if ((fn and t in _ADD_FUNCS) or (meth and t in ("add", "add_"))) and both and not kw:
        return Layer(node.name, ADD)
    tensor_args = [a for a in args if isinstance(a, fx.Node) and not _is_shape_node(a)]
    one_number = len(args) == 2 and not kw and sum(_number(a) for a in args) == 1
    one_number = one_number and len(tensor_args) == 1
    if ((fn and t in _MUL_FUNCS) or (meth and t in ("mul", "mul_"))) and one_number:
        c = args[0] if _number(args[0]) else args[1]
        return Layer(node.name, SCALE, scale=float(c), op="mul")
    divides = (fn and t in _DIV_FUNCS) or (meth and t in ("div", "div_"))
    if divides and one_number and isinstance(args[0], fx.Node) and args[1] != 0:
        return Layer(node.name, SCALE, scale=1.0 / float(args[1]), op="div")
    if fn and t in _CAT_FUNCS:
        dim = args[1] if len(args) > 1 else kw.get("dim", 0)
        if dim == 1:
            return Layer(node.name, CAT)
    if (flat := _flatten_dim(node)) is not None and flat[0] == 1:
        return Layer(node.name, FLATTEN, None, start_dim=1, flat_size=flat[1])
    return None


def _is_inplace(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    """Whether the node overwrites its first input (``relu_``, ``inplace=True``, ``+=``)."""
    if node.op == "call_module":
        return bool(getattr(modules[str(node.target)], "inplace", False))
    if node.op == "call_function":
        return node.target in _INPLACE_FUNCS or bool(node.kwargs.get("inplace", False))
    t = str(node.target)
    return node.op == "call_method" and t.endswith("_") and not t.startswith("_")


def _call_method(name: str) -> Any:
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(self, name)(*args, **kwargs)

    call.__name__ = name
    return call


class _Builder:
    """Turns fx nodes into layers, one at a time, in execution order."""

    def __init__(self, model: nn.Module, graph: fx.Graph) -> None:
        self.model = model
        self.modules = dict(model.named_modules())
        self.layers: list[Layer] = []
        self.where: dict[fx.Node, int] = {}
        self.aliases: dict[fx.Node, Any] = {}  # identity node -> what it forwards
        self.same_tensor: dict[fx.Node, list[fx.Node]] = {}
        self.deferred: set[fx.Node] = set()  # shape reads, made layers when something reads them
        self.seen_modules: set[str] = set()
        self.model_name = type(model).__name__

    def value(self, a: fx.Node) -> int:
        """The layer index of a node's value, making a deferred shape read a layer now."""
        a = self.aliases.get(a, a)
        if a in self.deferred:
            self.deferred.discard(a)
            self.add(a, Layer(a.name, VALUE, op=_target_name(a)))
        if a not in self.where:
            raise ConvscopeError(
                f"model {self.model_name}: node {a.name!r} is not computed from the input; "
                "expected values computed by the model's layers"
            )
        return self.where[a]

    def template(self, node: fx.Node) -> tuple[tuple[Any, ...], dict[str, Any], list[int]]:
        """The node's arguments with inputs as ``Ref`` and parameters as ``Attr``."""
        inputs: list[int] = []

        def sub(a: Any) -> Any:
            if not isinstance(a, fx.Node):
                return a
            a = self.aliases.get(a, a)
            if not isinstance(a, fx.Node):
                return a
            if a.op == "get_attr":
                return Attr(str(a.target))
            idx = self.value(a)
            if idx not in inputs:
                inputs.append(idx)
            return Ref(inputs.index(idx))

        args = fx.node.map_aggregate(node.args, sub)
        kwargs = fx.node.map_aggregate(dict(node.kwargs), sub)
        return args, kwargs, inputs  # type: ignore[return-value]

    def add(self, node: fx.Node, layer: Layer) -> None:
        if layer.inputs is None:  # not a fixed-input kind: the call's own arguments
            args, kwargs, inputs = self.template(node)
            simple = len(node.args) == 1 and not node.kwargs and len(inputs) == 1
            generic = (OP, VALUE, ACT, RECURRENT)
            if layer.kind not in generic and not simple:  # e.g. a conv called with extra args
                what = type(layer.module).__name__ if layer.module is not None else layer.op
                layer = Layer(layer.name, OP, layer.module, op=what or _target_name(node))
            if layer.kind in generic:
                layer.args, layer.kwargs = args, kwargs
                if layer.module is None:
                    layer.fn = self._callable(node)
            layer.inputs = tuple(inputs)
        layer.inplace = _is_inplace(node, self.modules)
        if layer.kind == OP and layer.module is None:
            t = node.target
            layer.pointwise = (node.op == "call_function" and t in kinds.POINTWISE_FUNCTIONS) or (
                node.op == "call_method" and str(t) in kinds.POINTWISE_METHODS
            )
        self.layers.append(layer)
        self.where[node] = len(self.layers) - 1
        if layer.inplace and node.args and isinstance(node.args[0], fx.Node):
            first = self.aliases.get(node.args[0], node.args[0])
            group = self.same_tensor.setdefault(first, [first])
            group.append(node)
            for alias in group:  # every name of the overwritten tensor now reads this layer
                self.where[alias] = len(self.layers) - 1
                self.same_tensor[alias] = group

    def _callable(self, node: fx.Node) -> Any:
        return node.target if node.op == "call_function" else _call_method(str(node.target))

    def node(self, node: fx.Node) -> None:
        if node.op == "call_module":
            target = str(node.target)
            # a module used twice (one nn.ReLU after every conv) gets its fx node name the 2nd time
            name = target if target not in self.seen_modules else node.name
            self.seen_modules.add(target)
            layer = _module_layer(name, self.modules[target])
        else:
            layer = _function_layer(node)
            if layer is None:
                layer = Layer(node.name, OP, op=_target_name(node))
        if layer is None:  # identity: readers of this node read its input
            (src,) = node.all_input_nodes
            self.aliases[node] = self.aliases.get(src, src)
            return
        if layer.kind in (RELU, LEAKYRELU, DROPOUT, SCALE, FLATTEN, ADD, CAT):
            data = self._data_inputs(node, layer.kind)
            layer.inputs = tuple(self.value(a) for a in data)
        self.add(node, layer)

    def _data_inputs(self, node: fx.Node, kind: str) -> list[fx.Node]:
        """The tensors a fixed-kind layer reads: all but shape reads, in argument order."""
        if kind == CAT:
            args = node.args[0] if node.args else node.kwargs.get("tensors", ())
            return [a for a in args if isinstance(a, fx.Node)]  # type: ignore[union-attr]
        if kind == ADD:
            return list(node.args[:2])  # type: ignore[arg-type]
        first = [a for a in node.args[:2] if isinstance(a, fx.Node) and not _is_shape_node(a)]
        return first[:1]


def trace(model: nn.Module) -> Chain:
    """Trace ``model`` into a :class:`~convscope.analysis.zf.graph.Chain`; ConvscopeError,
    naming the model, for what cannot be traced (module docstring).

    An in-place op (``relu_``, ``nn.ReLU(inplace=True)``, ``+=``) overwrites its input, so a
    reader of that tensor that runs after it sees the result: the graph wires such readers to
    the in-place op's output, exactly as eager PyTorch computes. (torch.fx itself records
    ``a += b`` as ``a = a + b``: another name bound to the same tensor does not see the sum.)
    """
    name = type(model).__name__
    try:
        with eval_mode(model):
            graph = _Tracer().trace(model)
    except Exception as e:  # noqa: BLE001 - fx raises many types; the message says which op
        first = str(e).splitlines()[0] if str(e) else ""
        raise ConvscopeError(
            f"model {name}: cannot be traced with torch.fx ({type(e).__name__}: {first}); "
            "expected a forward without data-dependent control flow"
        ) from None
    nodes = list(graph.nodes)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ConvscopeError(f"model {name}: forward takes {len(placeholders)} inputs; expected 1")
    b = _Builder(model, graph)
    b.where[placeholders[0]] = INPUT
    output = None
    for node in nodes:
        if node.op in ("placeholder", "get_attr"):
            continue
        if _is_shape_node(node):
            b.deferred.add(node)
            continue
        if node.op == "output":
            res = node.args[0]
            res = b.aliases.get(res, res) if isinstance(res, fx.Node) else res
            if not isinstance(res, fx.Node) or res not in b.where or b.where[res] == INPUT:
                raise ConvscopeError(
                    f"model {name}: forward returns {type(res).__name__}; expected one logits "
                    "tensor computed by the layers"
                )
            output = b.where[res]
            break
        b.node(node)
    if not b.layers or output is None:
        raise ConvscopeError(f"model {name}: no layers found")
    names = [ly.name for ly in b.layers]
    if len(set(names)) != len(names):
        raise ConvscopeError(
            f"model {name}: layer names collide ({names}); expected unique module names"
        )
    log.debug("traced %s into %d layers", name, len(b.layers))
    return Chain(model, b.layers, output)
