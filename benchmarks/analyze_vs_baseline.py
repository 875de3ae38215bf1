"""``convscope analyze`` and/or ``explore`` of one run: this source tree against a
baseline source tree (e.g. a worktree of the previous release), alternately, in fresh copies
of the run, each in its own process.

Prints each round's wall and CPU seconds (the child's user + system time) per side and the
median ratio this/baseline. Both sides run with the same thread count and environment; only
``PYTHONPATH`` differs.

    python benchmarks/analyze_vs_baseline.py RUN --baseline-src /path/to/main/src [--rounds 2]
        [--what analyze,explore] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _record  # benchmarks/_record.py (this script's folder is on sys.path)

THIS_SRC = Path(__file__).resolve().parents[1] / "src"


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one(run: Path, src: Path, work: Path, threads: int, what: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of the commands ``what`` (analyze, explore) on a fresh copy of
    ``run``."""
    copy = work / "run"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("analysis", "figures", "explore"))
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": str(threads)}
    cmds = [[sys.executable, "-m", "convscope", w, str(copy)] for w in what]
    c0, t0 = child_cpu(), time.perf_counter()
    for cmd in cmds:
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0, child_cpu() - c0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--baseline-src", type=Path, required=True)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--what", default="analyze", help="commands, comma-separated: analyze,explore")
    _record.add_argument(p)
    a = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="analyze-vs-"))
    res: dict[str, list[tuple[float, float]]] = {"baseline": [], "this": []}
    print(f"load average {os.getloadavg()[0]:.1f}")
    try:
        for r in range(a.rounds):
            for side, src in (("baseline", a.baseline_src), ("this", THIS_SRC)):
                wall, cpu = one(a.run, src, work, a.threads, a.what.split(","))
                res[side].append((wall, cpu))
                print(f"round {r + 1} {side:8s}: wall {wall:6.1f} s, CPU {cpu:6.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rec: dict[str, object] = {"what": a.what, "threads": a.threads}
    for i, what in enumerate(("wall", "CPU")):
        ratio = statistics.median(t[i] / b[i] for t, b in zip(res["this"], res["baseline"]))
        print(f"{what}: this/baseline median ratio {ratio:.2f}")
        rec[f"{what} ratio this/baseline"] = round(ratio, 3)
    _record.record(a.record, "analyze_vs_baseline", rec)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
