"""A network as a graph of layers, traced with ``torch.fx``: the one layer graph every analysis
reads (activation statistics, every Zeiler & Fergus analysis, the explorer, the across-sweep
study).

The Zeiler & Fergus analyses (arXiv 1311.2901) need to run a network layer by layer: to read a
layer's feature maps, to record the max-pooling switches of a forward pass, and to walk back
down through the transposed layers (§2.1). :func:`trace_chain` (in
:mod:`~convscope.analysis.zf.trace`) turns any ``nn.Module`` that ``torch.fx`` can trace into a
:class:`Chain` of :class:`Layer` objects in execution order, each naming the layers it reads.
A layer is named by its module path (``"layer1.0.conv1"``, ``"features.0"``) or, for a
function, by its fx node (``"relu_1"``, ``"add"``, ``"gelu"``); :func:`display_name` shows it
to a reader as ``features.0 (Conv2d 1→24, 3×3)``.

Every node the tracer sees becomes a layer that the graph can run, so the forward-only
analyses work on any traceable model. The kinds the analyses know more about:

* ``conv`` (``nn.Conv2d``: grouped, depthwise, strided, ``padding="same"``), ``linear``;
* ``relu``, ``leakyrelu``, and ``act``: any other elementwise nonlinearity, module or function
  (GELU, SiLU, ELU, Tanh, Sigmoid, Softplus, Mish, ReLU6, Hardswish, PReLU, ...; the name in
  :attr:`Layer.op`; tables in :mod:`~convscope.analysis.zf.kinds`);
* ``bn`` (batch norm with running statistics, subclasses included), ``norm`` (GroupNorm,
  LayerNorm, InstanceNorm: statistics of each image), ``scale`` (``x * c``, ``x / c``);
* ``maxpool``, ``avgpool``, ``adaptiveavgpool``, ``adaptivemaxpool``, ``dropout``, ``flatten``,
  ``add`` (residual), ``cat`` (channels), ``recurrent`` (``nn.RNN``/``LSTM``/``GRU``);
* ``op``: anything else (run as written, forward only), and ``value``: non-tensor values such
  as ``x.shape[0]`` that another op reads.

Recorded choice: the graph always runs with *evaluation* semantics, whatever the model's
``training`` flag: the model is put in eval mode for the pass, batch norm uses its running
statistics and dropout is the identity. In-place ops run on a copy of their input, so a
captured feature map is never overwritten; readers that the in-place op would have affected
are wired to its output instead (same numbers as the model).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from convscope.analysis.zf.apply import apply_layer

# re-exported: a layer, its kinds and how a reader sees it live in zf.layer
from convscope.analysis.zf.layer import (  # noqa: F401
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
    KINDS,
    LEAKYRELU,
    LINEAR,
    MAXPOOL,
    NONLINEAR,
    NORM,
    OP,
    PASS_THROUGH,
    RECTIFIERS,
    RECURRENT,
    RELU,
    SCALE,
    SPATIAL_KINDS,
    SWITCHED,
    VALUE,
    Attr,
    ForwardRecord,
    Layer,
    Ref,
    _pair,
    conv_padding,
    display_name,
    eval_mode,
    reader_name,
)
from convscope.errors import ConvscopeError


def _shape_of(v: Any) -> Any:
    return v.shape if isinstance(v, torch.Tensor) else torch.Size([])


class Chain:
    """A model traced into a graph of :class:`Layer` s in execution (topological) order;
    runs with eval semantics. A plain chain is the special case ``inputs == (i - 1,)``.

    Build it with :func:`trace_chain`. Layers are addressed by name or index.
    """

    def __init__(self, model: nn.Module, layers: list[Layer], output: int | None = None) -> None:
        self.model = model
        for i, ly in enumerate(layers):
            if ly.inputs is None:
                ly.inputs = (i - 1,)
        self.layers = layers
        self.output = len(layers) - 1 if output is None else output
        self._index = {layer.name: i for i, layer in enumerate(layers)}
        self.users: list[list[int]] = [[] for _ in layers]
        for i in range(len(layers)):
            for j in self.inputs_of(i):
                if j != INPUT:
                    self.users[j].append(i)

    def inputs_of(self, i: int) -> tuple[int, ...]:
        inputs = self.layers[i].inputs
        assert inputs is not None
        return inputs

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

    def display(self, layer: str | int) -> str:
        """:func:`display_name` of a layer given by name or index."""
        return display_name(self.layers[self.index(layer)])

    def said(self, layer: str | int) -> str:
        """:func:`reader_name` of a layer given by name or index (for sentences)."""
        ly = self.layers[self.index(layer)]
        return reader_name(ly.name, ly.module, ly.op or ly.kind)

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
            for j in self.inputs_of(todo.pop()):
                if j != INPUT and j not in seen:
                    seen.add(j)
                    todo.append(j)
        return seen

    def resolve(self, layer: str | int, block_output: bool = True) -> int:
        """The index a named layer's feature maps are read from.

        With ``block_output`` (the default), naming a ``conv`` or ``linear`` layer means its
        output after its nonlinearity: the index moves forward over normalisation, scaling,
        dropout and residual adds (while each is the only reader) to the first elementwise
        nonlinearity (ReLU, GELU, SiLU, ...), if one follows before any other conv, linear,
        pooling or flatten. So ``"conv2"`` of LeNet5 reads ``relu2`` (post-ReLU, before
        pooling), and a residual block's last conv reads the rectified sum.
        Recorded choice: the paper projects from a layer's pooled maps; the rectified maps
        before pooling carry the same maxima at finer positions, and projecting one of them
        gives the same reconstruction as projecting the pooled unit it wins.
        """
        i = self.index(layer)
        if not block_output or self.layers[i].kind not in (CONV, LINEAR, BN, NORM):
            return i
        j = i
        while len(self.users[j]) == 1:
            j = self.users[j][0]
            kind = self.layers[j].kind
            if kind in NONLINEAR:
                return j
            if kind not in PASS_THROUGH:
                break
        return i

    def default_layers(self) -> list[int]:
        """Each conv block's output (see :meth:`resolve`), in order, without repeats."""
        out = [self.resolve(i) for i, ly in enumerate(self.layers) if ly.kind == CONV]
        if not self.is_chain:  # a projection shortcut's conv resolves to its own bn: skip it
            out = [i for i in out if self.layers[i].kind in NONLINEAR]
        return sorted(dict.fromkeys(out))

    def penultimate(self) -> int:
        """The index of the feature vector that feeds the last ``Linear`` (e.g. LeNet5's
        ``relu3``); the last conv block if there is a single Linear after flatten."""
        linears = [i for i, ly in enumerate(self.layers) if ly.kind == LINEAR]
        if not linears:
            raise ConvscopeError("model has no Linear layer; expected a classifier head")
        j = self.inputs_of(linears[-1])[0]
        while j > 0 and self.layers[j].kind in (DROPOUT, FLATTEN):
            j = self.inputs_of(j)[0]
        return max(j, 0)

    # -- running -----------------------------------------------------------------------------

    def apply_layer(self, i: int, xs: Sequence[Any], with_indices: bool = False) -> Any:
        """Run layer ``i`` on its inputs ``xs`` with eval semantics. For max-pool with
        ``with_indices``, return ``(output, switches)`` (:func:`.apply.apply_layer`)."""
        return apply_layer(self, i, xs, with_indices)

    def needed(self, stop: int, given: Iterable[int] = ()) -> set[int]:
        """The layers to compute for ``stop`` when the outputs of ``given`` are known: its
        ancestors, without those that reach it only through a given layer."""
        known = set(given)
        seen: set[int] = set()
        todo = [stop]
        while todo:
            i = todo.pop()
            if i in seen or i in known:
                continue
            seen.add(i)
            todo.extend(j for j in self.inputs_of(i) if j != INPUT)
        return seen

    def _run(
        self,
        x: torch.Tensor,
        stop: int,
        keep: set[int],
        rec: ForwardRecord | None = None,
        given: dict[int, Any] | None = None,
    ) -> dict[int, Any]:
        """Forward ``x`` through the layers ``stop`` needs; return the outputs in ``keep``.
        ``given``: outputs of some layers for this ``x``, already known (not computed again;
        every layer they reach is)."""
        from convscope.analysis.zf.norms import norm_scale

        given = given or {}
        need = self.needed(stop, given) if given else self.ancestors(stop)
        last_use: dict[int, int] = {}
        for i in sorted(need):
            for j in self.inputs_of(i):
                last_use[j] = i
        vals: dict[int, Any] = {INPUT: x}
        out: dict[int, Any] = {}
        for i, v in given.items():
            if i in last_use or i in keep:
                vals[i] = v
                if i in keep:
                    out[i] = v
        with eval_mode(self.model):
            for i in sorted(need):
                layer = self.layers[i]
                xs = [vals[j] for j in self.inputs_of(i)]
                if rec is not None:
                    rec.input_shapes[i] = [_shape_of(t) for t in xs]
                    if layer.kind == NORM:
                        rec.norm_scales[i] = norm_scale(layer, xs[0])
                if rec is not None and layer.kind in SWITCHED:
                    y, rec.switches[i] = self.apply_layer(i, xs, with_indices=True)
                else:
                    y = self.apply_layer(i, xs)
                vals[i] = y
                if i in keep:
                    out[i] = y
                for j in set(self.inputs_of(i)):
                    if last_use.get(j) == i and j not in keep:
                        vals.pop(j, None)
        return out

    def run(
        self,
        x: torch.Tensor,
        taps: Iterable[int] = (),
        to_end: bool = True,
        given: dict[int, Any] | None = None,
    ) -> tuple[dict[int, Any], Any]:
        """Forward ``x`` ``(B, C, H, W)``; return ``({index: output}, logits or None)``.

        Stops once the taps are computed when ``to_end`` is false (then logits is ``None``).
        ``given``: layer outputs already known for this ``x`` (see :meth:`_run`).
        """
        taps = sorted(set(taps))
        if to_end or not taps:
            out = self._run(x, self.output, {*taps, self.output}, given=given)
            return {i: out[i] for i in taps}, out[self.output]
        out = {}
        for t in taps[::-1]:  # the last tap usually needs all the others
            if t not in out:
                rest = {u for u in taps if u not in out and u in self.ancestors(t)}
                out.update(self._run(x, t, rest | {t}, given=given))
        return {i: out[i] for i in taps}, None

    def record(self, x: torch.Tensor, upto: int, taps: Iterable[int] = ()) -> ForwardRecord:
        """Forward ``x`` through the layers ``upto`` reads, keeping input shapes and max-pool
        switches (and the outputs of ``taps`` among them, plus ``upto`` itself)."""
        rec = ForwardRecord()
        rec.outputs = self._run(x, upto, set(taps) | {upto}, rec)
        return rec

    def output_shapes(self, input_shape: Sequence[int]) -> list[tuple[int, ...]]:
        """Per layer, the output shape (without batch) for one input of shape ``(C, H, W)``;
        ``()`` for a layer whose output is not a tensor (a shape, an LSTM's tuple)."""
        x = torch.zeros((1, *input_shape), device=self.device, dtype=self.dtype)
        with torch.no_grad():
            out = self._run(x, len(self.layers) - 1, set(range(len(self.layers))))
            for i in range(len(self.layers)):  # layers that do not reach the last one
                if i not in out:
                    out.update(self._run(x, i, {i}))
        return [
            tuple(out[i].shape[1:]) if isinstance(out[i], torch.Tensor) else ()
            for i in range(len(self.layers))
        ]


Graph = Chain  # the general name; a chain is a graph without branches


def trace_chain(model: nn.Module) -> Chain:
    """Trace ``model`` into a :class:`Chain`; see :func:`convscope.analysis.zf.trace.trace`."""
    from convscope.analysis.zf.trace import trace

    return trace(model)


trace_graph = trace_chain


def as_chain(model: nn.Module | Chain) -> Chain:
    """``model`` if it is already a :class:`Chain`, else :func:`trace_chain` of it."""
    return model if isinstance(model, Chain) else trace_chain(model)
