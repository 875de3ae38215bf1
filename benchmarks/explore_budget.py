"""Time and size of ``convscope explore`` on one run, against the budget (60 s, 50 MB).

Builds the site with ``--threads`` torch threads (default 2) and prints the wall time, the
process's CPU time (user + system; less sensitive to other jobs on a shared machine), the
load average before and after, the bytes written (sum of file sizes) and the disk usage
(allocated blocks), then the ratios to the budget.

    python benchmarks/explore_budget.py RUN [--out DIR] [--layers conv1,conv2,fc1] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import _record  # benchmarks/_record.py (this script's folder is on sys.path)
import torch

from convscope.explore.build import build_site

BUDGET_S = 60.0
BUDGET_MB = 50.0


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--out", type=Path)
    p.add_argument("--layers")
    p.add_argument("--threads", type=int, default=2)
    _record.add_argument(p)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = a.out or Path(tempfile.mkdtemp(prefix="explore-bench-")) / "site"
    load0 = os.getloadavg()[0]
    c0, t0 = cpu_seconds(), time.monotonic()
    res = build_site(a.run, out, layers=a.layers.split(",") if a.layers else None)
    wall, cpu = time.monotonic() - t0, cpu_seconds() - c0
    load1 = os.getloadavg()[0]
    files = [f for f in Path(res["out"]).rglob("*") if f.is_file()]
    size = sum(f.stat().st_size for f in files) / 1e6
    disk = sum(f.stat().st_blocks * 512 for f in files) / 1e6
    print(f"site: {res['index']} ({res['units']} units of {', '.join(res['layers'])})")
    print(f"threads {a.threads}; load average {load0:.1f} before, {load1:.1f} after")
    print(f"wall {wall:.1f} s, cpu {cpu:.1f} s (budget {BUDGET_S:.0f} s wall)")
    print(
        f"{len(files)} files, {size:.1f} MB of content, {disk:.1f} MB on disk (budget {BUDGET_MB:.0f} MB)"
    )
    print(f"ratio wall/budget {wall / BUDGET_S:.2f}, cpu/budget {cpu / BUDGET_S:.2f}, "
          f"size/budget {size / BUDGET_MB:.2f}, disk/budget {disk / BUDGET_MB:.2f}")  # fmt: skip
    rec = {"units": res["units"], "layers": list(res["layers"]), "wall s": round(wall, 2)}
    rec |= {"CPU s": round(cpu, 2), "MB": round(size, 2), "MB on disk": round(disk, 2)}
    _record.record(a.record, "explore_budget", rec)


if __name__ == "__main__":
    main()
