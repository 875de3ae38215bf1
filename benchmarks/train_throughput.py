"""convscope's training step against a plain PyTorch loop, alternating in one process.

Both train the same LeNet5 (same init) with Adam at batch 50 on data preloaded as tensors:

- plain: float32 images preloaded and normalised, default memory format, ``torch.optim.Adam``
  with default settings, the textbook ``zero_grad / forward / backward / step``;
- convscope: what ``convscope.train.loop.train`` runs per step: uint8 images indexed and
  normalised per batch, channels-last, the optimizer from ``make_optimizer`` (fused Adam), and
  ``train_step``.

It also measures this machine's fp32 matrix-multiply rate in the same run and prints each
side's images/s as a fraction of it (a LeNet5 training step costs about 83 MFLOP per 28x28
image: 3x the forward's 27.6 MFLOP). The ratio convscope/plain is printed last.

    python benchmarks/train_throughput.py [--data ../shared/data/CIFAR10] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from convscope.config import from_flat
from convscope.data.base import Normalize
from convscope.models import LeNet5
from convscope.train.loop import make_optimizer, train_step

MFLOP_PER_IMAGE = 83.0  # LeNet5 training step, 28x28 input (forward 27.6 MFLOP x 3)


def matmul_gflops(n: int = 1024, reps: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
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
    args = p.parse_args()
    B = args.batch_size
    images, labels = load_images(args.data, 4000)
    mean, std = (images.float() / 255).mean().item(), (images.float() / 255).std().item()
    normalize = Normalize([mean], [std])
    plain_x = normalize(images)  # preloaded float32, as a plain loop would keep it
    n = images.shape[0]
    cfg = from_flat({"optimizer": "adam", "lr": 1e-3, "batch_size": B})

    torch.manual_seed(0)
    plain_model = LeNet5()
    torch.manual_seed(0)
    cs_model = LeNet5().to(memory_format=torch.channels_last)
    plain_opt = torch.optim.Adam(plain_model.parameters(), lr=1e-3)
    cs_opt = make_optimizer(cfg, iter(cs_model.parameters()))

    def plain(steps: int, offset: int) -> None:
        for i in range(steps):
            j = ((offset + i) * B) % (n - B)
            x, y = plain_x[j : j + B], labels[j : j + B]
            plain_opt.zero_grad()
            loss = F.cross_entropy(plain_model(x), y)
            loss.backward()
            plain_opt.step()

    def convscope(steps: int, offset: int) -> None:
        for i in range(steps):
            j = ((offset + i) * B) % (n - B)
            x = normalize(images[j : j + B]).contiguous(memory_format=torch.channels_last)
            train_step(cs_model, cs_opt, x, labels[j : j + B])

    plain(5, 0)
    convscope(5, 0)
    rates: dict[str, list[float]] = {"plain": [], "convscope": []}
    mm: list[float] = []
    for r in range(args.rounds):
        mm.append(matmul_gflops())
        for name, fn in (("plain", plain), ("convscope", convscope)):
            t = time.perf_counter()
            fn(args.steps, r * args.steps)
            rates[name].append(args.steps * B / (time.perf_counter() - t))
    peak = statistics.median(mm)
    print(
        f"threads: {torch.get_num_threads()}, batch {B}, {args.rounds} rounds x {args.steps} steps"
    )
    print(f"fp32 matmul rate (1024x1024, median of rounds): {peak:.1f} GFLOP/s")
    for name in ("plain", "convscope"):
        med = statistics.median(rates[name])
        frac = med * MFLOP_PER_IMAGE / 1e3 / peak
        print(
            f"{name:>9}: {med:7.1f} img/s (rounds: {', '.join(f'{v:.0f}' for v in rates[name])}) "
            f"= {med * MFLOP_PER_IMAGE / 1e3:.1f} GFLOP/s, {100 * frac:.1f}% of matmul rate"
        )
    ratios = [c / p for c, p in zip(rates["convscope"], rates["plain"])]
    print(f"ratio convscope/plain (median of per-round ratios): {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
