"""The ``convscope`` command: parse, call the library, map errors to exit codes.

Exit codes: the one table is :data:`convscope.errors.EXIT_CODES` (docs/errors.md; every
``--help`` prints it).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import sys
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from convscope import __version__
from convscope.errors import (
    EXIT_BAD_INPUT,
    EXIT_DIVERGED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ConfigError,
    ConvscopeError,
    environment_error,
    exit_codes_help,
    is_environment_error,
    note_signal,
    was_signalled,
)
from convscope.explore.cli import add_parser as add_explore_parser
from convscope.formatting import NA, fixed, pct
from convscope.import_cli import add_parser as add_import_parser

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


def _option_help(name: str, default: Any, choices: Sequence[Any] = ()) -> tuple[str, str]:
    """``(metavar, help)`` for config key ``name``: its one-line description, choices and default."""
    from convscope.cli_help import FIELD_HELP

    metavar, text = FIELD_HELP.get(name, (name.upper(), f"config key '{name}'"))
    if choices:
        text += f"; one of {', '.join(map(str, choices))}"
    if "default:" not in text:
        if isinstance(default, bool):
            shown = str(default).lower()
        elif isinstance(default, list):
            shown = ", ".join(map(str, default)) or "none"
        else:
            shown = str(default)
        text += f" (default: {shown})"
    return metavar, text


def _add_config_options(p: argparse.ArgumentParser) -> None:
    """One option per config field: ``--lr``, ``--batch-size``, ... (values checked later)."""
    from convscope.config import SECTIONS
    from convscope.models import REGISTRY

    for key, section in SECTIONS.items():
        group = p.add_argument_group(f"{key} options (config file section [{key}])")
        hints = typing.get_type_hints(section)
        for f in dataclasses.fields(section):
            flag = "--" + f.name.replace("_", "-")
            kwargs: dict[str, Any] = {"dest": f"cfg_{f.name}", "default": None}
            choices: Sequence[Any] = ()
            if hints[f.name] is bool:
                kwargs.update(nargs="?", const="true")
            elif typing.get_origin(hints[f.name]) is typing.Literal:
                choices = typing.get_args(hints[f.name])
            elif f.name == "model":
                choices = list(REGISTRY)
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            metavar, text = _option_help(f.name, default, choices)
            group.add_argument(flag, metavar=metavar, help=text, **kwargs)


def _flat_from_args(args: argparse.Namespace) -> dict[str, Any]:
    return {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_") and v is not None}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="convscope",
        description="Train small vision and sequence networks and see what they learned.",
        epilog=exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"convscope {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
        sp.add_argument("-q", "--quiet", action="store_true", help="no progress output")
        sp.add_argument(
            "--trust-model-code",
            action="store_true",
            help="import the model code a run folder names even when the folder does not prove "
            "it is the code the run was trained with (only for folders you trust)",
        )

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
        metavar, text = _option_help(name, False if name == "grayscale" else None)
        d.add_argument(
            "--" + name.replace("_", "-"),
            dest=f"cfg_{name}",
            default=None,
            metavar=metavar,
            help=text,
            **({"nargs": "?", "const": "true"} if name == "grayscale" else {}),
        )

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
    t.set_defaults(func=cmd_train)
    d.set_defaults(func=cmd_data)
    add_explore_parser(sub, common)
    add_import_parser(sub, common)

    from convscope.experiments.cli import add_commands

    add_commands(sub)
    return p


# --- commands ------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from convscope.config import from_flat, load_config_file, short_model_name
    from convscope.train.precision import run_hash

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
        print(_analysis_line(name, Path(path)))
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


def _analysis_line(name: str, json_path: Path) -> str:
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


def main(argv: Sequence[str] | None = None) -> int:
    from convscope import allocator

    allocator.tune()
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
    _never_fail_on_encoding()
    try:
        with _sigterm_as_interrupt(), _trust(getattr(args, "trust_model_code", False)):
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
    except OSError as e:
        if debug or not is_environment_error(e):
            if was_signalled() and not debug:
                print("convscope: interrupted", file=sys.stderr)
                return EXIT_INTERRUPTED
            return _internal(e, debug)
        err = environment_error(e)
        print(f"convscope: error: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as e:  # a bug: say so in one line unless --debug
        if was_signalled():  # the interrupt surfaced as another error (e.g. mid-import)
            print("convscope: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        return _internal(e, debug)


def _never_fail_on_encoding() -> None:
    """A path or name the terminal's encoding cannot show (PYTHONIOENCODING=ascii, a POSIX
    locale) is printed with backslash escapes instead of failing the command."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]


@contextlib.contextmanager
def _trust(on: bool) -> Iterator[None]:
    """``--trust-model-code``: for this command and the worker processes it starts."""
    from convscope.models.trust import TRUST_ENV

    if not on:
        yield
        return
    old = os.environ.get(TRUST_ENV)
    os.environ[TRUST_ENV] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(TRUST_ENV, None)
        else:
            os.environ[TRUST_ENV] = old


def _sigterm_as_interrupt() -> contextlib.AbstractContextManager[None]:
    """SIGTERM stops any command as Ctrl-C does (exit 130, runs checkpoint and stop)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def installed() -> Iterator[None]:
        def handler(signum: int, frame: Any) -> None:
            note_signal(signum)
            raise KeyboardInterrupt

        old = signal.signal(signal.SIGTERM, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, old)

    return installed()


def _internal(e: Exception, debug: bool) -> int:
    if debug:
        raise e
    print(
        f"convscope: internal error: {type(e).__name__}: {e} (rerun with --debug for a traceback)",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
