"""``convscope run`` and ``convscope report``: added to the main parser by :func:`add_commands`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from convscope.errors import EXIT_INTERRUPTED, EXIT_OK, ConfigError, exit_codes_help
from convscope.progress import format_seconds

if TYPE_CHECKING:
    from convscope.experiments.run import SweepStatus

RUN_EXAMPLES = """\
examples:
  convscope run experiments/assignment2.toml --profile quick --data-root ../shared/data --out out/a2
  convscope run experiments/assignment2.toml --profile full --workers 2    # resumes what is missing
  convscope run experiments/assignment2.toml --executor ray               # a local Ray instance
  convscope run experiments/assignment2.toml --executor ray --ray-address HEAD:6379  # a cluster

Data paths in the file are relative to --data-root (or $CONVSCOPE_DATA_ROOT). Without either,
the built-in scikit-learn digits replace them and every output says so. Running the same
command again trains only what is missing and resumes interrupted runs from their checkpoints.
When every failed run failed the same way, `convscope run` exits with that error's code.
"""


MAX_RUNS = 1000  # distinct runs `convscope run` starts without --max-runs


def _common(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def add_commands(sub: Any) -> None:
    """Add the ``run`` and ``report`` subcommands to the subparsers object ``sub``."""
    r = sub.add_parser(
        "run",
        help="train, analyse and report a whole experiment file",
        description="Run every run of an experiment file that is not finished yet (resuming "
        "interrupted ones), then the analyses it names, then `convscope report OUT`.",
        epilog=RUN_EXAMPLES + "\n" + exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(r)
    r.add_argument(
        "--trust-model-code",
        action="store_true",
        help="analyse runs in OUT whose folder does not prove its model code is the code they "
        "were trained with (only for an OUT you trust)",
    )
    r.add_argument("experiment", type=Path, help="experiment file (TOML)")
    r.add_argument("--profile", help="profile in the file (default: its default_profile)")
    r.add_argument(
        "--data-root",
        help="folder that {data_root} in the file stands for (default: $CONVSCOPE_DATA_ROOT)",
    )
    r.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output directory (default: out/<name>-<profile>-digits without a data root, "
        "out/<name>-<profile>-realdata with one)",
    )
    r.add_argument("--executor", choices=("local", "ray"), default="local", help="default: local")
    r.add_argument(
        "--workers",
        type=int,
        help="runs at once (local default: one per core; ray default: cluster CPUs / threads)",
    )
    r.add_argument(
        "--threads",
        type=int,
        help="torch threads per run (local default: cores // workers; ray default: 1)",
    )
    r.add_argument(
        "--ray-address", help="join this Ray cluster (default: $RAY_ADDRESS, else local)"
    )
    r.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    r.add_argument(
        "--max-runs",
        type=int,
        default=MAX_RUNS,
        metavar="N",
        help=f"refuse an experiment of more than N distinct runs (default {MAX_RUNS})",
    )
    _add_run_options(r)
    r.set_defaults(func=cmd_run)

    rep = sub.add_parser(
        "report",
        help="write report.html and report.md of an experiment output directory",
        description="Assemble OUT/report.html and OUT/report.md from saved results (never trains).",
    )
    _common(rep)
    rep.add_argument("out", type=Path, help="output directory of `convscope run`")
    rep.add_argument(
        "--trust-model-code",
        action="store_true",
        help="import the experiment's claim_rules plugin even when it changed since the run or "
        "lies inside OUT (only for an OUT you trust)",
    )
    rep.set_defaults(func=cmd_report)


# --- run options: config keys set for every run of the experiment ------------------------------
# device is not part of a run's identity (RunConfig.identity_dict): it changes where a run is
# computed, never which run it is. precision is, when it resolves to bf16 (docs/precision.md):
# a bf16 run is another run, and finished fp32 runs stay as they are.
RUN_OPTIONS: tuple[str, ...] = ("device", "precision")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """``--device``, ``--precision`` (the keys of :data:`RUN_OPTIONS`), as ``convscope train`` has them."""
    import dataclasses
    import typing

    from convscope.cli_help import FIELD_HELP
    from convscope.config import FLAT_KEYS, SECTIONS

    for key in RUN_OPTIONS:
        section = SECTIONS[FLAT_KEYS[key]]
        hint = typing.get_type_hints(section)[key]
        choices = typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else None
        metavar, text = FIELD_HELP.get(key, (key.upper(), f"config key '{key}'"))
        default = next(f.default for f in dataclasses.fields(section) if f.name == key)
        text += f" (applies to every run; default: the experiment file's value, else {default})"
        p.add_argument(
            "--" + key.replace("_", "-"),
            dest=f"run_{key}",
            choices=choices,
            metavar=metavar if choices is None else None,
            help=text,
        )


def run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The :data:`RUN_OPTIONS` given on the command line (for ``load_experiment(overrides=)``)."""
    values = {k: getattr(args, f"run_{k}", None) for k in RUN_OPTIONS}
    return {k: v for k, v in values.items() if v is not None}


def default_out(exp: Any) -> Path:
    """``out/<name>-<profile>-digits`` when every run uses the built-in digits, else
    ``out/<name>-<profile>-realdata``: an offline run never overwrites a real-data one."""
    used = {r.config.data.data for g in exp.groups for r in g.runs}
    data = "digits" if used <= {"digits"} else "realdata"
    return Path("out") / f"{exp.name}-{exp.profile or 'default'}-{data}"


# --- display ---------------------------------------------------------------------------------
def _counts(s: SweepStatus) -> str:
    return (
        f"runs {s.done}/{s.total} done, {s.running} running, {s.left} left"
        + (f", {s.failed} failed" if s.failed else "")
        + (f", {s.analyses_left} analysis task(s)" if s.analyses_left else "")
    )


def _eta(s: SweepStatus) -> str:
    """``ETA 3m10s``; ``nothing left to do`` when all is done (no ``ETA ?`` on a no-op rerun)."""
    if s.left == 0 and s.running == 0 and not s.analyses_left:
        return "nothing left to do"
    return f"ETA {format_seconds(s.eta_s)}"


class LineSweep:
    """Plain progress lines (logs, pipes): on every event and at most every ``interval`` s."""

    def __init__(self, stream: TextIO | None = None, interval: float = 15.0) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self._last = -1e9

    def _line(self, s: SweepStatus) -> None:
        print(
            f"[{100 * s.fraction:3.0f}%] {_counts(s)}; elapsed {format_seconds(s.elapsed_s)}, "
            f"{_eta(s)}",
            file=self.stream,
            flush=True,
        )
        self._last = s.elapsed_s

    def start(self, status: SweepStatus) -> None:
        self._line(status)

    def update(self, status: SweepStatus) -> None:
        if status.elapsed_s - self._last >= self.interval:
            self._line(status)

    def event(self, message: str) -> None:
        print(message, file=self.stream, flush=True)
        self._last = -1e9  # follow an event with a status line

    def close(self) -> None:
        pass


class TqdmSweep:
    """One tqdm bar over the estimated work of the whole experiment, for a terminal."""

    SCALE = 1000

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._bar: Any = None

    def start(self, status: SweepStatus) -> None:
        import shutil

        from tqdm import tqdm

        cols = shutil.get_terminal_size((100, 20)).columns
        self._bar = tqdm(
            total=self.SCALE,
            file=self.stream,
            desc="experiment",
            ncols=cols if cols > 20 else 100,  # a pty without a size reports 0
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
        )
        self.update(status)

    def update(self, status: SweepStatus) -> None:
        if self._bar is None:
            return
        n = int(round(self.SCALE * min(1.0, status.fraction)))
        if n > self._bar.n:
            self._bar.update(n - self._bar.n)
        self._bar.set_postfix_str(
            f"{_counts(status)} | {format_seconds(status.elapsed_s)} elapsed, {_eta(status)}",
            refresh=True,
        )

    def event(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class QuietSweep(LineSweep):
    def _line(self, s: SweepStatus) -> None:
        pass

    def event(self, message: str) -> None:
        pass


def cmd_run(args: argparse.Namespace) -> int:
    from convscope.experiments.executors import make_executor
    from convscope.experiments.run import run_experiment, write_report_if_available
    from convscope.experiments.spec import load_experiment

    exp = load_experiment(args.experiment, args.profile, args.data_root, run_overrides(args))
    n_runs = len(exp.unique_runs())
    if n_runs > args.max_runs:
        raise ConfigError(
            f"{exp.file}: {n_runs:,} distinct runs, more than --max-runs {args.max_runs:,}; "
            f"pass --max-runs {n_runs} to train them all"
        )
    out = args.out or default_out(exp)
    print(f"experiment: {exp.file} (profile {exp.profile or '-'}) -> {out}", file=sys.stderr)
    monitor: Any
    if args.quiet:
        monitor = QuietSweep()
    elif sys.stderr.isatty():
        monitor = TqdmSweep()
    else:
        monitor = LineSweep()
    executor = make_executor(args.executor, args.workers, args.threads, args.ray_address)

    def report(result: Any) -> Any:  # while OUT is locked: `convscope report` waits for it
        if result.interrupted or args.no_report:
            return None
        return write_report_if_available(result.out)

    # SIGTERM stops it like Ctrl-C: convscope.cli.main wraps every command in that handler
    result = run_experiment(
        exp,
        out,
        executor,
        monitor=monitor,
        experiment_text=Path(args.experiment).read_text(),
        then=report,
    )
    counts = ", ".join(f"{n} {k}" for k, n in sorted(result.counts().items()))
    print(f"runs: {counts} in {format_seconds(result.wall_time_s)}")
    print(f"results: {result.out / 'experiment.json'}")
    print(f"tensorboard --logdir {result.out}")
    if result.interrupted:
        print("convscope: interrupted; run the same command again to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.then is not None:
        print(f"report: {_report_paths(result.then, result.out)}")
    print(f"data: {exp.data_note}")
    if result.failed:
        names = ", ".join(f"{r.name} ({r.rel}/summary.json)" for r in result.failed)
        print(f"convscope: {len(result.failed)} run(s) failed: {names}", file=sys.stderr)
        return result.failure_exit_code
    return EXIT_OK


def _report_paths(report: Any, out: Path) -> str:
    """``report: OUT/report.html, OUT/report.md (19 figures)`` from what write_report returned."""
    if isinstance(report, dict):
        paths = [Path(v) for v in report.values()]
    elif isinstance(report, list | tuple):
        paths = [Path(v) for v in report]
    else:
        paths = [out / "report.html"]
    text = ", ".join(map(str, paths))
    html_path = next((p for p in paths if p.suffix == ".html"), None)
    if html_path is not None and html_path.is_file():
        from convscope.report import figure_count

        n = figure_count(html_path)
        text += f" ({n} figure{'s' if n != 1 else ''})"
    return text


def cmd_report(args: argparse.Namespace) -> int:
    from convscope.errors import ConvscopeError
    from convscope.experiments.out_dir import owns_out

    if not (args.out / "experiment.json").is_file():
        raise ConvscopeError(f"{args.out}: no experiment.json; is this a `convscope run` --out?")
    if not owns_out(args.out):
        raise ConvscopeError(
            f"{args.out}: not written by `convscope run` (no .convscope-out marker, and its "
            "experiment.json is not one convscope wrote); the report is written only there"
        )
    from convscope import io
    from convscope.report import write_report

    with io.dir_lock(args.out, what="output directory"):  # exit 4 while `convscope run` writes
        paths = write_report(args.out)
    print(f"report: {_report_paths(paths, args.out)}")
    return EXIT_OK
