"""Share of ``convscope train``'s wall time spent outside optimizer steps, on a 60k-image set.

Builds a 60k/10k MNIST-format (IDX) set from a folder data set in the reference layout: each
training image repeated ``--repeat-train`` times (6: 10,000 -> 60,000), every copy after the
first shifted by up to one pixel; the test split repeated ``--repeat-test`` times (10: 1,000
-> 10,000) unshifted. Then it runs ``convscope train --data SET --model lenet5`` with the
defaults, alternating with the baseline ``--test-eval-size N`` (every record evaluates the
whole test split, as before the test subsample existed), and prints ``outside_steps_share``
from each run's ``summary.json``. The last line is the median share of the defaults.

    python benchmarks/eval_share.py --data ../shared/data/MNIST [--rounds 3] [--epochs 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def write_idx(path: Path, a: np.ndarray) -> None:
    """An IDX file of unsigned bytes: magic ``0x08`` type, ``a.ndim`` dims, big-endian sizes."""
    a = np.ascontiguousarray(a, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, a.ndim))
        f.write(struct.pack(f">{a.ndim}I", *a.shape))
        f.write(a.tobytes())


def build_set(source: str, out: Path, repeat_train: int, repeat_test: int) -> tuple[int, int]:
    from convscope.config import from_flat
    from convscope.data import load_dataset
    from convscope.data.idx import FILES

    ds = load_dataset(from_flat({"data": source}).data)
    if ds.train.images.shape[1] != 1:
        sys.exit(f"{source}: expected grayscale images, got {ds.train.images.shape[1]} channels")
    rng = np.random.default_rng(0)
    tr = ds.train.images[:, 0].numpy()
    copies = [tr]
    for _ in range(repeat_train - 1):
        dy, dx = rng.integers(-1, 2, size=2)
        copies.append(np.roll(tr, (int(dy), int(dx)), axis=(1, 2)))
    train_x = np.concatenate(copies)
    train_y = np.tile(ds.train.labels.numpy(), repeat_train)
    test_x = np.tile(ds.test.images[:, 0].numpy(), (repeat_test, 1, 1))
    test_y = np.tile(ds.test.labels.numpy(), repeat_test)
    out.mkdir(parents=True, exist_ok=True)
    arrays = {"train_images": train_x, "train_labels": train_y}
    arrays.update(test_images=test_x, test_labels=test_y)
    for role, a in arrays.items():  # the names convscope's IDX reader looks for
        write_idx(out / FILES[role], a)
    return len(train_y), len(test_y)


def run(data: Path, out: Path, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "convscope", "train", "--data", str(data), "--model", "lenet5"]
    subprocess.run([*cmd, "--out", str(out), *extra], check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "summary.json").read_text())


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", required=True, help="a folder data set (e.g. ../shared/data/MNIST)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=float, help="passed on to convscope train (default: its own)")
    p.add_argument("--repeat-train", type=int, default=6)
    p.add_argument("--repeat-test", type=int, default=10)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="convscope-eval-share-") as tmp:
        root = Path(tmp)
        n_train, n_test = build_set(args.data, root / "set", args.repeat_train, args.repeat_test)
        print(f"set: {n_train} training and {n_test} test images (IDX, {root / 'set'})")
        common = [] if args.epochs is None else ["--epochs", str(args.epochs)]
        sides = {"defaults": common, "whole split": [*common, "--test-eval-size", str(n_test)]}
        shares: dict[str, list[float]] = {k: [] for k in sides}
        for r in range(args.rounds):
            for name, extra in sides.items():
                s = run(root / "set", root / f"run-{r}-{name.replace(' ', '-')}", extra)
                shares[name].append(s["outside_steps_share"])
                print(
                    f"round {r + 1} {name:>11}: outside steps {s['outside_steps_share']:.1%} "
                    f"of {s['wall_time_s']:.1f} s wall (train {s['train_time_s']:.1f} s), "
                    f"test_eval_size {s.get('test_eval_size')}, "
                    f"best test accuracy {s['best_test_accuracy']:.4f}"
                )
        for name, v in shares.items():
            each = ", ".join(f"{x:.1%}" for x in v)
            print(f"{name:>11}: median {statistics.median(v):.1%} ({each})")
        print(f"outside steps share {statistics.median(shares['defaults']):.1%} (defaults)")


if __name__ == "__main__":
    main()
