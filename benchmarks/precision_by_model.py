"""Training speed at fp32 and at bf16 autocast, per model kind and size, alternating in one
process: the measurements ``--precision auto`` is decided from (``convscope.train.precision``).

Each case trains a registry model with convscope's own step (``train_step``, the optimizer from
``make_optimizer``, the memory format ``choose_memory_format`` picks) on random 28x28 grayscale
(3x32x32 for resnet8) uint8 images at batch 50, Adam 1e-3. fp32 and bf16 alternate, one round
each, ``--rounds`` times; the medians are printed with their ratio and what ``auto`` resolves
to on this machine. Where ``auto`` picks the slower side, the line says so, and the last line
counts those cases.

    python benchmarks/precision_by_model.py [--threads 1] [--rounds 3] [--steps 40]
"""

from __future__ import annotations

import argparse
import statistics
import time

import _record  # benchmarks/_record.py (this script's folder is on sys.path)
import torch

from convscope.config import ModelConfig, from_flat
from convscope.hardware import features
from convscope.models import build_model
from convscope.train import precision
from convscope.train.memory_format import choose_memory_format
from convscope.train.steps import make_optimizer, train_step

# every model kind auto may run in bf16 (precision's own tables); recurrent ones at four sizes
CASES = [(m, None) for m in sorted(precision.BF16_MODELS - precision.RECURRENT)] + [
    (m, h) for m in sorted(precision.BF16_MIN_HIDDEN) for h in (32, 64, 128, 256)
]


def rate(model: torch.nn.Module, opt, x, y, prec: str, steps: int) -> float:
    for _ in range(3):
        train_step(model, opt, x, y, prec)
    t = time.perf_counter()
    for _ in range(steps):
        train_step(model, opt, x, y, prec)
    return steps * x.shape[0] / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=40, help="timed steps per side per round")
    p.add_argument("--batch-size", type=int, default=50)
    _record.add_argument(p)
    args = p.parse_args()
    from convscope import allocator

    allocator.tune()  # as in every convscope process
    torch.set_num_threads(args.threads)
    f = features("cpu")
    print(f"CPU: {f.name}; {f.reason}; torch {torch.__version__}; {args.threads} thread(s)")
    print(f"batch {args.batch_size}, {args.rounds} rounds x {args.steps} steps, alternating")
    wrong = 0
    rec: dict[str, object] = {"threads": args.threads}
    g = torch.Generator().manual_seed(0)
    for name, hidden in CASES:
        shape = (3, 32, 32) if name == "resnet8" else (1, 28, 28)
        mcfg = ModelConfig(model=name, hidden_size=hidden or ModelConfig.hidden_size)
        torch.manual_seed(0)
        model = build_model(mcfg, shape, 10)
        fmt, _ = choose_memory_format(model, shape, True)
        model = model.to(memory_format=fmt) if fmt == torch.channels_last else model
        opt = make_optimizer(from_flat({"optimizer": "adam", "lr": 1e-3}), model.parameters())
        u8 = torch.randint(0, 256, (args.batch_size, *shape), dtype=torch.uint8, generator=g)
        x = ((u8.float() / 255 - 0.5) / 0.25).contiguous(memory_format=fmt)
        y = torch.randint(0, 10, (args.batch_size,), generator=g)
        rates: dict[str, list[float]] = {"fp32": [], "bf16": []}
        for _ in range(args.rounds):
            for prec in rates:
                rates[prec].append(rate(model, opt, x, y, prec, args.steps))
        fp32, bf16 = (statistics.median(rates[k]) for k in ("fp32", "bf16"))
        auto = precision.resolve("auto", name, "cpu", hidden)
        faster = "bf16" if bf16 > fp32 else "fp32"
        note = "" if auto == faster else f"  <- auto picks {auto}, {faster} is faster here"
        wrong += auto != faster
        label = f"{name}-{hidden}" if hidden else name
        rec[f"{label} bf16/fp32"] = round(bf16 / fp32, 3)
        rec[f"{label} auto"] = auto
        print(
            f"{label:>9}: fp32 {fp32:8.0f} img/s, bf16 {bf16:8.0f} img/s, "
            f"bf16/fp32 {bf16 / fp32:4.2f}, auto {auto}{note}"
        )
    print(f"auto picks the slower precision in {wrong} of {len(CASES)} cases on this machine")
    rec["auto picks the slower"] = wrong
    _record.record(args.record, "precision_by_model", rec)


if __name__ == "__main__":
    main()
