"""The ``train`` and ``data`` commands: their parsers and what they do."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from convscope.cli_options import add_config_options, flat_from_args, option_help
from convscope.errors import (
    EXIT_DIVERGED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    exit_codes_help,
)
from convscope.formatting import NA, fixed, pct

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


def add_train_parser(sub: argparse._SubParsersAction, common: Callable[..., None]) -> None:
    """``convscope train``: one option per config key, and the run's own options."""
    t = sub.add_parser(
        "train",
        help="train one model into a run directory",
        description="Train one model; record metrics, TensorBoard events and checkpoints.",
        epilog=TRAIN_EXAMPLES + "\n" + exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(t)
    t.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="TOML or JSON file with the same keys as the options (the command line wins)",
    )
    t.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="run directory (default: runs/<model>-<config hash>)",
    )
    t.add_argument("--resume", action="store_true", help="continue the unfinished run in --out")
    t.add_argument(
        "--dry-run",
        action="store_true",
        help=f"run {DRY_RUN_STEPS} steps into a temporary directory, removed afterwards",
    )
    add_config_options(t)
    t.set_defaults(func=cmd_train)


def add_data_parser(sub: argparse._SubParsersAction, common: Callable[..., None]) -> None:
    """``convscope data``: a data source and the data options that change what it holds."""
    d = sub.add_parser(
        "data",
        help="describe a data source",
        description="Print sizes, classes, per-class counts and pixel statistics of a data source.",
    )
    common(d)
    d.add_argument("source", nargs="?", default="digits", help="path, 'digits' or download:NAME")
    d.add_argument("--json", action="store_true", help="print JSON")
    for name in ("grayscale", "resize", "train_per_class", "test_per_class", "cache_dir"):
        metavar, text = option_help(name, False if name == "grayscale" else None)
        d.add_argument(
            "--" + name.replace("_", "-"),
            dest=f"cfg_{name}",
            default=None,
            metavar=metavar,
            help=text,
            **({"nargs": "?", "const": "true"} if name == "grayscale" else {}),
        )
    d.set_defaults(func=cmd_data)


def cmd_train(args: argparse.Namespace) -> int:
    from convscope.config import from_flat, load_config_file, short_model_name
    from convscope.train.precision import run_hash

    flat: dict[str, Any] = {}
    if args.config is not None:
        flat.update(load_config_file(args.config))
    flat.update(flat_from_args(args))
    cfg = from_flat(flat)
    from convscope.data import load_dataset
    from convscope.models import REGISTRY, load_factory

    if cfg.model.model not in REGISTRY:
        load_factory(cfg.model.model)  # a bad import path fails before the data is read
    dataset = load_dataset(cfg.data)  # bad data fails here, before any training
    if args.dry_run:
        import shutil
        import tempfile

        out = Path(tempfile.mkdtemp(prefix="convscope-dry-run-"))
        try:  # the folder is ours (mkdtemp made it): remove it whatever happens
            summary = _train(args, cfg, out, dataset, DRY_RUN_STEPS)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        _print_summary(out, summary, dataset.source, len(dataset.test), temporary=True)
    else:
        out = args.out or Path("runs") / f"{short_model_name(cfg.model.model)}-{run_hash(cfg)}"
        summary = _train(args, cfg, out, dataset, None)
        _print_summary(out, summary, dataset.source, len(dataset.test))
    return {
        "completed": EXIT_OK,
        "diverged": EXIT_DIVERGED,
        "interrupted": EXIT_INTERRUPTED,
    }.get(summary.get("status", ""), EXIT_INTERNAL)


def _train(
    args: argparse.Namespace, cfg: Any, out: Path, dataset: Any, max_steps: int | None
) -> dict[str, Any]:
    from convscope.callbacks import config_callbacks
    from convscope.progress import auto_progress
    from convscope.train.loop import train

    progress = None if args.quiet else auto_progress()
    return train(
        cfg,
        out,
        resume=args.resume,
        dataset=dataset,
        callbacks=config_callbacks(cfg),
        progress=progress,
        max_steps=max_steps,
    )


def _print_summary(
    out: Path, s: dict[str, Any], source: str, n_test: int, temporary: bool = False
) -> None:
    print(f"run: {out}" + (" (dry run: temporary, removed)" if temporary else ""))
    print(f"data: {source}")
    print(
        f"status: {s.get('status')} at step {s.get('step')}/{s.get('total_steps')}"
        + (f" ({s['reason']})" if s.get("reason") else "")
    )
    print(
        f"best test_accuracy: {fixed(s.get('best_test_accuracy'), 4)} (step {s.get('best_step')}), "
        f"final: {fixed(s.get('final_test_accuracy'), 4)}"
    )
    print(f"wall time: {s.get('wall_time_s')} s, {s.get('images_per_second')} img/s")
    if s.get("precision"):
        share = s.get("outside_steps_share")
        outside = pct(share, missing=NA)
        print(
            f"precision: {s['precision']}; a record every {s.get('eval_every')} steps; "
            f"time outside optimizer steps: {outside}"
        )
        n_te = s.get("test_eval_size")
        if n_te is not None and n_te < n_test:
            print(f"test accuracy before the last record: on {n_te} of {n_test} test images")
    if s.get("status") == "interrupted" and not temporary:
        print(f"resume with: convscope train --out {out} --resume (and the same options)")


def cmd_data(args: argparse.Namespace) -> int:
    from convscope.config import from_flat
    from convscope.data import load_dataset

    cfg = from_flat({"data": args.source, **flat_from_args(args)})
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
