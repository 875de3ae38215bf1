"""Training precision: ``fp32``, ``bf16`` (autocast), or ``auto`` (resolved per machine and model).

bf16 means :func:`torch.autocast` with ``bfloat16`` around forward passes (training and
evaluation). Weights, gradients, optimizer state and checkpoints stay fp32.

``auto`` resolves to bf16 only where both hold:

* the device runs bf16 fast (:func:`convscope.hardware.features`: a CPU with AMX or AVX-512
  BF16, or a CUDA GPU with bf16), and
* the model kind was measured to train faster in bf16 at unchanged accuracy
  (:data:`BF16_MODELS`).

Measured (docs/precision.md, ``benchmarks/precision_by_model.py``): LeNet5 trains 1.9x faster
in bf16 on an AMX Xeon, and 1.6x faster on two AVX-512 BF16 AMD EPYC hosts, at the same
accuracy; resnet8 1.4-1.7x faster on those, not less accurate over 3 seeds. The recurrent cells
train faster in bf16 only from a size that depends on the cell (below it the casts cost more
than the small matmuls save), so ``auto`` uses bf16 for them from :data:`BF16_MIN_HIDDEN`
units: an LSTM from 64 (1.3-1.6x faster on both hosts), a GRU from 128 (1.03-1.3x) and a plain
RNN from 256 (at 128 it was 1.15x faster on one host and 0.85x on the other). LSTM-64,
LSTM-128 and GRU-128 reach the same MNIST accuracy in bf16. User factories
(``package.module:factory``) were never measured: fp32.

Identity: the *resolved* precision is what a run is (bf16 gives other numbers than fp32), so it
is written to ``config.json`` and is part of the config hash whenever it is not fp32 (an fp32
run keeps the hash it had before this option existed). Resolution reads hardware flags only,
never a timing, so ``auto`` resolves the same way every time on one machine and a run resumes
under the precision it started with; on a machine of another kind ``auto`` may resolve
differently, and that is then another run.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Literal

import torch

from convscope.config import RunConfig, config_hash
from convscope.hardware import device_kind, features
from convscope.models import KINDS, recurrent_kinds

Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")

# the model registry's facts (convscope.models.registry): which kinds auto runs in bf16 on
# bf16-capable hardware, which are recurrent, and from how many hidden units a cell gains
BF16_MODELS = frozenset(k for k, v in KINDS.items() if v.bf16)
RECURRENT = recurrent_kinds()
BF16_MIN_HIDDEN: dict[str, int] = {
    k: v.bf16_min_hidden for k, v in KINDS.items() if v.bf16_min_hidden is not None
}


def device_type(device: str) -> str:
    """``cpu`` or ``cuda`` for a config ``device`` value (``auto`` as the loop resolves it)."""
    return device_kind(device)


@functools.cache
def cell_runs_bf16(model: str, device_kind: str) -> bool:
    """Whether this machine's kernels run a recurrent ``model`` cell in bf16 at all: some
    oneDNN builds have no bf16 LSTM primitive for some CPUs ("could not create a primitive
    descriptor for the LSTM forward propagation primitive"). Probed once per process with a
    tiny cell, forward and backward; True for non-recurrent models."""
    k = KINDS.get(model)
    if k is None or not k.recurrent:
        return True
    cell = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[model](4, 8)
    try:
        cell = cell.to(device_kind)
        x = torch.randn(3, 2, 4, device=device_kind, requires_grad=True)
        with torch.autocast(device_kind, dtype=torch.bfloat16):
            y, _ = cell(x)
        y.float().sum().backward()
    except RuntimeError:
        return False
    return True


def _measured_faster(model: str, hidden_size: int | None) -> bool:
    k = KINDS.get(model)  # a user's factory: not measured
    if k is None or not k.bf16:
        return False
    if k.bf16_min_hidden is not None:
        return (hidden_size or 0) >= k.bf16_min_hidden
    return True


def resolve(precision: str, model: str, device: str, hidden_size: int | None = None) -> str:
    """The precision a run of ``model`` (recurrent: with ``hidden_size`` units) trains at."""
    if precision in ("fp32", "bf16"):
        return precision
    if precision != "auto":
        raise ValueError(f"unknown precision {precision!r}")
    if not _measured_faster(model, hidden_size):
        return "fp32"
    if not cell_runs_bf16(model, device_type(device)):
        return "fp32"
    return "bf16" if features(device_type(device)).bf16_fast else "fp32"


def explain(precision: str, model: str, device: str, hidden_size: int | None = None) -> str:
    """One line saying what ``precision`` resolves to and why (for logs and ``summary.json``)."""
    got = resolve(precision, model, device, hidden_size)
    if precision != "auto":
        return f"{got} (asked for)"
    f = features(device_type(device))
    k = KINDS.get(model)
    if k is not None and k.bf16_min_hidden is not None and not _measured_faster(model, hidden_size):
        n = k.bf16_min_hidden
        return f"{got} (auto: {model} below {n} hidden units trains slower in bf16)"
    if not _measured_faster(model, hidden_size):
        return f"{got} (auto: model {model!r} is not measured faster in bf16)"
    if not cell_runs_bf16(model, device_type(device)):
        return f"{got} (auto: this machine's kernels cannot run an {model} cell in bf16)"
    return f"{got} (auto: {f.reason})"


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager[None]:
    """The autocast context for a resolved ``precision`` (a no-op for fp32)."""
    dev = torch.device(device).type
    if precision == "bf16":
        return torch.autocast(dev, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def inference(device: torch.device | str, precision: str) -> Iterator[None]:
    """Inference mode at the run's precision, for evaluation."""
    with torch.inference_mode(), autocast(device, precision):
        yield


def resolve_config(cfg: RunConfig) -> RunConfig:
    """``cfg`` at the precision it trains at on this machine (``auto`` resolved), with the
    built-in model's defaults filled in: what ``config.json`` records, and what a run's
    identity (:func:`convscope.config.config_hash`) is computed from."""
    m = cfg.model
    return cfg.with_precision(
        resolve(cfg.train.precision, m.model, cfg.train.device, m.get("hidden_size"))
    )


def run_hash(cfg: RunConfig) -> str:
    """The identity of the run ``cfg`` describes, on this machine: its precision resolved, then
    :func:`convscope.config.config_hash`."""
    return config_hash(resolve_config(cfg))
