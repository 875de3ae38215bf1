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
    return EXIT_OK
