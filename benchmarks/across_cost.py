"""Cost of the across-group analysis against the training time of the same experiment output.

Reads ``OUT/experiment.json`` (the output of ``convscope run``), sums the training time of every
distinct run (``summary.json``: ``train_time_s``, the loop's steps, and ``wall_time_s``, the
whole run with evaluation and checkpoints), then runs the across-group analysis of ``--group``
``--repeat`` times into a temporary directory and prints its wall and CPU time and the ratios.
Target: analysis <= 10% of the profile's training time.

    python benchmarks/across_cost.py OUT [--group optimizers] [--repeat 1] [--no-reuse]

``--no-reuse`` ignores the runs' ``analysis/filters.npz`` (the per-run ``filters`` analysis of
a shared run), so every Gabor fit is made here.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from convscope.studies.across import files as across_files
from convscope.studies.across.files import group_runs, write_group


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--group", default="optimizers")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-reuse", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    doc = json.loads((args.out / "experiment.json").read_text())
    dirs = {r["dir"] for g in doc["groups"] for r in g["runs"]}
    train = wall = 0.0
    for d in sorted(dirs):
        s = json.loads((args.out / d / "summary.json").read_text())
        train += float(s.get("train_time_s") or 0.0)
        wall += float(s.get("wall_time_s") or 0.0)
    refs = group_runs(args.out, args.group)
    if args.no_reuse:
        across_files.reuse_filters_npz = lambda cache, path: None  # type: ignore[assignment]
    times, cpus = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t0, c0 = time.perf_counter(), time.process_time()
            write_group(refs, tmp)
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    best, cpu = min(times), min(cpus)
    print(f"runs in the output: {len(dirs)}; group {args.group!r}: {len(refs)} runs")
    print(f"training: sum of train_time_s {train:.1f} s, sum of wall_time_s {wall:.1f} s")
    print(f"across analysis: wall {best:.1f} s (min of {args.repeat}), CPU {cpu:.1f} s")
    print(f"ratio to train_time_s: {best / train:.3f}; to wall_time_s: {best / wall:.3f}")


if __name__ == "__main__":
    main()
