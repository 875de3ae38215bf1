"""How each analysis, and ``convscope explore``, grows with test images x units x snapshots.

Writes a synthetic RGB 32x32 data set (CIFAR-10 python batches: ten classes, each a coloured
oriented grating plus noise) and trains a ResNet-8 (:class:`convscope.models.resnet.ResNet8`,
``width`` = 16 x the width factor) for a few iterations, keeping ``snapshots`` checkpoints. It
then runs every run-scope analysis in one ``analyze`` call (as ``convscope analyze RUN`` does:
studies share what they load) and times each one, then ``explore``.

Sizes, one factor varied at a time around the base point (first value of each):

* full: test images 1000 / 5000 / 10000, width x1 / x2 / x4, snapshots 2 / 4 / 8; then, in the
  same run, one epoch of training on 50,000 images at width x1 against analyze + explore at
  10,000 test images (issue 23: at most 2x). Every run's training split is the whole written
  one (50,000 images; 2,000 in quick mode), which feature evolution searches at every snapshot.
* ``--quick`` (a couple of minutes): test images 200 / 400 / 800, width x0.5 / x1 / x2,
  snapshots 2 / 4 / 8, no epoch.

For each analysis it prints the seconds at every point and the fitted exponent per factor
(least-squares slope of log time on log size over that factor's three points): 1 is linear.
Beside them, ``forward`` is the baseline: one plain inference pass of the model over the test
images (batches of 256, no hooks), the least any analysis of every test image costs. A conv
net's compute per image grows as width squared (each layer's input x output channels), so the
last column gives the width exponent per unit of that compute (the analysis's exponent minus
the forward pass's): 1 there means the analysis costs a fixed amount of forward-pass compute
per unit. The model's forward FLOPs per image at each width are printed (PyTorch's
``FlopCounterMode``).

``--train-images N`` writes a training split of N images instead (evolution searches all of it
at every snapshot, so its cost is linear in N); the epoch of ``--target`` and of the full mode
always trains on 50,000.

    python benchmarks/analysis_scale.py [--quick | --target] [--threads 1] [--what topk,deconv]
        [--train-images N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import resource
import shutil
import tempfile
import time
from pathlib import Path

import _record  # benchmarks/_record.py (this script's folder is on sys.path)
import numpy as np
import torch

from convscope.cli import main as cli
from convscope.explore.build import build_site
from convscope.studies.base import RunContext
from convscope.studies.runner import Outcome, analyze, run_scope_names

CLASSES = 10
BASE_WIDTH = 16  # ResNet-8's stem width (16 -> 32 -> 64 channels)
FULL = {"images": (1000, 5000, 10000), "width": (1, 2, 4), "snapshots": (2, 4, 8)}
QUICK = {"images": (200, 400, 800), "width": (0.5, 1, 2), "snapshots": (2, 4, 8)}
EPOCH_IMAGES = 50_000  # full mode: one training epoch on this many images
BATCH = 50  # training batch size


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(n, 3072)`` uint8 CIFAR rows and ``(n,)`` labels: class ``c`` is a grating at angle
    ``c * 18`` degrees in colour ``c``, with random phase and Gaussian noise."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % CLASSES)  # balanced classes
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    angle = labels * (math.pi / CLASSES)
    phase = rng.uniform(0, 2 * math.pi, n)
    wave = np.sin(
        (np.cos(angle)[:, None, None] * xx + np.sin(angle)[:, None, None] * yy) * 0.6
        + phase[:, None, None]
    )
    colour = np.stack([np.cos(labels), np.sin(labels), np.cos(2 * labels)], 1) * 0.5 + 0.5
    img = 128 + 80 * wave[:, None] * colour[:, :, None, None]
    img += rng.normal(0, 30, img.shape)
    rows = np.clip(img, 0, 255).astype(np.uint8).reshape(n, 3072)
    return rows, labels


def write_data(root: Path, n_train: int, n_test: int) -> Path:
    """``root/cifar-10-batches-py`` with ``n_train`` training and ``n_test`` test images."""
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    per = math.ceil(n_train / 5)
    for i in range(5):
        rows, labels = synthetic(per, seed=i)
        batch = {b"data": rows, b"labels": labels.tolist()}
        (d / f"data_batch_{i + 1}").write_bytes(pickle.dumps(batch, protocol=2))
    rows, labels = synthetic(n_test, seed=99)
    (d / "test_batch").write_bytes(pickle.dumps({b"data": rows, b"labels": labels.tolist()}, 2))
    meta = {b"label_names": [f"c{i}".encode() for i in range(CLASSES)]}
    (d / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return d


def train(out: Path, data: Path, images: int, width: float, snapshots: int, threads: int) -> Path:
    """A run whose ``snapshots`` kept checkpoints are steps 2, 4, ..., ``2 * snapshots``."""
    steps = [2 * (i + 1) for i in range(snapshots)]
    argv = ["train", "--model", "convscope.models.resnet:ResNet8", "--data", str(data)]
    argv += ["--model-args", f"width={max(1, round(BASE_WIDTH * width))}"]
    argv += ["--test-per-class", str(images // CLASSES)]  # every training image: evolution
    argv += ["--iterations", str(steps[-1]), "--batch-size", "20", "--eval-every", str(steps[-1])]
    argv += ["--keep-checkpoints", ",".join(map(str, steps)), "--checkpoint-every", "2"]
    argv += ["--out", str(out), "--threads", str(threads), "-q"]
    if cli(argv) != 0:
        raise SystemExit(f"training {out} failed")
    return out


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@torch.no_grad()
def forward_baseline(run: Path) -> tuple[tuple[float, float], float]:
    """Wall and CPU seconds of one plain inference pass of the final model over the run's
    test images (batches of 256, no hooks), and the model's forward FLOPs per image."""
    from torch.utils.flop_counter import FlopCounterMode

    ctx = RunContext(run)
    model = ctx.model()
    ds, norm = ctx.data()
    images = ds.test.images
    with FlopCounterMode(display=False) as fc:
        model(norm(images[:1]).float())
    t0, c0 = time.perf_counter(), cpu_seconds()
    for i in range(0, len(images), 256):
        model(norm(images[i : i + 256]).float())
    return (time.perf_counter() - t0, cpu_seconds() - c0), float(fc.get_total_flops())


def measure(run: Path, names: list[str]) -> dict[str, tuple[float, float]]:
    """Wall and CPU seconds per analysis (one ``analyze`` call, as the CLI runs them), for
    explore, and for the plain forward pass (``forward``, not part of ``all``)."""
    outcomes: dict[str, Outcome] = {}
    errors: dict[str, str] = {}
    analyze(run, names, errors=errors, outcomes=outcomes)
    for n, msg in errors.items():
        print(f"  {n} did not run: {msg}")
    times = {n: (o.wall_s, o.cpu_s) for n, o in outcomes.items() if o.status == "ran"}
    t0, c0 = time.perf_counter(), cpu_seconds()
    build_site(run, run / "explore")
    times["explore"] = (time.perf_counter() - t0, cpu_seconds() - c0)
    times["all"] = (sum(w for w, _ in times.values()), sum(c for _, c in times.values()))
    times["forward"], flops = forward_baseline(run)
    print(f"    forward FLOPs per image {flops / 1e6:.1f} M", flush=True)
    return times


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y on log x."""
    lx, ly = np.log(xs), np.log(np.maximum(ys, 1e-6))
    return float(np.polyfit(lx, ly, 1)[0])


Times = dict[str, tuple[float, float]]


def table(
    sizes: dict[str, tuple[float, ...]],
    base: dict[str, float],
    results: list[tuple[dict[str, float], Times]],
    names: list[str],
    col: int,
) -> str:
    """A Markdown table: seconds at every point (``col`` 0 wall, 1 CPU), exponent per factor."""
    heads = [f"{k} {v}" for k, vs in sizes.items() for v in vs]
    lines = ["| analysis | " + " | ".join(heads) + " | exp. images | exp. width | exp. snapshots "]
    lines[0] += "| exp. width per forward compute |"
    lines.append("|---" * (len(heads) + 5) + "|")

    def times(n: str, k: str) -> list[float]:
        vs = sizes[k]
        return [
            next(t[n][col] if n in t else math.nan for q, t in results if q == {**base, k: v})
            for v in vs
        ]

    def exp(n: str, k: str) -> float:
        ts = times(n, k)
        return math.nan if any(math.isnan(t) for t in ts) else slope(list(sizes[k]), ts)

    for n in names:
        cells = [f"{t:.2f}" for k in sizes for t in times(n, k)]
        exps = [exp(n, k) for k in sizes]
        if "width" in sizes:  # per unit of the forward pass's compute (see the docstring)
            exps.append(exp(n, "width") - exp("forward", "width"))
        shown = ["–" if math.isnan(e) else f"{e:.2f}" for e in exps]
        lines.append(f"| {n} | " + " | ".join(cells) + " | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def one_epoch(tmp: Path, data: Path, threads: int) -> float:
    """Wall seconds of one training epoch (``EPOCH_IMAGES`` images) at width x1."""
    argv = ["train", "--model", "convscope.models.resnet:ResNet8", "--data", str(data)]
    argv += ["--epochs", "1", "--batch-size", str(BATCH), "--test-per-class", "100"]
    argv += ["--out", str(tmp / "epoch"), "--threads", str(threads), "-q"]
    t0 = time.perf_counter()
    if cli(argv) != 0:
        raise SystemExit("the one-epoch training failed")
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, no epoch (minutes)")
    p.add_argument(
        "--target", action="store_true", help="only 10k images at width x1, and the epoch"
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--what", help="comma-separated analyses (default: every run-scope one)")
    p.add_argument("--train-images", type=int, help="training split size (default 50000)")
    p.add_argument("--keep", type=Path, help="work in DIR and keep it (default: a temp dir)")
    _record.add_argument(p)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    sizes = QUICK if a.quick else FULL
    names = run_scope_names(a.what.split(",") if a.what else None)
    tmp = a.keep or Path(tempfile.mkdtemp(prefix="analysis-scale-"))
    tmp.mkdir(parents=True, exist_ok=True)
    n_train = a.train_images or (200 * CLASSES if a.quick else EPOCH_IMAGES)
    data = write_data(tmp / "data", n_train, max(sizes["images"]))
    base = {k: v[0] for k, v in sizes.items()}
    points = [base] + [{**base, k: v} for k, vs in sizes.items() for v in vs[1:]]
    if a.target:  # only the target point (10k images, width x1) and the epoch
        sizes = {k: (v[-1] if k == "images" else v[0],) for k, v in FULL.items()}
        base = {k: v[0] for k, v in sizes.items()}
        points = [base]
    print(f"threads {a.threads}; load average {os.getloadavg()[0]:.1f}; {tmp}")
    results = []
    for i, pt in enumerate(points):
        run = train(tmp / f"run{i}", data, pt["images"], pt["width"], pt["snapshots"], a.threads)
        results.append((pt, measure(run, names)))
        wall, cpu = results[-1][1]["all"]
        print(f"  {pt}: all {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    for which, col in (("wall", 0), ("CPU", 1)) if not a.target else ():
        print(f"\n{which} seconds per analysis; load average {os.getloadavg()[0]:.1f}")
        print(table(sizes, base, results, [*names, "explore", "all", "forward"], col))
    rec: dict[str, object] = {"threads": a.threads}
    for pt, t in results:
        where = ", ".join(f"{k}={v}" for k, v in pt.items())
        rec[f"all s wall ({where})"] = round(t["all"][0], 2)
    if not a.quick:
        # the epoch trains on 50,000 images whatever the analysed runs' training split
        epoch_data = (
            data if n_train == EPOCH_IMAGES else write_data(tmp / "data50k", EPOCH_IMAGES, 1000)
        )
        epoch = one_epoch(tmp, epoch_data, a.threads)
        big = next(t for q, t in results if q == {**base, "images": max(sizes["images"])})
        for n, (w, c) in big.items():
            print(f"  {n}: {w:.1f} s wall, {c:.1f} s CPU")
        print(
            f"\none epoch on {EPOCH_IMAGES} images (width x1): {epoch:.1f} s wall; analyze + "
            f"explore at {max(sizes['images'])} test images: {big['all'][0]:.1f} s wall; ratio "
            f"{big['all'][0] / epoch:.2f} (target <= 2)"
        )
        rec |= {"epoch s wall": round(epoch, 2), "ratio to epoch": round(big["all"][0] / epoch, 3)}
    _record.record(a.record, "analysis_scale", rec)
    if a.keep is None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
