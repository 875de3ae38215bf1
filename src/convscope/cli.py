"""The ``convscope`` command: parse, call the library, map errors to exit codes.

Exit codes: the one table is :data:`convscope.errors.EXIT_CODES` (docs/errors.md; every
``--help`` prints it).

The commands live beside it: ``train`` and ``data`` in :mod:`convscope.cli_train` (their
config-key options in :mod:`convscope.cli_options`), ``analyze`` in :mod:`convscope.cli_analyze`,
the others in their packages' ``cli`` modules.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from convscope import __version__
from convscope.cli_analyze import add_analyze_parser, cmd_analyze, outcome_table
from convscope.cli_analyze import analysis_line as _analysis_line
from convscope.cli_train import (
    DRY_RUN_STEPS,
    TRAIN_EXAMPLES,
    add_data_parser,
    add_train_parser,
    cmd_data,
    cmd_train,
)
from convscope.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ConvscopeError,
    environment_error,
    exit_codes_help,
    is_environment_error,
    note_signal,
    was_signalled,
)
from convscope.explore.cli import add_parser as add_explore_parser
from convscope.import_cli import add_parser as add_import_parser

__all__ = [  # re-exported: the commands moved beside this module
    "DRY_RUN_STEPS",
    "TRAIN_EXAMPLES",
    "_analysis_line",
    "build_parser",
    "cmd_analyze",
    "cmd_data",
    "cmd_train",
    "main",
    "outcome_table",
]

log = logging.getLogger("convscope")


def _common(sp: argparse.ArgumentParser) -> None:
    """The options every command takes."""
    sp.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    sp.add_argument(
        "--trust-model-code",
        action="store_true",
        help="import the model code a run folder names even when the folder does not prove "
        "it is the code the run was trained with (only for folders you trust)",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="convscope",
        description="Train small vision and sequence networks and see what they learned.",
        epilog=exit_codes_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"convscope {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_train_parser(sub, _common)
    add_data_parser(sub, _common)
    add_analyze_parser(sub, _common)
    add_explore_parser(sub, _common)
    add_import_parser(sub, _common)

    from convscope.experiments.cli import add_commands

    add_commands(sub)
    return p


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
