"""The analyses' share of the training time in one ``convscope run`` output (issue 23: at most
35% on the quick profile).

Reads an experiment output: the training wall time of every distinct run (``summary.json``:
``wall_time_s``, the whole run with evaluation and checkpoints) and the wall and CPU time every
analysis recorded (``timing`` in each ``analysis/*.json`` of the runs and of the groups).
Prints each analysis's total and the share ``analyses / training``.

With ``--data-root``, it first runs the profile itself, this source tree and a baseline source
tree (``--baseline-src``, e.g. a worktree of the previous release) alternately, each in its own
process and output folder, and prints both shares and their ratio last:

    python benchmarks/analysis_share.py OUT [OUT ...]
    python benchmarks/analysis_share.py --data-root ../shared/data --baseline-src /tmp/prev/src
        [--profile quick] [--rounds 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import _record  # benchmarks/_record.py (this script's folder is on sys.path)

THIS_SRC = Path(__file__).resolve().parents[1] / "src"
EXPERIMENT = Path(__file__).resolve().parents[1] / "experiments" / "assignment2.toml"


def share(out: Path) -> dict[str, float]:
    """Seconds of training (``train``), of each analysis (``<name>``, wall) and their sums."""
    doc = json.loads((out / "experiment.json").read_text())
    dirs = sorted({r["dir"] for g in doc["groups"] for r in g["runs"]})
    train = sum(
        float(json.loads((out / d / "summary.json").read_text())["wall_time_s"]) for d in dirs
    )
    per: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for js in [*out.glob("runs/*/analysis/*.json"), *out.glob("groups/*/analysis/*.json")]:
        t = json.loads(js.read_text()).get("timing")
        if isinstance(t, dict) and "wall_s" in t:
            per[js.stem][0] += float(t["wall_s"])
            per[js.stem][1] += float(t.get("cpu_s", 0.0))
    res = {"train": train, "runs": float(len(dirs))}
    for n, (w, c) in sorted(per.items(), key=lambda kv: -kv[1][0]):
        res[n] = w
        res[f"{n} cpu"] = c
    res["analyses"] = sum(w for w, _ in per.values())
    res["analyses cpu"] = sum(c for _, c in per.values())
    res["share"] = res["analyses"] / train if train else float("nan")
    return res


def show(label: str, r: dict[str, float]) -> None:
    print(f"{label}: {int(r['runs'])} runs, training {r['train']:.1f} s wall (sum over runs)")
    for n, v in r.items():
        if n not in ("train", "runs", "analyses", "analyses cpu", "share") and " cpu" not in n:
            print(f"  {n:16s} {v:7.1f} s wall  {r[f'{n} cpu']:7.1f} s CPU")
    print(f"  analyses {r['analyses']:.1f} s wall ({r['analyses cpu']:.1f} s CPU); ", end="")
    print(f"share of training {100 * r['share']:.1f}% (target <= 35%)", flush=True)


def run_profile(src: Path, data: Path, profile: str, out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, "-m", "convscope", "run", str(EXPERIMENT), "--profile", profile]
    cmd += ["--data-root", str(data), "--out", str(out), "-q"]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("outs", type=Path, nargs="*", help="experiment outputs to read")
    p.add_argument("--data-root", type=Path, help="run the profile here (this tree, baseline)")
    p.add_argument("--baseline-src", type=Path, help="the baseline's src folder")
    p.add_argument("--profile", default="quick")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--keep", type=Path, help="write the outputs in DIR and keep them")
    _record.add_argument(p)
    a = p.parse_args()
    rec: dict[str, object] = {}
    for out in a.outs:
        r = share(out)
        show(str(out), r)
        rec[f"share ({out.name})"] = round(r["share"], 4)
    if a.data_root:
        if a.baseline_src is None:
            p.error("--data-root needs --baseline-src")
        work = a.keep or Path(tempfile.mkdtemp(prefix="analysis-share-"))
        print(f"load average {os.getloadavg()[0]:.1f}; {work}")
        shares: dict[str, list[float]] = {"baseline": [], "this": []}
        for i in range(a.rounds):
            for side, src in (("baseline", a.baseline_src), ("this", THIS_SRC)):
                out = work / f"{side}-{i}"
                elapsed = run_profile(src, a.data_root, a.profile, out)
                r = share(out)
                show(f"round {i + 1} {side} ({elapsed:.0f} s elapsed)", r)
                shares[side].append(r["share"])
        b, t = min(shares["baseline"]), min(shares["this"])
        print(f"load average {os.getloadavg()[0]:.1f}")
        print(f"share of training: baseline {100 * b:.1f}%, this {100 * t:.1f}%; ratio {t / b:.2f}")
        rec |= {"baseline share": round(b, 4), "this share": round(t, 4)}
        if a.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    _record.record(a.record, "analysis_share", rec)


if __name__ == "__main__":
    main()
