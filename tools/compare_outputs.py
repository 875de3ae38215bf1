"""Whether two outputs of ``convscope run`` say the same things: the check that a refactor
changed nothing a user sees (issue 24).

    python tools/compare_outputs.py BEFORE_OUT AFTER_OUT

Compares, and prints one line per difference (exit 1 if any, else a summary and exit 0):

* the run folders (their names carry each run's config hash, so a changed hash shows here);
* every study result: each run's and group's ``analysis/*.json`` (every key but ``timing`` and
  the run path: verdicts, numbers, sentences, choices), ``.npz`` arrays bit for bit, and the
  PNG figures' decoded pixels (``benchmarks/compare_results.py`` does the file comparison);
* the report: ``report.md``'s section headings in order, the figures it shows (by path, and
  their pixels), the claims table, and the whole text with the output's path, durations, dates and the cells of time and
  throughput columns masked.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "compare_results", Path(__file__).resolve().parent.parent / "benchmarks/compare_results.py"
)
compare_results = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(compare_results)  # type: ignore[union-attr]

# what varies from one run of the same code to the next: wall/CPU times, dates, throughput
_MASKS = [
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:s|ms|min|h)\b"), "<dur>"),
    (re.compile(r"\b\d+m\d+s\b|\b\d+ min \d+ s\b"), "<dur>"),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
        ),
        "<date>",
    ),
    (re.compile(r"\b[\d,]+(?:\.\d+)? (?:img/s|images/s)"), "<rate>"),
]


_TIMED_COLUMN = re.compile(r"wall|CPU|time \(s\)|images/s|img/s|elapsed", re.I)


def _mask(line: str) -> str:
    for rx, sub in _MASKS:
        line = rx.sub(sub, line)
    return line


def _masked(lines: list[str], out: Path) -> list[str]:
    """The report's lines with what differs between two runs of the same code masked: the
    output folder's path, durations and dates, and the cells of table columns that hold times
    or throughputs (by their header)."""
    res, timed = [], set()
    for i, ln in enumerate(lines):
        ln = ln.replace(str(out), "<OUT>")
        if ln.startswith("|"):
            cells = ln.split("|")
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if nxt.startswith("|") and set(nxt.replace("|", "").strip()) <= set("-: "):
                timed = {j for j, c in enumerate(cells) if _TIMED_COLUMN.search(c)}
            elif timed and not set(ln.replace("|", "").strip()) <= set("-: "):
                cells = ["<t>" if j in timed else c for j, c in enumerate(cells)]
            ln = "|".join(cells)
        else:
            timed = set()
        res.append(_mask(ln))
    return res


def _analysis_dirs(out: Path) -> dict[str, Path]:
    return {
        p.relative_to(out).as_posix(): p
        for sub in ("analysis", "figures")
        for p in sorted(out.glob(f"runs/*/{sub}")) + sorted(out.glob(f"groups/*/{sub}"))
        if p.is_dir()
    }


def compare_report(a: Path, b: Path) -> tuple[dict[str, int], list[str]]:
    ta = a.read_text(encoding="utf-8").splitlines()
    tb = b.read_text(encoding="utf-8").splitlines()
    diffs: list[str] = []
    ha = [ln for ln in ta if ln.startswith("#")]
    hb = [ln for ln in tb if ln.startswith("#")]
    if ha != hb:
        gone = [h for h in ha if h not in hb]
        new = [h for h in hb if h not in ha]
        diffs.append(f"report.md sections differ: only before {gone[:5]}, only after {new[:5]}")
    fig = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")
    fa = [m for ln in ta for m in fig.findall(ln)]
    fb = [m for ln in tb for m in fig.findall(ln)]
    if fa != fb:
        diffs.append(f"report.md figures differ: {len(fa)} before, {len(fb)} after")
    for rel in sorted(set(fa) & set(fb)):
        pa, pb = a.parent / rel, b.parent / rel
        if pa.is_file() and pb.is_file():
            diffs += compare_results.compare_file(pa, pb, rel)
    ma, mb = _masked(ta, a.parent), _masked(tb, b.parent)
    if ma != mb:
        import difflib

        changed = [
            d
            for d in difflib.unified_diff(ma, mb, "before", "after", n=0, lineterm="")
            if d[:1] in "+-" and not d.startswith(("+++", "---"))
        ]
        diffs += [f"report.md text: {d[:160]}" for d in changed[:40]]
    return {"sections": len(ha), "figures": len(fa), "lines": len(ta)}, diffs


def compare_outputs(before: Path, after: Path) -> tuple[dict[str, int], list[str]]:
    diffs: list[str] = []
    ra = {p.name for p in before.glob("runs/*") if p.is_dir()}
    rb = {p.name for p in after.glob("runs/*") if p.is_dir()}
    diffs += [f"run folder only in before: {r}" for r in sorted(ra - rb)]
    diffs += [f"run folder only in after: {r}" for r in sorted(rb - ra)]
    da, db = _analysis_dirs(before), _analysis_dirs(after)
    diffs += [f"{r}: only in before" for r in sorted(set(da) - set(db))]
    diffs += [f"{r}: only in after" for r in sorted(set(db) - set(da))]
    n_files = 0
    for rel in sorted(set(da) & set(db)):
        n, d = compare_results.compare_dirs(da[rel], db[rel])
        n_files += n
        diffs += [f"{rel}/{x}" for x in d]
    counts, d = compare_report(before / "report.md", after / "report.md")
    diffs += d
    counts.update({"runs": len(ra & rb), "analysis_files": n_files})
    return counts, diffs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    a = p.parse_args(argv)
    counts, diffs = compare_outputs(a.before, a.after)
    for d in diffs:
        print(d)
    print(
        f"{counts['runs']} runs, {counts['analysis_files']} analysis files, report: "
        f"{counts['sections']} headings, {counts['figures']} figures, {counts['lines']} lines; "
        + (f"{len(diffs)} difference(s)" if diffs else "no differences")
    )
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
