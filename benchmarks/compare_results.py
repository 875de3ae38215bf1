"""Whether two copies of a run's analysis outputs hold the same results: every study JSON
(all keys but ``timing`` and the run path), every ``.npz`` array (bit for bit, NaN equal to NaN)
and every PNG (decoded pixels), and an explorer site's files byte for byte.

Used to check that a speed-up changed no result (issue 23): analyse (or explore) the same run
before and after, keep the first output aside, then

    python benchmarks/compare_results.py BEFORE_DIR AFTER_DIR

with two ``analysis/`` folders, two ``figures/`` folders or two ``explore/`` sites. Prints one
line per difference and exits 1 if there is any, else prints how many files matched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

IGNORED_KEYS = {"timing", "run"}  # what it cost and where the run lay, not what it found


def _strip(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _strip(v) for k, v in d.items() if k not in IGNORED_KEYS}
    if isinstance(d, list):
        return [_strip(v) for v in d]
    return d


def _diff_json(a: Any, b: Any, where: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{where}.{k}: only in {'after' if k in b else 'before'}")
            else:
                _diff_json(a[k], b[k], f"{where}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _diff_json(x, y, f"{where}[{i}]", out)
    elif a != b and not (isinstance(a, float) and isinstance(b, float) and a != a and b != b):
        out.append(f"{where}: {str(a)[:80]} != {str(b)[:80]}")


def compare_file(a: Path, b: Path, rel: str) -> list[str]:
    out: list[str] = []
    if a.suffix == ".json":
        _diff_json(_strip(json.loads(a.read_text())), _strip(json.loads(b.read_text())), rel, out)
    elif a.suffix == ".npz":
        with np.load(a) as x, np.load(b) as y:
            for k in sorted(set(x.files) | set(y.files)):
                if k not in x.files or k not in y.files:
                    out.append(f"{rel}:{k}: only in one")
                elif x[k].shape != y[k].shape or x[k].dtype != y[k].dtype:
                    out.append(f"{rel}:{k}: {x[k].shape} {x[k].dtype} != {y[k].shape} {y[k].dtype}")
                elif not np.array_equal(x[k], y[k], equal_nan=x[k].dtype.kind in "fc"):
                    d = np.abs(x[k].astype(float) - y[k].astype(float))
                    out.append(f"{rel}:{k}: differs (max abs diff {np.nanmax(d):.3g})")
    elif a.suffix == ".png":
        from PIL import Image

        if not np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b))):
            out.append(f"{rel}: pixels differ")
    elif a.read_bytes() != b.read_bytes():
        out.append(f"{rel}: bytes differ")
    return out


BOOKKEEPING = ("convscope_run.json", ".convscope-explore")  # which ran / what a site wrote


def _files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not p.name.endswith(BOOKKEEPING)
    }


def compare_dirs(before: Path, after: Path) -> tuple[int, list[str]]:
    files_a, files_b = _files(before), _files(after)
    diffs = [f"{r}: only in before" for r in sorted(files_a - files_b)]
    diffs += [f"{r}: only in after" for r in sorted(files_b - files_a)]
    both = sorted(files_a & files_b)
    for rel in both:
        diffs += compare_file(before / rel, after / rel, rel)
    return len(both), diffs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    a = p.parse_args()
    n, diffs = compare_dirs(a.before, a.after)
    for d in diffs:
        print(d)
    if diffs:
        sys.exit(1)
    print(f"{n} files, no differences")


if __name__ == "__main__":
    main()
