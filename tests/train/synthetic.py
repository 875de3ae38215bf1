"""A small learnable synthetic data set for loop tests (no files needed).

Run as a script to train into a run directory, so tests can kill the process::

    python tests/train/synthetic.py RUN_DIR ITERATIONS [--resume] [--crash-in-checkpoint K]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import torch

from convscope.config import RunConfig, from_flat
from convscope.data.base import Dataset, Split


def synthetic_dataset(n_train: int = 600, n_test: int = 200, seed: int = 0) -> Dataset:
    """Ten classes; class k has a bright bar at rows 2k..2k+4 over noise. ``(N, 1, 28, 28)``."""
    g = torch.Generator().manual_seed(seed)

    def split(n: int) -> Split:
        y = torch.arange(n) % 10
        x = (torch.rand(n, 1, 28, 28, generator=g) * 90).to(torch.uint8)
        for i in range(n):
            k = int(y[i])
            x[i, 0, 2 * k : 2 * k + 5, 4:24] += 120
        return Split(x, y)

    return Dataset(
        "synthetic", split(n_train), split(n_test), tuple(map(str, range(10))), "synthetic bars"
    )


def small_config(iterations: int, **over: object) -> RunConfig:
    flat = {
        "iterations": iterations,
        "batch_size": 20,
        "eval_every": 10,
        "checkpoint_every": 10,
        "train_eval_size": 100,
        "seed": 3,
        "augment": "flip_crop",
        "dropout": 0.3,
        "threads": 1,
        "precision": "fp32",
    }
    flat.update(over)
    return from_flat(flat)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("iterations", type=int)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--precision", default="fp32")
    p.add_argument(
        "--crash-in-checkpoint",
        type=int,
        default=0,
        help="kill -9 this process half-way through writing the K-th checkpoint",
    )
    args = p.parse_args()
    if args.crash_in_checkpoint:
        import convscope.train.checkpoint as ck

        real = ck.atomic_write_bytes
        count = {"n": 0}

        def crashing(path: object, data: bytes) -> None:
            if str(path).endswith("last.pt"):
                count["n"] += 1
                if count["n"] == args.crash_in_checkpoint:
                    import tempfile

                    d = os.path.dirname(str(path))
                    fd, _ = tempfile.mkstemp(prefix=".last.pt.", suffix=".tmp", dir=d)
                    os.write(fd, data[: len(data) // 2])
                    os.fsync(fd)
                    os.kill(os.getpid(), signal.SIGKILL)
            real(path, data)

        ck.atomic_write_bytes = crashing
    from convscope.train.loop import train

    s = train(
        small_config(args.iterations, precision=args.precision),
        args.run_dir,
        resume=args.resume,
        dataset=synthetic_dataset(),
    )
    print(s["status"])
    sys.exit(0)


if __name__ == "__main__":
    main()
