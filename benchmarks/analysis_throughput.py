"""Zeiler & Fergus analyses: occlusion's batched forward against plain inference, and top-k time.

Two measurements on LeNet5 (random weights, or a run's latest checkpoint with ``--run``):

1. *Occlusion throughput.* ``occlusion_maps`` over ``--occlusion-images`` test images (8 px
   square, stride 2: 121 occluded copies per 28x28 image), evaluated ``--batch-size`` copies
   per forward pass, against plain ``model(x)`` inference of the same number of preloaded,
   normalised images at the same batch size. The two alternate in one process for
   ``--rounds`` rounds; the ratio (occlusion images/s over plain images/s, median of per-round
   ratios; target >= 0.9) is printed last.
2. *Top-k search.* Wall time of ``topk_per_map`` for all 64 maps of conv2 over 1000 test
   images: one forward pass (per-image per-map max and argmax) plus the batched deconvnet
   projections of the 64 x 9 winners, and the two parts separately.

Data: ``--data`` or ``$CONVSCOPE_DATA_ROOT/CIFAR10`` if set, else synthetic uint8 images.

    python benchmarks/analysis_throughput.py [--run RUN_DIR] [--rounds 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from convscope.analysis.zf import max_per_map, occlusion_maps, topk_per_map, trace_chain
from convscope.data.base import Normalize
from convscope.models import LeNet5


def load_test_images(data: str | None, n: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    root = os.environ.get("CONVSCOPE_DATA_ROOT")
    if data is None and root and (Path(root) / "CIFAR10").is_dir():
        data = str(Path(root) / "CIFAR10")
    if data:
        from convscope.config import from_flat
        from convscope.data import load_dataset

        ds = load_dataset(from_flat({"data": data}).data)
        return ds.test.images[:n], ds.test.labels[:n], f"{ds.name} test split ({data})"
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g)
    return images, torch.randint(0, 10, (n,), generator=g), "synthetic uint8 1x28x28"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--run", help="run directory whose latest checkpoint to load")
    p.add_argument("--data", help="data source (default: $CONVSCOPE_DATA_ROOT/CIFAR10 or random)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--occlusion-images", type=int, default=20)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--topk-images", type=int, default=1000)
    args = p.parse_args()
    device = torch.device(args.device)

    images, labels, source = load_test_images(args.data, max(args.topk_images, 1000))
    if args.run:
        from convscope.runs import RunDir

        rd = RunDir(args.run)
        model = rd.load_model(device=device)
        normalize = rd.normalize()
        what = f"LeNet5-like model of {args.run}"
    else:
        torch.manual_seed(0)
        model = LeNet5(in_channels=images.shape[1], image_size=images.shape[2]).to(device).eval()
        x = images.float() / 255
        mean = x.mean(dim=(0, 2, 3)).tolist()
        std = x.std(dim=(0, 2, 3)).tolist()
        normalize = Normalize(mean, std)
        what = "LeNet5, random weights"
    chain = trace_chain(model)
    occ_images = images[: args.occlusion_images]
    occ_labels = labels[: args.occlusion_images]
    h, w = images.shape[2:]
    per_image = len(range(0, h - 8 + 1, 2)) * len(range(0, w - 8 + 1, 2))
    n_copies = per_image * occ_images.shape[0]
    B = args.batch_size
    # plain inference: the same number of images, preloaded and normalised, same batch size
    reps = (n_copies + images.shape[0] - 1) // images.shape[0]
    plain_x = normalize(images.repeat(reps, 1, 1, 1)[:n_copies].to(device))

    @torch.no_grad()
    def plain() -> None:
        for s in range(0, n_copies, B):
            model(plain_x[s : s + B])
        sync(device)

    def occlusion() -> None:
        occlusion_maps(
            chain, occ_images, occ_labels, "conv2", size=8, stride=2, transform=normalize,
            batch_size=B,
        )  # fmt: skip
        sync(device)

    plain()
    occlusion()  # warm-up
    rates: dict[str, list[float]] = {"plain": [], "occlusion": []}
    for _ in range(args.rounds):
        for name, fn in (("plain", plain), ("occlusion", occlusion)):
            t = time.perf_counter()
            fn()
            rates[name].append(n_copies / (time.perf_counter() - t))

    topk_images = images[: args.topk_images]
    times: dict[str, list[float]] = {"forward": [], "total": []}
    for _ in range(max(1, min(3, args.rounds))):
        t = time.perf_counter()
        max_per_map(chain, topk_images, "conv2", transform=normalize, batch_size=500)
        sync(device)
        times["forward"].append(time.perf_counter() - t)
        t = time.perf_counter()
        tk = topk_per_map(chain, topk_images, "conv2", k=9, transform=normalize, batch_size=500)
        sync(device)
        times["total"].append(time.perf_counter() - t)
    fwd, tot = statistics.median(times["forward"]), statistics.median(times["total"])

    threads = torch.get_num_threads()
    print(f"model: {what}; device: {device}; threads: {threads}; data: {source}")
    print(
        f"occlusion: {occ_images.shape[0]} images x {per_image} positions (8 px, stride 2) = "
        f"{n_copies} forward images per round, batch {B}, {args.rounds} rounds"
    )
    for name in ("plain", "occlusion"):
        med = statistics.median(rates[name])
        print(
            f"{name:>10}: {med:8.1f} img/s (rounds: {', '.join(f'{v:.0f}' for v in rates[name])})"
        )
    print(
        f"top-k: all {tk.values.shape[0]} maps of {tk.layer} (conv2) x k=9 over "
        f"{topk_images.shape[0]} test images: {tot:.3f} s total = one forward pass "
        f"{fwd:.3f} s + {tk.values.numel()} batched projections and patches {tot - fwd:.3f} s"
    )
    ratios = [o / p for o, p in zip(rates["occlusion"], rates["plain"])]
    print(
        f"ratio occlusion/plain inference (median of per-round ratios, target >= 0.9): "
        f"{statistics.median(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
