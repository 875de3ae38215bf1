"""Render benchmark records (``--record PATH`` JSON lines, see ``_record.py``) as Markdown tables.

One table per benchmark, one row per record: date, machine, load average, the command that
produced it, then every result key the records of that benchmark hold (in first-seen order).

    python benchmarks/performance_table.py RECORDS.jsonl [--benchmark train_throughput] > t.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def load(path: Path) -> list[dict[str, Any]]:
    """The records in ``path``, in file order; a line that is not a record stops with its number."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise SystemExit(f"{path}:{n}: not a JSON line ({e.msg})") from None
        if not isinstance(rec, dict) or not {"benchmark", "results", "machine"} <= rec.keys():
            raise SystemExit(
                f"{path}:{n}: expected a benchmark record (benchmark, machine, results)"
            )
        out.append(rec)
    return out


def cell(value: Any) -> str:
    """One table cell: numbers to 4 significant digits, lists joined, ``|`` and newlines escaped."""
    if isinstance(value, bool) or value is None:
        text = "" if value is None else str(value).lower()
    elif isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, (list, tuple)):
        text = ", ".join(cell(v) for v in value)
    else:
        text = str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def machine_text(m: dict[str, Any]) -> str:
    flags = " ".join(m.get("flags") or []) or "no listed flags"
    return f"{m.get('cpu', '?')}; {flags}; {m.get('cores', '?')} cores; torch {m.get('torch', '?')}"


def table(records: list[dict[str, Any]]) -> str:
    """A Markdown table of records of one benchmark."""
    keys: list[str] = []
    for r in records:
        keys += [k for k in r["results"] if k not in keys]
    head = ["date", "machine", "load", "command", *keys]
    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "|" + " --- |" * len(head)]
    for r in records:
        load = (r["machine"].get("load_average") or [None])[0]
        cmd = " ".join(["python", f"benchmarks/{r['benchmark']}.py", *r.get("argv", [])])
        row = [r.get("date", ""), machine_text(r["machine"]), load, f"`{cmd}`"]
        row += [r["results"].get(k) for k in keys]
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def render(records: list[dict[str, Any]], only: str | None = None) -> str:
    """One ``### benchmark`` heading and table per benchmark, in first-seen order."""
    names: list[str] = []
    for r in records:
        if r["benchmark"] not in names and (only is None or r["benchmark"] == only):
            names.append(r["benchmark"])
    parts = [f"### {n}\n\n" + table([r for r in records if r["benchmark"] == n]) for n in names]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("records", type=Path)
    p.add_argument("--benchmark", help="only this benchmark's records")
    a = p.parse_args(argv)
    if not a.records.is_file():
        raise SystemExit(f"{a.records}: no such file (expected JSON lines from --record)")
    sys.stdout.write(render(load(a.records), a.benchmark))


if __name__ == "__main__":
    main()
