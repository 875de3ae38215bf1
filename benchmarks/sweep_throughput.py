"""The local executor: 2 workers x 1 thread against 1 worker x 2 threads, on the same runs.

Each round trains the same sweep (``--runs`` LeNet5 runs at batch 50, different learning rates)
into a fresh output directory with ``convscope.experiments.run.run_experiment`` and a
``LocalExecutor``, once per setting, alternating which goes first. Throughput is the sweep's
training images (runs x iterations x batch) over its wall time, pool start-up included
(both settings pay it). Evaluation is kept to one record per run so that it barely counts.
The ratio (2 workers x 1 thread) / (1 worker x 2 threads) of the medians is printed last.

    python benchmarks/sweep_throughput.py [--data ../shared/data/CIFAR10] [--rounds 2]

Without --data (or $CONVSCOPE_DATA_ROOT/CIFAR10) the built-in digits are used.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import _record  # benchmarks/_record.py (this script's folder is on sys.path)

from convscope.experiments.executors import LocalExecutor, available_cores
from convscope.experiments.run import run_experiment
from convscope.experiments.spec import expand

BATCH = 50


def sweep(data: str, runs: int, iterations: int, precision: str) -> dict:
    lrs = [round(1e-3 * (1 + i), 6) for i in range(runs)]
    return {
        "name": "sweep-throughput",
        "defaults": {
            "data": data,
            "model": "lenet5",
            "batch_size": BATCH,
            "iterations": iterations,
            "eval_every": iterations,  # one evaluation, at the end
            "checkpoint_every": iterations,
            "train_eval_size": 100,
            "precision": precision,
        },
        "groups": {"lenet5": {"label": "lr={lr}", "grid": {"lr": lrs}}},
    }


def measure(doc: dict, workers: int, threads: int) -> float:
    """Training images/s of the whole sweep with ``workers`` x ``threads``."""
    exp = expand(doc, "sweep", None, None)
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as out:
        t0 = time.perf_counter()
        res = run_experiment(exp, Path(out), LocalExecutor(workers=workers, threads=threads))
        wall = time.perf_counter() - t0
    bad = [r.name for r in res.runs if r.status != "completed"]
    if bad:
        raise SystemExit(f"runs did not complete: {bad}")
    images = sum(r.steps or 0 for r in res.runs) * BATCH
    return images / wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = os.environ.get("CONVSCOPE_DATA_ROOT")
    default = str(Path(root) / "CIFAR10") if root and (Path(root) / "CIFAR10").is_dir() else None
    p.add_argument("--data", default=default, help="data source (default: digits)")
    p.add_argument("--runs", type=int, default=4)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    _record.add_argument(p)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cores = available_cores()
    if cores < 2:
        raise SystemExit(f"needs 2 cores, have {cores}")
    from convscope.train.precision import resolve

    doc = sweep(args.data or "digits", args.runs, args.iterations, args.precision)
    prec = resolve(args.precision, "lenet5", "cpu")
    print(
        f"{args.runs} lenet5 runs x {args.iterations} iterations x batch {BATCH} on "
        f"{args.data or 'digits'} at {prec} ({args.precision}); {cores} cores; "
        f"{args.rounds} rounds, alternating"
    )
    settings = {"2 workers x 1 thread": (2, 1), "1 worker x 2 threads": (1, 2)}
    rates: dict[str, list[float]] = {k: [] for k in settings}
    for r in range(args.rounds):
        order = list(settings) if r % 2 == 0 else list(reversed(settings))
        for name in order:
            rate = measure(doc, *settings[name])
            rates[name].append(rate)
            print(f"round {r + 1}: {name}: {rate:8.0f} images/s", flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    for k, v in med.items():
        print(f"median {k}: {v:.0f} images/s")
    print(
        f"ratio (2 workers x 1 thread) / (1 worker x 2 threads): "
        f"{med['2 workers x 1 thread'] / med['1 worker x 2 threads']:.2f}"
    )
    rec: dict[str, object] = {f"{k} img/s": round(v, 1) for k, v in med.items()}
    rec |= {
        "precision": prec,
        "ratio": round(med["2 workers x 1 thread"] / med["1 worker x 2 threads"], 3),
    }
    _record.record(args.record, "sweep_throughput", rec)


if __name__ == "__main__":
    main()
