"""The ``convscope explore`` subcommand: its options and what it prints."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from convscope.errors import EXIT_OK, ConfigError

EXAMPLES = """\
examples:
  convscope explore runs/cifar-lenet5                       # -> runs/cifar-lenet5/explore/
  convscope explore runs/cifar-lenet5 --layers conv2,fc1 --out /tmp/site

Open OUT/index.html in a browser (no server needed). Layers: conv and fully connected layer
names as the model names them (default: every conv layer and every fully connected layer but
the last).
"""


def add_parser(sub: argparse._SubParsersAction, common: Callable[..., None]) -> None:
    e = sub.add_parser(
        "explore",
        help="write the unit explorer of a run (a static site)",
        description="Every unit of every layer of a run, browsable offline: top-9 test "
        "images with projections, evolution, activation distribution, per-class means.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(e)
    e.add_argument("run_dir", type=Path)
    e.add_argument("--layers", help="comma-separated layer names (default: all but the logits)")
    e.add_argument("--out", type=Path, help="site folder (default: RUN/explore)")
    e.add_argument("--device", help="cpu, cuda, ... (default: the run's device setting)")
    e.set_defaults(func=cmd_explore)


def cmd_explore(args: argparse.Namespace) -> int:
    import logging

    from convscope.explore.build import build_site

    if not args.debug:  # the bar shows progress; the analyses' per-step lines would drown it
        logging.getLogger("convscope.analysis").setLevel(logging.WARNING)
    from convscope.progress import auto_progress

    layers = None
    if args.layers is not None:
        layers = [s.strip() for s in args.layers.split(",") if s.strip()]
        if not layers:
            raise ConfigError("--layers: expected comma-separated layer names, got nothing")
    res = build_site(
        args.run_dir,
        args.out,
        layers=layers,
        device=args.device,
        progress=None if args.quiet else auto_progress(),
    )
    if res.get("note"):
        print(f"convscope: {res['note']}", file=sys.stderr)
    print(f"explorer: {res['index']}")
    print(
        f"{res['units']} units of {', '.join(res['layers'])}; {res['files']} files, "
        f"{res['bytes'] / 1e6:.1f} MB, {res['seconds']:.1f} s"
    )
    line = link_from_report(Path(args.run_dir), Path(res["index"]))
    if line:
        print(line)
    return EXIT_OK


REPORT_MARK = "<title>convscope report: "  # in every report.html that convscope wrote


def experiment_of(run_dir: Path) -> Path | None:
    """The experiment output (``OUT``) that lists ``run_dir`` as one of its runs, if any: the
    folder two levels up (``OUT/runs/<run>``) whose ``experiment.json`` names it."""
    from convscope import io

    out = run_dir.resolve().parent.parent
    try:
        doc = io.read_json(out / "experiment.json")
    except (OSError, ValueError):
        return None
    dirs = [r.get("dir") for g in doc.get("groups") or [] for r in g.get("runs") or []]
    listed = {(out / str(d)).resolve() for d in dirs if isinstance(d, str)}
    return out if run_dir.resolve() in listed else None


def link_from_report(run_dir: Path, index: Path) -> str:
    """Rewrite the experiment's report so that it links the explorer just built, and say so;
    or say how to link it. ``""`` when the run belongs to no experiment output.

    The report links ``RUN/explore/index.html`` of each run (``convscope report`` reads which
    exist); it is rewritten only when ``OUT/report.html`` exists and is convscope's (its
    title), under the output's lock, so a ``convscope run`` that is writing it is not raced.
    """
    from convscope import io
    from convscope.errors import ConvscopeError, LockedError

    out = experiment_of(run_dir)
    if out is None:
        return ""
    if index.resolve() != (run_dir / "explore" / "index.html").resolve():
        return (
            f"report: {out / 'report.html'} links a run's explorer only in RUN/explore; "
            f"build it without --out, then run `convscope report {out}`"
        )
    html_path = out / "report.html"
    try:
        ours = REPORT_MARK in html_path.read_text(encoding="utf-8", errors="replace")[:4000]
    except OSError:
        ours = False
    if not ours:
        return f"report: `convscope report {out}` writes {html_path} with a link to this explorer"
    from convscope.report import write_report

    try:
        with io.dir_lock(out, what="output directory"):
            write_report(out)
    except LockedError:
        return (
            f"report: {out} is being written by another convscope process; "
            f"`convscope report {out}` afterwards links this explorer"
        )
    except ConvscopeError as e:  # the site is built; the report is another matter
        return f"report: not updated ({e}); `convscope report {out}` links this explorer"
    return f"report: {html_path} updated; it links this explorer"
