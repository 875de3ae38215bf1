"""convscope's training step against a plain PyTorch loop, alternating in one process.

All sides train the same LeNet5 (same init) with Adam at batch 50 on data preloaded as tensors:

- plain: float32 images preloaded and normalised, default memory format, ``torch.optim.Adam``
  with default settings, the textbook ``zero_grad / forward / backward / step``, fp32;
- convscope fp32: what ``convscope.train.loop.train`` runs per step: uint8 images indexed and
  normalised per batch, channels-last, the optimizer from ``make_optimizer`` (fused Adam), and
  ``train_step`` at fp32;
- convscope auto: the same at the precision ``auto`` resolves to on this machine
  (``convscope.train.precision``: bf16 autocast where the CPU has AMX or AVX-512 BF16).

Each round also measures this machine's fp32 and bf16 matrix-multiply rates, and each side's
images/s is printed as a share of the rate of the precision it computes in (a LeNet5 training
step costs about 83 MFLOP per 28x28 image: 3x the forward's 27.6 MFLOP). The last line is the
speedup of convscope at its auto precision over the plain fp32 loop (median of per-round
ratios). glibc's allocator is left at its defaults, as a plain loop has it; convscope's own
processes tune it (``convscope.allocator``), which makes them faster still. The setting is
process-wide, so ``--tuned-allocator`` gives it to every side, the plain loop included.

    python benchmarks/train_throughput.py [--data ../shared/data/CIFAR10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import _record  # benchmarks/_record.py (this script's folder is on sys.path)
import torch
import torch.nn.functional as F

from convscope.config import from_flat
from convscope.data.base import Normalize
from convscope.hardware import features
from convscope.models import LeNet5
from convscope.train import precision
from convscope.train.steps import make_optimizer, train_step

MFLOP_PER_IMAGE = 83.0  # LeNet5 training step, 28x28 input (forward 27.6 MFLOP x 3)


def matmul_gflops(dtype: torch.dtype, n: int = 1024, reps: int = 10) -> float:
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(2):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return reps * 2 * n**3 / (time.perf_counter() - t) / 1e9


def load_images(data: str | None, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    if data:
        from convscope.data import load_dataset

        ds = load_dataset(from_flat({"data": data}).data)
        return ds.train.images[:n], ds.train.labels[:n]
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g), torch.randint(
        0, 10, (n,), generator=g
    )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", help="data source (default: random uint8 images)")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--steps", type=int, default=60, help="timed steps per side per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument(
        "--tuned-allocator",
        action="store_true",
        help="tune glibc malloc (convscope.allocator) for every side, plain included",
    )
    _record.add_argument(p)
    args = p.parse_args()
    from convscope import allocator

    tuned = allocator.tune() if args.tuned_allocator else False
    B = args.batch_size
    images, labels = load_images(args.data, 4000)
    mean, std = (images.float() / 255).mean().item(), (images.float() / 255).std().item()
    normalize = Normalize([mean], [std])
    plain_x = normalize(images)  # preloaded float32, as a plain loop would keep it
    n = images.shape[0]
    cfg = from_flat({"optimizer": "adam", "lr": 1e-3, "batch_size": B})
    auto = precision.resolve("auto", "lenet5", "cpu")

    torch.manual_seed(0)
    plain_model = LeNet5()
    plain_opt = torch.optim.Adam(plain_model.parameters(), lr=1e-3)

    def plain(steps: int, offset: int) -> None:
        for i in range(steps):
            j = ((offset + i) * B) % (n - B)
            x, y = plain_x[j : j + B], labels[j : j + B]
            plain_opt.zero_grad()
            loss = F.cross_entropy(plain_model(x), y)
            loss.backward()
            plain_opt.step()

    def convscope_side(prec: str) -> Callable[[int, int], None]:
        torch.manual_seed(0)
        model = LeNet5().to(memory_format=torch.channels_last)
        opt = make_optimizer(cfg, iter(model.parameters()))

        def run(steps: int, offset: int) -> None:
            for i in range(steps):
                j = ((offset + i) * B) % (n - B)
                x = normalize(images[j : j + B]).contiguous(memory_format=torch.channels_last)
                train_step(model, opt, x, labels[j : j + B], prec)

        return run

    sides = {
        "plain fp32": ("fp32", plain),
        "convscope fp32": ("fp32", convscope_side("fp32")),
        f"convscope {auto} (auto)": (auto, convscope_side(auto)),
    }
    for _, fn in sides.values():
        fn(5, 0)
    rates: dict[str, list[float]] = {k: [] for k in sides}
    mm: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for r in range(args.rounds):
        mm["fp32"].append(matmul_gflops(torch.float32))
        mm["bf16"].append(matmul_gflops(torch.bfloat16))
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for name in order:
            t = time.perf_counter()
            sides[name][1](args.steps, r * args.steps)
            rates[name].append(args.steps * B / (time.perf_counter() - t))
    f = features("cpu")
    print(f"CPU: {f.name}; {f.reason}; torch {torch.__version__}")
    print(
        f"threads: {torch.get_num_threads()}, batch {B}, {args.rounds} rounds x {args.steps} "
        f"steps, sides alternating; glibc malloc tuned (all sides): {tuned}"
    )
    peak = {k: statistics.median(v) for k, v in mm.items()}
    for k in ("fp32", "bf16"):
        print(f"{k} matmul rate (1024x1024, median of rounds): {peak[k]:.1f} GFLOP/s")
    for name, (prec, _) in sides.items():
        med = statistics.median(rates[name])
        gflops = med * MFLOP_PER_IMAGE / 1e3
        print(
            f"{name:>22}: {med:7.1f} img/s (rounds: {', '.join(f'{v:.0f}' for v in rates[name])})"
            f" = {gflops:.1f} GFLOP/s, {100 * gflops / peak[prec]:.1f}% of the {prec} matmul rate"
        )
    names = list(sides)
    for name in names[1:]:
        ratios = [c / p for c, p in zip(rates[name], rates[names[0]])]
        print(
            f"ratio {name} / plain fp32 (median of per-round ratios): {statistics.median(ratios):.2f}"
        )
    ratios = [c / p for c, p in zip(rates[names[2]], rates[names[0]])]
    print(f"speedup {statistics.median(ratios):.2f} (convscope {auto} vs plain fp32 loop)")
    _record.record(
        args.record,
        "train_throughput",
        {
            **{f"{k} img/s": round(statistics.median(v), 1) for k, v in rates.items()},
            **{f"{k} matmul GFLOP/s": round(v, 1) for k, v in peak.items()},
            "threads": torch.get_num_threads(),
            "tuned allocator": tuned,
            "speedup": round(statistics.median(ratios), 3),
        },
    )


if __name__ == "__main__":
    main()
