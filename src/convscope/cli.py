"""The ``convscope`` command: parse, call the library, map errors to exit codes.

Exit codes: 0 success, 2 bad input (one line names the file or key), 3 a run diverged,
4 the run/output directory is locked by another process, 130 interrupted (resume with
``--resume``), 1 an internal error (a bug; traceback with ``--debug``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from convscope import __version__
from convscope.errors import (
    EXIT_DIVERGED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ConfigError,
    ConvscopeError,
)
from convscope.explore.cli import add_parser as add_explore_parser

log = logging.getLogger("convscope")

TRAIN_EXAMPLES = """\
examples:
  convscope train --data ../shared/data/CIFAR10 --model lenet5 --optimizer adam --lr 1e-3 \\
      --batch-size 50 --epochs 8 --seed 0 --out runs/cifar-lenet5
  convscope train --data ../shared/data/MNIST --model lstm --hidden-size 128 --epochs 4
  convscope train --config my_run.toml --lr 1e-4          # file keys, overridden on the line
  convscope train --out runs/cifar-lenet5 --resume ...    # continue an interrupted run
  convscope train --dry-run                               # a few steps on the built-in digits

With no --data, the built-in scikit-learn 8x8 digits (resized to 28x28) are used; every output
says so. --data also takes CIFAR-10 python batches (dir or .tar.gz), MNIST IDX files, or
download:cifar10 / download:mnist.
"""

DRY_RUN_STEPS = 5


def _field_help(section: type, name: str) -> str:
    return f"config key '{name}' (section [{section.__name__.removesuffix('Config').lower()}])"


def _add_config_options(p: argparse.ArgumentParser) -> None:
    """One option per config field: ``--lr``, ``--batch-size``, ... (values checked later)."""
    from convscope.config import SECTIONS

    for section in SECTIONS.values():
        group = p.add_argument_group(f"{section.__name__} options")
        hints = typing.get_type_hints(section)
        for f in dataclasses.fields(section):
            flag = "--" + f.name.replace("_", "-")
            kwargs: dict[str, Any] = {"dest": f"cfg_{f.name}", "default": None}
            if hints[f.name] is bool:
                kwargs.update(nargs="?", const="true", metavar="BOOL")
            elif typing.get_origin(hints[f.name]) is typing.Literal:
                kwargs["metavar"] = "{" + ",".join(map(str, typing.get_args(hints[f.name]))) + "}"
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            group.add_argument(flag, help=f"default: {default}", **kwargs)


def _flat_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_") and v is not None}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="convscope",
        description="Train small vision and sequence networks and see what they learned.",
    )
    p.add_argument("--version", action="version", version=f"convscope {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress output")

    t = sub.add_parser(
        "train",
        help="train one model into a run directory",
        description="Train one model; record metrics, TensorBoard events and checkpoints.",
        epilog=TRAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(t)
    t.add_argument(
        "--config", type=Path, help="TOML or JSON file with the same keys as the options"
    )
    t.add_argument("--out", type=Path, help="run directory (default: runs/<model>-<config hash>)")
    t.add_argument("--resume", action="store_true", help="continue the unfinished run in --out")
    t.add_argument(
        "--dry-run",
        action="store_true",
        help=f"run {DRY_RUN_STEPS} steps into a temporary directory",
    )
    _add_config_options(t)

    d = sub.add_parser(
        "data",
        help="describe a data source",
        description="Print sizes, classes, per-class counts and pixel statistics of a data source.",
    )
    common(d)
    d.add_argument("source", nargs="?", default="digits", help="path, 'digits' or download:NAME")
    d.add_argument("--json", action="store_true", help="print JSON")
    for name in ("grayscale", "resize", "train_per_class", "test_per_class", "cache_dir"):
        d.add_argument(
            "--" + name.replace("_", "-"),
            dest=f"cfg_{name}",
            default=None,
            **({"nargs": "?", "const": "true"} if name == "grayscale" else {}),
        )

    a = sub.add_parser(
        "analyze",
        help="compute analyses of a finished run from its checkpoints",
        description="Recompute analyses from a run's checkpoints (no retraining); "
        "writes RUN/analysis/<name>.json (+ .npz) and figures to RUN/figures.",
    )
    common(a)
    a.add_argument("run_dir", type=Path, nargs="?", help="a run directory")
    a.add_argument(
        "--what",
        default="all",
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
    t.set_defaults(func=cmd_train)
    d.set_defaults(func=cmd_data)
    add_explore_parser(sub, common)

    from convscope.experiments.cli import add_commands

    add_commands(sub)
    return p


# --- commands ------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from convscope.config import config_hash, from_flat, load_config_file
    from convscope.progress import auto_progress
    from convscope.train.loop import train

    flat: dict[str, Any] = {}
    if args.config is not None:
        flat.update(load_config_file(args.config))
    flat.update(_flat_from_args(args))
    cfg = from_flat(flat)
    from convscope.data import load_dataset
    from convscope.models import REGISTRY, load_factory

    if cfg.model.model not in REGISTRY:
        load_factory(cfg.model.model)  # a bad import path fails before the data is read
    dataset = load_dataset(cfg.data)  # bad data fails here, before any training
    if args.dry_run:
        import tempfile

        out = Path(tempfile.mkdtemp(prefix="convscope-dry-run-"))
    else:
        out = (
            args.out
            or Path("runs") / f"{Path(cfg.model.model).name.replace(':', '-')}-{config_hash(cfg)}"
        )
    progress = None if args.quiet else auto_progress()
    from convscope.callbacks import config_callbacks

    summary = train(
        cfg,
        out,
        resume=args.resume,
        dataset=dataset,
        callbacks=config_callbacks(cfg),
        progress=progress,
        max_steps=DRY_RUN_STEPS if args.dry_run else None,
    )
    _print_summary(out, summary, dataset.source)
    return {
        "completed": EXIT_OK,
        "diverged": EXIT_DIVERGED,
        "interrupted": EXIT_INTERRUPTED,
    }.get(summary.get("status", ""), EXIT_INTERNAL)


def _print_summary(out: Path, s: dict[str, Any], source: str) -> None:
    def pct(v: Any) -> str:
        return "n/a" if v is None else f"{v:.4f}"

    print(f"run: {out}")
    print(f"data: {source}")
    print(
        f"status: {s.get('status')} at step {s.get('step')}/{s.get('total_steps')}"
        + (f" ({s['reason']})" if s.get("reason") else "")
    )
    print(
        f"best test_accuracy: {pct(s.get('best_test_accuracy'))} (step {s.get('best_step')}), "
        f"final: {pct(s.get('final_test_accuracy'))}"
    )
    print(f"wall time: {s.get('wall_time_s')} s, {s.get('images_per_second')} img/s")
    if s.get("status") == "interrupted":
        print(f"resume with: convscope train --out {out} --resume (and the same options)")


def cmd_data(args: argparse.Namespace) -> int:
    from convscope.config import from_flat
    from convscope.data import load_dataset

    cfg = from_flat({"data": args.source, **_flat_from_args(args)})
    info = load_dataset(cfg.data).describe()
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    print(f"{info['name']}: {info['source']}")
    print(f"  image shape (C, H, W): {tuple(info['image_shape'])}")
    print(f"  train: {info['train_size']} images, test: {info['test_size']} images")
    print(f"  {'class':<16} {'train':>7} {'test':>7}")
    for i, c in enumerate(info["classes"]):
        print(f"  {i:>2} {c:<13} {info['train_counts'][i]:>7} {info['test_counts'][i]:>7}")
    mean = ", ".join(f"{m:.4f}" for m in info["pixel_mean"])
    std = ", ".join(f"{s:.4f}" for s in info["pixel_std"])
    print(f"  pixel mean [0,1]: {mean}; std: {std}; range {info['pixel_min']}..{info['pixel_max']}")
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    from convscope.studies import load_builtin
    from convscope.studies.base import describe
    from convscope.studies.runner import analyze, run_scope_names

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
    done = analyze(args.run_dir, names)
    for name, path in done.items():
        print(f"{name}: {path}")
    return EXIT_OK


def _list_layers(run_dir: Path) -> int:
    from convscope.analysis.zf.graph import trace_chain
    from convscope.analysis.zf.receptive import describe_layers
    from convscope.runs import RunDir

    run = RunDir(run_dir)
    run.config()  # fails with one line if this is not a run directory
    chain = trace_chain(run.load_model(None, device="cpu"))
    rows = describe_layers(chain, run.load_data()[0].image_shape)
    w = max(len(str(r["name"])) for r in rows)
    print(f"{'layer':<{w}}  {'kind':<15} {'output':<14} {'field':<6} reads")
    for r in rows:
        shape = "x".join(str(d) for d in r["shape"])  # type: ignore[union-attr]
        mark = "*" if r["default"] else (" " if r["analyzable"] else "-")
        print(
            f"{r['name']:<{w}}  {r['kind']:<15} {shape:<14} {r['receptive_field']:<6} "
            f"{', '.join(r['inputs'])} {mark}"  # type: ignore[arg-type]
        )
    print("* analysed by default; - not analysable (the logits, or not (C, H, W) / (F,))")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    logging.basicConfig(
        level=logging.DEBUG
        if debug
        else (logging.WARNING if getattr(args, "quiet", False) else logging.INFO),
        format="%(levelname)s %(name)s: %(message)s" if debug else "%(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except ConvscopeError as e:
        if debug:
            raise
        print(f"convscope: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("convscope: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as e:  # a bug: say so in one line unless --debug
        if debug:
            raise
        print(
            f"convscope: internal error: {type(e).__name__}: {e} (rerun with --debug for a traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
