"""Cost of activation statistics during training: LeNet5 with the callback against without.

Both sides run the training loop's own step (``batch_indices`` -> ``normalize`` -> channels-last
-> ``train_step`` with ``make_optimizer``'s Adam, batch 50) on the same preloaded data, from the
same initial weights, in one process: ``--rounds`` rounds of ``--steps`` steps per side, the
sides alternating every ``--chunk`` steps (fine interleaving keeps other load on a shared
machine from landing on one side).
The "with" side also calls :class:`ActivationStatsCallback` (default cadence: the config
defaults ``activation_stats_every`` / ``activation_stats_size``) whenever the loop would, writing real
TensorBoard events and ``activations.jsonl`` rows to a temporary directory.

The denominator is training steps only (no evaluation, no checkpoints), so the overhead printed
is an upper bound on what a full ``convscope train`` run sees. It also prints the ratio of the
process's CPU time (less sensitive to other jobs on a shared machine). The wall-clock ratio
(median over rounds of time with / time without; target <= 1.05) is printed last.

    python benchmarks/activation_stats_overhead.py [--data ../shared/data/CIFAR10] [--rounds 5]
        [--steps 200] [--chunk 10] [--every N] [--size N]  (default: the config defaults)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from convscope.config import TrainConfig, from_flat
from convscope.data.base import Dataset, Normalize, Split
from convscope.models import LeNet5
from convscope.runs import RunDir
from convscope.studies.activations.compute import ActivationStatsCallback
from convscope.train.loop import Records, StepContext
from convscope.train.steps import batch_indices, make_optimizer, train_step


def load(data: str | None) -> tuple[Dataset, str]:
    root = os.environ.get("CONVSCOPE_DATA_ROOT")
    if data is None and root and (Path(root) / "CIFAR10").is_dir():
        data = str(Path(root) / "CIFAR10")
    if data:
        from convscope.data import load_dataset

        ds = load_dataset(from_flat({"data": data}).data)
        return ds, f"{ds.name} ({data})"
    g = torch.Generator().manual_seed(0)

    def split(n: int) -> Split:
        x = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g)
        return Split(x, torch.randint(0, 10, (n,), generator=g))

    ds = Dataset("random", split(4000), split(1000), tuple(map(str, range(10))), "random uint8")
    return ds, "random uint8 1x28x28 (no data given)"


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", help="data source (default: $CONVSCOPE_DATA_ROOT/CIFAR10 or random)")
    p.add_argument(
        "--every",
        type=int,
        default=TrainConfig.activation_stats_every,
        help="steps between statistics",
    )
    p.add_argument(
        "--size",
        type=int,
        default=TrainConfig.activation_stats_size,
        help="fixed test images for statistics",
    )
    p.add_argument("--steps", type=int, default=200, help="steps per side per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument(
        "--chunk", type=int, default=10, help="steps per side before switching (finer = less noise)"
    )
    p.add_argument("--batch-size", type=int, default=50)
    args = p.parse_args()

    ds, source = load(args.data)
    cfg = from_flat({"optimizer": "adam", "lr": 1e-3, "batch_size": args.batch_size, "seed": 0})
    normalize = Normalize(*ds.channel_stats())
    images, labels = ds.train.images, ds.train.labels
    n = images.shape[0]
    fmt = torch.channels_last
    device = torch.device("cpu")

    sides = {}
    for name in ("without", "with"):
        torch.manual_seed(0)
        model = LeNet5(in_channels=ds.image_shape[0], image_size=ds.image_shape[1:]).to(
            memory_format=fmt
        )
        sides[name] = {
            "model": model,
            "opt": make_optimizer(cfg, iter(model.parameters())),
            "step": 0,
        }

    tmp = tempfile.TemporaryDirectory(prefix="convscope-actbench-")
    run = RunDir(tmp.name)
    from torch.utils.tensorboard import SummaryWriter

    tb = SummaryWriter(str(run.tb_dir))
    records = Records(run)
    cb = ActivationStatsCallback(args.every, args.size)
    ctx = StepContext(0, sides["with"]["model"], ds, normalize, device, cfg, run.path, tb, records)
    cb_times: list[float] = []

    def segment(name: str, steps: int, stats: bool) -> tuple[float, float]:
        s = sides[name]
        model, opt = s["model"], s["opt"]
        model.train()
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(steps):
            idx = batch_indices(cfg.train.seed, s["step"], n, args.batch_size)
            x = normalize(images[idx]).contiguous(memory_format=fmt)
            train_step(model, opt, x, labels[idx])
            s["step"] += 1
            if stats and s["step"] % cb.every == 0:
                ctx.step = s["step"]
                t1 = time.perf_counter()
                cb(ctx)
                cb_times.append(time.perf_counter() - t1)
        return time.perf_counter() - t0, time.process_time() - c0

    # warm-up: a few steps each, and the callback's one-off set-up (fixed batch, hook tracing)
    segment("without", 5, False)
    segment("with", 5, False)
    ctx.step = 0
    cb(ctx)
    sides["without"]["step"] = sides["with"]["step"] = 0
    times: dict[str, list[float]] = {"without": [], "with": []}
    cpu: dict[str, list[float]] = {"without": [], "with": []}
    chunk = max(1, min(args.chunk, args.steps))
    step_times: list[float] = []  # per-step time of each "without" chunk
    k = 0
    for _ in range(args.rounds):
        for name in times:
            times[name].append(0.0)
            cpu[name].append(0.0)
        done = 0
        while done < args.steps:
            c = min(chunk, args.steps - done)
            order = ("without", "with") if k % 2 == 0 else ("with", "without")
            k += 1
            for name in order:
                wall, proc = segment(name, c, stats=name == "with")
                times[name][-1] += wall
                cpu[name][-1] += proc
                if name == "without":
                    step_times.append(wall / c)
            done += c
    records.close()
    tb.close()
    rows = len(run.records("activations"))
    tmp.cleanup()

    print(
        f"LeNet5, batch {args.batch_size}, threads {torch.get_num_threads()}, data: {source}; "
        f"{args.rounds} rounds x {args.steps} steps per side, alternating every {chunk} steps"
    )
    print(
        f"statistics every {cb.every} steps on {args.size} fixed test images: {len(cb_times)} "
        f"calls timed, {1000 * statistics.mean(cb_times):.1f} ms per call "
        f"(median {1000 * statistics.median(cb_times):.1f} ms); {rows} rows written"
    )
    for name in ("without", "with"):
        ts = times[name]
        per = 1000 * statistics.median(ts) / args.steps
        print(
            f"{name:>8} statistics: median {statistics.median(ts):.2f} s per {args.steps} steps "
            f"({per:.1f} ms/step; rounds: {', '.join(f'{t:.2f}' for t in ts)})"
        )
    share = sum(cb_times) / sum(times["without"])
    print(
        f"callback time / training time without statistics: {100 * share:.1f}% "
        f"(the overhead as the sum of its parts)"
    )
    print(f"total time with/without: {sum(times['with']) / sum(times['without']):.3f}")
    best_step, best_cb = min(step_times), min(cb_times)
    print(
        f"from the fastest chunk and call (robust to other load): {1000 * best_step:.1f} ms/step, "
        f"{1000 * best_cb:.1f} ms/call -> overhead {100 * best_cb / (cb.every * best_step):.1f}% "
        f"at every {cb.every} steps"
    )
    cpu_ratios = [w / o for w, o in zip(cpu["with"], cpu["without"])]
    print(
        f"CPU time of this process (less sensitive to other load on the machine): median ratio "
        f"with/without {statistics.median(cpu_ratios):.3f}"
    )
    ratios = [w / o for w, o in zip(times["with"], times["without"])]
    print(
        f"overhead ratio with/without statistics (median of per-round ratios, target <= 1.05): "
        f"{statistics.median(ratios):.3f}"
    )


if __name__ == "__main__":
    main()
