"""Benchmark results as JSON lines, each with the machine it was measured on.

A benchmark adds ``--record PATH`` with :func:`add_argument` (default: ``$CONVSCOPE_BENCH_RECORD``)
and calls :func:`record` once at the end with its headline numbers. Each call appends one line

    {"benchmark", "argv", "date", "machine": {...}, "results": {...}}

to PATH, so ``benchmarks/performance_table.py PATH`` can regenerate docs/performance.md's tables
and two hosts that both call themselves "AMD EPYC" are told apart (family, model, flags).
Nothing is written without a path.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

ENV = "CONVSCOPE_BENCH_RECORD"
# the flags that decide convscope's speed (bf16 and vector units); the full list is long
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni", "fma")


def add_argument(parser: argparse.ArgumentParser) -> None:
    """``--record PATH``: append this run's results as one JSON line (default ``$ENV``)."""
    parser.add_argument(
        "--record",
        type=Path,
        default=os.environ.get(ENV) or None,
        metavar="PATH",
        help=f"append the results and the machine's description to PATH as a JSON line "
        f"(default: ${ENV}; none when unset)",
    )


def machine() -> dict[str, Any]:
    """This machine: CPU name (with family and model), speed-relevant flags, cores, torch, load."""
    import torch

    try:
        from convscope import hardware
    except ImportError:  # run without convscope on the path (analyze_vs_baseline.py): this tree's
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        from convscope import hardware

    cpu = hardware.features("cpu")
    flags = hardware.cpu_flags()
    desc: dict[str, Any] = {
        "cpu": cpu.name,
        "flags": [f for f in FLAGS if f in flags],
        "bf16_fast": cpu.bf16_fast,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
    }
    if torch.cuda.is_available():
        desc["cuda"] = torch.cuda.get_device_name()
    return desc


def record(
    path: Path | None,
    benchmark: str,
    results: dict[str, Any],
    argv: list[str] | None = None,
) -> dict[str, Any] | None:
    """Append ``{benchmark, argv, date, machine, results}`` to ``path``; the record, or None
    when ``path`` is None. ``results`` must be JSON-serialisable (numbers, strings, lists)."""
    if path is None:
        return None
    entry = {
        "benchmark": benchmark,
        "argv": _without_record(sys.argv[1:] if argv is None else argv),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "results": results,
    }
    line = json.dumps(entry, sort_keys=False, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:  # one write per line: appends do not interleave
        f.write(line)
    print(f"recorded in {path}")
    return entry


def _without_record(argv: list[str]) -> list[str]:
    """``argv`` less ``--record PATH`` / ``--record=PATH``: where results go is not what ran."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--record":
            skip = True
        elif not a.startswith("--record="):
            out.append(a)
    return out
