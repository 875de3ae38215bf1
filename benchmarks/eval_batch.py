"""Evaluation speed against the evaluation batch size, alternating in one process.

``convscope.train.steps.accuracy`` runs the model in inference mode at the run's precision and
memory format, in batches of ``EVAL_BATCH``. Larger batches are not always faster on a CPU: once
one batch's activations outgrow the caches, every layer streams them through memory. This runs
``accuracy`` itself at several batch sizes, round-robin, on 1000 images, for LeNet5 at fp32 and
at the ``auto`` precision and for a GRU-256 (fp32), and prints the median images/s of each.

The last line compares the batch size convscope uses (``EVAL_BATCH``) with 1000:

    python benchmarks/eval_batch.py [--rounds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import _record  # benchmarks/_record.py (this script's folder is on sys.path)
import torch

from convscope.config import ModelConfig
from convscope.data.base import Normalize
from convscope.models import build_model
from convscope.train import precision, steps

SIZES = (50, 128, 256, 500, 1000)


def setups() -> list[tuple[str, torch.nn.Module, torch.memory_format, str]]:
    auto = precision.resolve("auto", "lenet5", "cpu")
    out = []
    for name, prec in (("lenet5 fp32", "fp32"), (f"lenet5 {auto}", auto)):
        m = build_model(ModelConfig(model="lenet5"), (1, 28, 28), 10)
        out.append((name, m.to(memory_format=torch.channels_last), torch.channels_last, prec))
    gru = build_model(ModelConfig(model="gru", hidden_size=256), (1, 28, 28), 10)
    out.append(("gru256 fp32", gru, torch.contiguous_format, "fp32"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    _record.add_argument(ap)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (1000, 1, 28, 28), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (1000,), generator=g)
    norm = Normalize([0.47], [0.24])
    rates: dict[tuple[str, int], list[float]] = {}
    configs = setups()
    for _ in range(args.rounds):
        for name, model, fmt, prec in configs:
            for bs in sorted({*SIZES, steps.EVAL_BATCH}):
                t = time.perf_counter()
                steps.accuracy(model, x, y, norm, fmt, prec, batch=bs)
                rates.setdefault((name, bs), []).append(1000 / (time.perf_counter() - t))
    print(f"threads {args.threads}, {args.rounds} rounds, 1000 images; median img/s")
    print("batch " + "".join(f"{n:>14}" for n, *_ in configs))
    for bs in sorted({b for _, b in rates}):
        row = "".join(f"{statistics.median(rates[(n, bs)]):>14.0f}" for n, *_ in configs)
        mark = "  <- EVAL_BATCH" if bs == steps.EVAL_BATCH else ""
        print(f"{bs:>5} {row}{mark}")
    ratios = [
        statistics.median(rates[(n, steps.EVAL_BATCH)]) / statistics.median(rates[(n, 1000)])
        for n, *_ in configs
    ]
    print(f"eval speedup {min(ratios):.2f}-{max(ratios):.2f} (batch {steps.EVAL_BATCH} vs 1000)")
    rec: dict[str, object] = {
        f"{n} batch {bs} img/s": round(statistics.median(v), 1) for (n, bs), v in rates.items()
    }
    rec |= {"speedup min": round(min(ratios), 3), "speedup max": round(max(ratios), 3)}
    _record.record(args.record, "eval_batch", rec)


if __name__ == "__main__":
    main()
