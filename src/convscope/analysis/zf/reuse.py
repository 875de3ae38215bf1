"""Layer outputs of a reference model on fixed batches, given back to a model of the same graph
wherever nothing a layer reads has changed: the sanity check's occlusion maps of re-initialised
copies of a model (Adebayo et al. 2018, §3.1) then run only the layers at and above the first
changed weight.

A layer's output is taken from the reference when the layer is *clean*: every tensor it reads
(its module's parameters and buffers, the parameters its call names) equals the reference's bit
for bit, in dtype, shape and layout, and every layer it reads is clean. The same kernels on the
same inputs give the same floats, so the maps are exactly those of a full forward pass
(``tests/analysis/zf/test_zf_reuse.py`` checks that against passes without reuse). A layer that
calls a Python function of the user's (which may read anything) is never clean.

Outputs are kept for the layers nearest the output first (the ones that save the most compute
and are the smallest) up to a memory budget.
"""

from __future__ import annotations

import types
from typing import Any

import torch

from convscope.analysis.zf.apply import get_attr
from convscope.analysis.zf.graph import INPUT, Chain
from convscope.analysis.zf.layer import Attr

BUDGET_BYTES = 256 * 2**20  # kept reference outputs, all batches together


_BUILTIN = (types.BuiltinFunctionType, types.BuiltinMethodType, types.MethodDescriptorType)
_KNOWN = ("torch", "_operator", "operator", "math", "convscope.analysis.zf")


def _known_function(fn: Any) -> bool:
    """Whether ``fn`` reads nothing but its arguments: a C builtin, or a Python function of
    torch, the standard operators or the graph's own method wrappers. Anything else (a user's
    function, a callable object, a partial) may read state the graph cannot see."""
    if isinstance(fn, _BUILTIN):
        return True
    module = getattr(fn, "__module__", None) or ""
    return isinstance(fn, types.FunctionType) and (
        module in _KNOWN or module.startswith(tuple(m + "." for m in _KNOWN))
    )


def _reads(chain: Chain, i: int) -> list[torch.Tensor] | None:
    """The tensors layer ``i`` reads besides its inputs; ``None`` when that is unknowable."""
    layer = chain.layers[i]
    out: list[torch.Tensor] = []
    if layer.module is not None:
        out += list(layer.module.parameters()) + list(layer.module.buffers())
    if layer.fn is not None and not _known_function(layer.fn):
        return None  # a function of the user's: it may read any weight of the model
    for a in [*(layer.args or ()), *layer.kwargs.values()]:
        if isinstance(a, Attr):
            t = get_attr(chain.model, a.name)
            if isinstance(t, torch.Tensor):
                out.append(t)
    return out


def same_tensors(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    """Whether two lists of tensors are equal bit for bit, in dtype, shape, layout and device
    (a kernel may round differently in another memory format)."""
    return len(a) == len(b) and all(
        x.dtype == y.dtype
        and x.shape == y.shape
        and x.stride() == y.stride()
        and x.device == y.device
        and torch.equal(x, y)
        for x, y in zip(a, b)
    )


def _structure(chain: Chain) -> list[tuple[Any, ...]]:
    return [(ly.name, ly.kind, ly.inputs, type(ly.module)) for ly in chain.layers]


class PrefixReuse:
    """Reference outputs of a sequence of forward passes, keyed by the pass's number.

    Use: :meth:`begin` before the passes of one model over the batches ``key`` describes (it
    records when there is no reference for ``key`` yet, else reuses); then :meth:`run` for
    each pass, in the same order every time.
    """

    def __init__(self, budget_bytes: int = BUDGET_BYTES) -> None:
        self.budget = budget_bytes
        self._key: tuple[Any, ...] | None = None
        self._structure: list[tuple[Any, ...]] | None = None
        self._reads: list[list[torch.Tensor] | None] = []
        self._stored: set[int] = set()
        self._outputs: list[dict[int, torch.Tensor]] = []
        self._clean: set[int] = set()
        self.recording = True

    def begin(self, chain: Chain, key: tuple[Any, ...], rows: int, shape: tuple[int, ...]) -> None:
        """Start the passes of ``chain`` over ``rows`` inputs of ``shape`` in all, described by
        ``key`` (tensors compared by value)."""
        if self._key is not None and self._same_key(key) and _structure(chain) == self._structure:
            self.recording = False
            self._clean = self._clean_layers(chain)
            return
        self.recording = True
        self._key = tuple(k.clone() if isinstance(k, torch.Tensor) else k for k in key)
        self._structure = _structure(chain)
        reads = [_reads(chain, i) for i in range(len(chain.layers))]
        self._reads = [None if r is None else [t.detach().clone() for t in r] for r in reads]
        self._stored = self._choose(chain, rows, shape)
        self._outputs = []

    def _same_key(self, key: tuple[Any, ...]) -> bool:
        assert self._key is not None
        return len(key) == len(self._key) and all(
            same_tensors([a], [b]) if isinstance(a, torch.Tensor) else a == b
            for a, b in zip(key, self._key)
        )

    def _choose(self, chain: Chain, rows: int, shape: tuple[int, ...]) -> set[int]:
        """The layers whose outputs are kept: those read by another layer, nearest the output
        first, while their outputs for all ``rows`` fit the budget."""
        shapes = chain.output_shapes(shape)
        size = torch.empty((), dtype=chain.dtype).element_size()
        chosen, used = set(), 0
        for i in range(len(chain.layers) - 1, -1, -1):
            if not shapes[i] or not chain.users[i]:
                continue
            n = rows * size * int(torch.Size(shapes[i]).numel())
            if used + n > self.budget:
                break
            chosen.add(i)
            used += n
        return chosen

    def _clean_layers(self, chain: Chain) -> set[int]:
        clean: set[int] = set()
        for i in range(len(chain.layers)):  # layers are in the order they run
            ref, now = self._reads[i], _reads(chain, i)
            inputs_clean = all(j == INPUT or j in clean for j in chain.inputs_of(i))
            if inputs_clean and ref is not None and now is not None and same_tensors(now, ref):
                clean.add(i)
        return clean

    def run(
        self, chain: Chain, n: int, x: torch.Tensor, taps: list[int]
    ) -> tuple[dict[int, Any], Any]:
        """Pass number ``n``: :meth:`Chain.run` ``(x, taps)`` to the logits, recording the kept
        outputs or starting from the clean ones."""
        if self.recording:
            out = chain._run(x, chain.output, {*taps, chain.output, *self._stored})
            self._outputs.append({i: out[i] for i in self._stored if i in out})
            return {i: out[i] for i in taps}, out[chain.output]
        kept = self._outputs[n] if n < len(self._outputs) else {}  # a recording cut short
        given = {i: v for i, v in kept.items() if i in self._clean}
        return chain.run(x, taps=taps, given=given)
