"""Scale of ``convscope import`` + ``analyze`` (every analysis) + ``explore`` on the built-in
``resnet8`` and a 10,000-image 32x32 RGB test set that this script writes.

The model is trained outside convscope first (a plain loop of ``--steps`` Adam steps on the
training split, its own normalisation), saved as a state_dict, then the three commands run in
this process through ``convscope.cli.main``. Prints each stage's wall time and this process's
CPU time (user + system; less sensitive to other jobs on a shared machine), the load average
before and after, and the totals.

    python benchmarks/import_scale.py [--test 10000] [--train-per-class 100] [--steps 100] \\
        [--threads 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import _record  # benchmarks/_record.py (this script's folder is on sys.path)
import numpy as np
import torch
from PIL import Image
from torch import nn

CLASSES = 10
SIDE = 32
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def write_set(root: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """Class c: stripes at angle c * pi / 10, randomly tinted, with noise (PNG, RGB)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    for split, n in (("Train", n_train), ("Test", n_test)):
        for c in range(CLASSES):
            d = root / split / str(c)
            d.mkdir(parents=True, exist_ok=True)
            a = np.pi * c / CLASSES
            for i in range(n):
                wave = 0.5 + 0.5 * np.sin(
                    (xx * np.cos(a) + yy * np.sin(a)) * 0.9 + rng.uniform(0, 2 * np.pi)
                )
                img = wave[..., None] * rng.uniform(0.3, 1.0, 3) + rng.normal(
                    0, 0.2, (SIDE, SIDE, 3)
                )
                px = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
                Image.fromarray(px, mode="RGB").save(d / f"{i:05d}.png")


def train_outside(root: Path, steps: int) -> nn.Module:
    """A plain loop, reading the training PNGs with Pillow."""
    from convscope.models.resnet import ResNet8

    xs, ys = [], []
    for c in range(CLASSES):
        for f in sorted((root / "Train" / str(c)).glob("*.png")):
            xs.append(np.asarray(Image.open(f)).transpose(2, 0, 1))
            ys.append(c)
    x, y = torch.from_numpy(np.stack(xs)), torch.tensor(ys)
    m, s = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    torch.manual_seed(0)
    model = ResNet8(in_channels=3, num_classes=CLASSES)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(steps):
        idx = torch.randint(0, len(x), (64,))
        loss = nn.functional.cross_entropy(model((x[idx].float() / 255 - m) / s), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def timed(name: str, argv: list[str], rows: list[tuple[str, float, float]]) -> None:
    from convscope.cli import main

    c0, t0 = cpu_seconds(), time.monotonic()
    rc = main(argv)
    rows.append((name, time.monotonic() - t0, cpu_seconds() - c0))
    if rc != 0:
        raise SystemExit(f"{name}: exit {rc}")
    print(f"{name}: wall {rows[-1][1]:.1f} s, cpu {rows[-1][2]:.1f} s", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--test", type=int, default=10_000, help="test images in all")
    p.add_argument("--train-per-class", type=int, default=100)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one)")
    _record.add_argument(p)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    work = a.keep or Path(tempfile.mkdtemp(prefix="import-scale-"))
    os.environ.setdefault("CONVSCOPE_CACHE", str(work / "cache"))
    data = work / "data"
    t0 = time.monotonic()
    if not (data / "Test").is_dir():
        write_set(data, a.train_per_class, a.test // CLASSES)
    print(f"data: {data} ({a.test} test images 3x{SIDE}x{SIDE}), written in "
          f"{time.monotonic() - t0:.1f} s", flush=True)  # fmt: skip
    t0 = time.monotonic()
    model = train_outside(data, a.steps)
    weights = work / "resnet8_state.pt"
    torch.save(model.state_dict(), weights)
    print(f"trained outside convscope: {a.steps} steps in {time.monotonic() - t0:.1f} s")
    run = work / "run"
    load0 = os.getloadavg()[0]
    rows: list[tuple[str, float, float]] = []
    norm = ",".join(map(str, MEAN)) + "/" + ",".join(map(str, STD))
    timed(
        "import",
        ["import", "-q", "--model", "resnet8", "--weights", str(weights), "--data", str(data)]
        + ["--normalize", norm, "--out", str(run)],
        rows,
    )
    timed("analyze (every analysis)", ["analyze", "-q", str(run)], rows)
    timed("explore", ["explore", "-q", str(run)], rows)
    load1 = os.getloadavg()[0]
    wall, cpu = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"threads {a.threads}; load average {load0:.1f} before, {load1:.1f} after")
    print(f"total: wall {wall:.1f} s, cpu {cpu:.1f} s (import + analyze + explore)")
    rec: dict[str, object] = {f"{n} s wall": round(w, 2) for n, w, _ in rows}
    rec |= {"total s wall": round(wall, 2), "total s CPU": round(cpu, 2), "threads": a.threads}
    _record.record(a.record, "import_scale", rec)


if __name__ == "__main__":
    main()
