"""Where a model's layer activations are taken, and hooks that take them.

:func:`find_hook_points` traces one forward pass in execution order. For each ``nn.Conv*`` /
``nn.Linear`` call, if the next module that runs (skipping normalisation layers such as
BatchNorm) is an activation -- a module (ReLU, Tanh, ...) or a function called in ``forward``
(``F.relu``, ``torch.relu``, ``x.relu_()``, ``F.leaky_relu``, ...; seen with a
``TorchFunctionMode``, calls inside modules ignored) -- its output is taken: the layer *after*
its nonlinearity; otherwise the layer's own output. The last ``nn.Linear`` call is the logits; a model without one has its own output as the logits.
Recurrent modules (``nn.RNN``/``nn.LSTM``/``nn.GRU``) are layers too: their top layer's output
sequence ``(B, T, H)`` is taken, with statistics per time step as well. A module called more
than once per forward (a shared ``self.relu``) is hooked at the right call. Names follow the
reference: ``Layer_1_Activations``, ``Layer_2_Activations``, ..., ``Logits``. For LeNet5:
relu1, relu2, relu3 and fc2.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from convscope.errors import ConvscopeError

ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softplus,
    nn.Softsign,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.LogSigmoid,
    nn.Tanhshrink,
    nn.Threshold,
)
NORMS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.LocalResponseNorm,
)
CONVS: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd,)


@dataclass(frozen=True)
class HookPoint:
    """Where one layer's activations are taken.

    Attributes:
        name: ``Layer_<i>_Activations`` or ``Logits``.
        layer: qualified name of the conv/linear/recurrent module (``"conv1"``).
        module: qualified name of the module whose output is taken (``"relu1"``; ``""`` is the
            model itself).
        call: which call of ``module`` in one forward pass (0-based).
        kind: ``"conv"``, ``"linear"``, ``"recurrent"`` or ``"logits"``.
        after: class name of the activation taken after the layer, or ``"none"``.
    """

    name: str
    layer: str
    module: str
    call: int
    kind: str
    after: str


# functional activations, by ``__name__`` (F.relu, torch.relu, Tensor.relu, in-place ``_``)
FUNCTIONAL_ACTIVATIONS = frozenset(
    {"relu", "leaky_relu", "relu6", "elu", "selu", "celu", "gelu", "silu", "mish"}
    | {"sigmoid", "tanh", "hardtanh", "hardswish", "hardsigmoid", "softplus", "prelu"}
)
FN_PREFIX = "fn:"  # HookPoint.module of a functional activation: "fn:relu"


class _Functional:
    """Stands for a functional activation call in the traced execution order."""

    def __init__(self, name: str) -> None:
        self.name = name


def _activation_name(func: Any) -> str | None:
    name = str(getattr(func, "__name__", "")).removesuffix("_")
    return name if name in FUNCTIONAL_ACTIVATIONS else None


class _FunctionTap(TorchFunctionMode):
    """Calls ``on_call(name, output)`` for each functional activation run outside any leaf
    module (an ``nn.ReLU`` calls ``F.relu`` itself: that call is the module's, not a tap)."""

    def __init__(self, on_call: Callable[[str, torch.Tensor], None]) -> None:
        super().__init__()
        self.on_call = on_call
        self.depth = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        out = func(*args, **(kwargs or {}))
        if self.depth == 0 and isinstance(out, torch.Tensor):
            name = _activation_name(func)
            if name is not None:
                self.on_call(name, out)
        return out


@contextlib.contextmanager
def _tap_functions(
    model: nn.Module, on_call: Callable[[str, torch.Tensor], None]
) -> Iterator[None]:
    """Within the block, ``on_call(name, out)`` for every functional activation in forward."""
    tap = _FunctionTap(on_call)

    def enter(_m: nn.Module, _inp: Any) -> None:
        tap.depth += 1

    def leave(_m: nn.Module, _inp: Any, _out: Any) -> None:
        tap.depth -= 1

    handles = []
    try:
        for m in model.modules():
            if m is not model and (isinstance(m, nn.RNNBase) or not any(m.children())):
                handles.append(m.register_forward_pre_hook(enter))
                handles.append(m.register_forward_hook(leave))
        with tap:
            yield
    finally:
        for h in handles:
            h.remove()


def _is_layer(m: nn.Module) -> bool:
    return isinstance(m, CONVS + (nn.Linear, nn.RNNBase))


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _trace(model: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Module, int]]:
    """Execution order of leaf (and recurrent) modules: ``(name, module, call_index)``."""
    order: list[tuple[str, nn.Module, int]] = []
    counts: dict[int, int] = {}
    handles = []

    def make(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, _inp: Any, _out: Any) -> None:
            i = counts.get(id(module), 0)
            counts[id(module)] = i + 1
            order.append((name, module, i))

        return hook

    fn_counts: dict[str, int] = {}

    def on_call(name: str, _out: torch.Tensor) -> None:
        i = fn_counts.get(name, 0)
        fn_counts[name] = i + 1
        order.append((FN_PREFIX + name, _Functional(name), i))  # type: ignore[arg-type]

    try:
        for name, m in model.named_modules():
            if m is model and name == "" and len(list(m.children())) > 0:
                continue
            if isinstance(m, nn.RNNBase) or not any(True for _ in m.children()):
                handles.append(m.register_forward_hook(make(name)))
        with torch.no_grad(), eval_mode(model), _tap_functions(model, on_call):
            model(x)
    finally:
        for h in handles:
            h.remove()
    return order


def find_hook_points(model: nn.Module, example: torch.Tensor) -> list[HookPoint]:
    """The layers to measure and where to hook them, from one traced forward of ``example``.

    Args:
        model: any ``nn.Module``.
        example: a small input batch, e.g. ``(2, C, H, W)``.
    """
    order = _trace(model, example)
    layer_idx = [i for i, (_, m, _) in enumerate(order) if _is_layer(m)]
    linear_idx = [i for i in layer_idx if isinstance(order[i][1], nn.Linear)]
    logits_at = linear_idx[-1] if linear_idx else None
    points: list[HookPoint] = []
    n = 0
    for i in layer_idx:
        name, m, call = order[i]
        if i == logits_at:
            points.append(HookPoint("Logits", name, name, call, "logits", "none"))
            continue
        kind = (
            "conv"
            if isinstance(m, CONVS)
            else "linear"
            if isinstance(m, nn.Linear)
            else "recurrent"
        )
        target = (name, call, "none")
        if kind != "recurrent":
            j = i + 1
            while j < len(order) and isinstance(order[j][1], NORMS):
                j += 1
            if j < len(order) and isinstance(order[j][1], ACTIVATIONS):
                target = (order[j][0], order[j][2], type(order[j][1]).__name__)
            elif j < len(order) and isinstance(order[j][1], _Functional):
                target = (order[j][0], order[j][2], f"{order[j][0][len(FN_PREFIX) :]} (function)")
        n += 1
        points.append(
            HookPoint(f"Layer_{n}_Activations", name, target[0], target[1], kind, target[2])
        )
    points = _graph_targets(model, points)
    if logits_at is None:
        points.append(HookPoint("Logits", "", "", 0, "logits", "none"))
    if not points:
        raise ConvscopeError(f"model {type(model).__name__}: found no layer to measure")
    return points


def _graph_targets(model: nn.Module, points: list[HookPoint]) -> list[HookPoint]:
    """On a network with skips or branches, each conv/linear layer's rectifier from the traced
    graph (through batch norm, dropout and a residual add: a block's last conv is measured
    after the rectified sum, not at its raw output). The first layer in execution order keeps
    a shared rectifier (a projection skip's conv then keeps its own output). Models that
    ``torch.fx`` cannot trace, and plain chains, keep the execution-order rule."""
    from convscope.analysis.zf.graph import RECTIFIERS, trace_chain
    from convscope.errors import ConvscopeError as _Err

    try:
        chain = trace_chain(model)
    except _Err:
        return points
    if chain.is_chain:
        return points
    names = {id(m): n for n, m in model.named_modules()}
    seen_calls: dict[str, int] = {}
    target_of: dict[int, tuple[str, int, str]] = {}  # chain index -> (module, call, after)
    for i, ly in enumerate(chain.layers):
        if ly.module is not None:
            key = names.get(id(ly.module), ly.name)
            after = type(ly.module).__name__
        else:
            key = FN_PREFIX + ("relu" if ly.kind == "relu" else "leaky_relu")
            after = f"{key[len(FN_PREFIX) :]} (function)"
        call = seen_calls.get(key, 0)
        seen_calls[key] = call + 1
        target_of[i] = (key, call, after)
    out, taken = [], set()
    for p in points:
        if p.kind not in ("conv", "linear") or p.layer not in chain.names:
            out.append(p)
            continue
        j = chain.resolve(p.layer)
        if chain.layers[j].kind in RECTIFIERS and j not in taken:
            taken.add(j)
            module, call, after = target_of[j]
            out.append(dataclasses.replace(p, module=module, call=call, after=after))
        else:
            out.append(dataclasses.replace(p, module=p.layer, call=0, after="none"))
    return out


def _first_tensor(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, tuple | list) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise ConvscopeError(
        f"activation hook: module output of type {type(out).__name__} is not a tensor"
    )


@contextlib.contextmanager
def hooked(
    model: nn.Module,
    points: list[HookPoint],
    sink: Callable[[HookPoint, torch.Tensor], None] | None = None,
) -> Iterator[dict[str, torch.Tensor]]:
    """Context manager: forward hooks on ``points``, removed on exit (also when the body raises).

    Without ``sink``, each point's output is stored as a detached copy in the yielded dict
    (filled anew by each forward pass; a copy, so that a later in-place op such as
    ``F.relu(x, inplace=True)`` after a conv cannot change it). With ``sink``,
    ``sink(point, output)`` is called inside the hook instead -- at that moment the output is
    still what the module returned -- and nothing is stored or copied. Recurrent outputs are
    batch-first ``(B, T, H)``.
    """
    modules = dict(model.named_modules())
    by_id = {id(m): m for m in modules.values()}
    store: dict[str, torch.Tensor] = {}
    counts: dict[int, int] = {}
    wanted: dict[int, dict[int, HookPoint]] = {}
    fn_wanted: dict[str, dict[int, HookPoint]] = {}
    for p in points:
        if p.module.startswith(FN_PREFIX):
            fn_wanted.setdefault(p.module[len(FN_PREFIX) :], {})[p.call] = p
            continue
        if p.module not in modules:
            raise ConvscopeError(f"activation hook: model has no module {p.module!r}")
        wanted.setdefault(id(modules[p.module]), {})[p.call] = p
    fn_counts: dict[str, int] = {}

    def take(p: HookPoint, t: torch.Tensor) -> None:
        if sink is not None:
            sink(p, t)
        else:
            store[p.name] = t.clone()

    def on_call(name: str, out: torch.Tensor) -> None:
        i = fn_counts.get(name, 0)
        fn_counts[name] = i + 1
        p = fn_wanted.get(name, {}).get(i)
        if p is not None:
            take(p, out.detach())

    def hook(module: nn.Module, _inp: Any, out: Any) -> None:
        i = counts.get(id(module), 0)
        counts[id(module)] = i + 1
        p = wanted[id(module)].get(i)
        if p is None:
            return
        t = _first_tensor(out).detach()
        if isinstance(module, nn.RNNBase) and not module.batch_first:
            t = t.transpose(0, 1)
        take(p, t)

    def reset(_module: nn.Module, _inp: Any) -> None:
        counts.clear()
        fn_counts.clear()

    handles = [model.register_forward_pre_hook(reset)]
    try:
        for mid in wanted:
            handles.append(by_id[mid].register_forward_hook(hook))
        with _tap_functions(model, on_call) if fn_wanted else contextlib.nullcontext():
            yield store
    finally:
        for h in handles:
            h.remove()


def capture(model: nn.Module, x: torch.Tensor, points: list[HookPoint]) -> dict[str, torch.Tensor]:
    """Run ``model`` on ``x`` (eval mode, no grad) and return each point's output.

    Returns:
        ``{point.name: tensor}``, e.g. ``(B, C, H, W)`` for conv layers, ``(B, U)`` for linear
        ones, ``(B, T, H)`` for recurrent ones.
    """
    with hooked(model, points) as store, torch.no_grad(), eval_mode(model):
        model(x)
        out = dict(store)
    missing = [p.name for p in points if p.name not in out]
    if missing:
        raise ConvscopeError(f"activation hook: no output captured for {', '.join(missing)}")
    return out
