"""The ``analyze`` command: its parser, what it prints for each analysis (its observation and
figures, the closing outcome table), and ``--layers``."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from convscope.errors import EXIT_BAD_INPUT, EXIT_OK, ConfigError, ConvscopeError


def add_analyze_parser(sub: argparse._SubParsersAction, common: Callable[..., None]) -> None:
    """``convscope analyze RUN``: analyses of a finished run, or ``--list`` / ``--layers``."""
    a = sub.add_parser(
        "analyze",
        help="compute analyses of a finished run from its checkpoints",
        description="Recompute analyses from a run's checkpoints (no retraining); "
        "writes RUN/analysis/<name>.json (+ .npz) and figures to RUN/figures.",
    )
    common(a)
    a.add_argument(
        "run_dir", type=Path, nargs="?", help="a run directory written by `convscope train`"
    )
    a.add_argument(
        "--what",
        default="all",
        metavar="NAMES",
        help="comma-separated analysis names (see --list) or import paths pkg.module:Class "
        "(default: every registered run analysis)",
    )
    a.add_argument("--list", action="store_true", help="list the registered analyses and exit")
    a.add_argument(
        "--layers",
        action="store_true",
        help="list the model's layers (name, kind, inputs, output shape, receptive field) and exit",
    )
    a.set_defaults(func=cmd_analyze)


@contextlib.contextmanager
def _finished_run(run_dir: Path) -> Iterator[None]:
    """Hold the run's lock (LockedError, exit 4, while `train` writes it); refuse unfinished runs."""
    from convscope import io
    from convscope.runs import RunDir

    run = RunDir(run_dir)
    run.config()  # fails with one line if this is not a run directory
    with io.dir_lock(run.path):
        if not run.is_finished():
            raise ConvscopeError(
                f"{run.path}: the run has not finished (status {run.status()}); analyses "
                "describe the trained model: resume it with `convscope train --resume` first"
            )
        yield


def cmd_analyze(args: argparse.Namespace) -> int:
    from convscope.studies import load_builtin
    from convscope.studies.base import describe
    from convscope.studies.runner import Outcome, analyze, run_scope_names

    if args.list:
        for cls in load_builtin().values():
            print(describe(cls))
        return EXIT_OK
    if args.run_dir is None:
        raise ConfigError("analyze: give a run directory (or --list)")
    if args.layers:
        return _list_layers(args.run_dir)
    names = (
        run_scope_names()
        if args.what == "all"
        else run_scope_names([w.strip() for w in args.what.split(",") if w.strip()])
    )
    outcomes: dict[str, Outcome] = {}
    with _finished_run(args.run_dir):  # exit 4 while it is written, 2 if unfinished
        done = analyze(args.run_dir, names, errors={}, outcomes=outcomes)
    for name, path in done.items():
        print(analysis_line(name, Path(path)))
    print(outcome_table(outcomes))
    return EXIT_OK if all(o.status == "ran" for o in outcomes.values()) else EXIT_BAD_INPUT


def outcome_table(outcomes: dict[str, Any]) -> str:
    """The closing table of ``analyze``: each analysis, ran / refused / failed, its wall and CPU
    time, and why in one line."""
    w = max([len(n) for n in outcomes] + [8])
    lines = [f"{'analysis':<{w}}  {'status':<8} {'wall':>8} {'cpu':>8}  why"]
    for name, o in outcomes.items():
        times = f"{o.wall_s:7.1f}s {o.cpu_s:7.1f}s" if o.status == "ran" else f"{'':>8} {'':>8}"
        why = " ".join(o.message.split())
        lines.append(f"{name:<{w}}  {o.status:<8} {times}  {why}".rstrip())
    counts = {
        s: sum(o.status == s for o in outcomes.values()) for s in ("ran", "refused", "failed")
    }
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)


def analysis_line(name: str, json_path: Path) -> str:
    """What ``analyze`` says about one result: its observation and figures, or why not."""
    try:
        info = json.loads(json_path.read_text())
    except (OSError, ValueError):
        return f"{name}: {json_path}"
    if not isinstance(info, dict):
        return f"{name}: {json_path}"
    observation = str(info.get("observation") or "").strip()
    if not observation and isinstance(info.get("observations"), list):  # a study's JSON
        observation = " ".join(str(o) for o in info["observations"] if o).strip()
    if info.get("applicable") is False:
        return f"{name}: not applicable: {observation or 'see ' + str(json_path)}"
    figures = info.get("figures") or []
    if isinstance(figures, dict):
        figures = list(figures.values())
    base = json_path.parent.parent  # study figure paths are relative to the run directory
    paths = [
        f if isinstance(f, str) else str(base / f["path"])
        for f in figures
        if isinstance(f, str) or (isinstance(f, dict) and isinstance(f.get("path"), str))
    ]
    lines = [f"{name}: {observation}" if observation else f"{name}: {json_path}"]
    lines.extend(f"  figure: {f}" for f in paths)
    return "\n".join(lines)


def _list_layers(run_dir: Path) -> int:
    from convscope.analysis.zf.graph import trace_chain
    from convscope.analysis.zf.receptive import describe_layers
    from convscope.runs import RunDir

    run = RunDir(run_dir)
    run.config()  # fails with one line if this is not a run directory
    chain = trace_chain(run.load_model(None, device="cpu"))
    rows = describe_layers(chain, run.load_data()[0].image_shape)
    w = max(len(str(r["display"])) for r in rows)
    print(f"{'layer':<{w}}  {'kind':<15} {'output':<14} {'field':<6} reads")
    for r in rows:
        shape = "x".join(str(d) for d in r["shape"]) or "-"  # type: ignore[union-attr]
        mark = "*" if r["default"] else (" " if r["analyzable"] else "-")
        print(
            f"{r['display']:<{w}}  {r['kind']:<15} {shape:<14} {r['receptive_field']:<6} "
            f"{', '.join(r['inputs'])} {mark}"  # type: ignore[arg-type]
        )
    print("* analysed by default; - not analysable (the logits, or not (C, H, W) / (F,))")
    return EXIT_OK
