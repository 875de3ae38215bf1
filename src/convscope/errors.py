"""Error types and exit codes.

Every error a user can cause by what they give the program (a path, a file, a config key)
is a :class:`ConvscopeError`. The CLI prints its message as one line and exits with its
``exit_code``; no traceback unless ``--debug``. A problem of the machine rather than of the
input (disk full, read-only file system, permission denied, a missing parent folder) is an
:class:`EnvironmentProblem`, exit :data:`EXIT_ENVIRONMENT`; :func:`environment_error` turns an
``OSError`` into one, naming the path.
"""

from __future__ import annotations

import errno
import textwrap
from pathlib import Path

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: an exception that is not a ConvscopeError
EXIT_BAD_INPUT = 2  # bad data, bad config, bad path: one line names the file or key
EXIT_DIVERGED = 3  # a training run stopped because its loss diverged
EXIT_LOCKED = 4  # another process holds the run / output directory
EXIT_ENVIRONMENT = 5  # disk full, read-only, permission denied, missing parent: one line names it
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM; the run can be resumed with --resume

# The one table of exit codes: ``--help`` epilogs and docs/errors.md are made from it (a test
# checks that docs/errors.md's table equals this one).
EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success; `convscope run`: every run finished (a diverged run is a result)",
    EXIT_INTERNAL: "internal error, a bug (`--debug` shows the traceback); `convscope run`: "
    "runs failed with different errors, each named with its `summary.json`",
    EXIT_BAD_INPUT: "bad input: one line names the file, key or path and what was expected",
    EXIT_DIVERGED: "the run diverged (recorded in `summary.json`)",
    EXIT_LOCKED: "another process is writing the same run or output directory",
    EXIT_ENVIRONMENT: "environment error (disk full, read-only file system, permission denied, "
    "missing parent folder): one line names the path; fix it and resume",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C or SIGTERM); rerun or `--resume` to continue",
}


def exit_codes_help() -> str:
    """The exit codes as text for a ``--help`` epilog, from :data:`EXIT_CODES`."""
    lines = [
        textwrap.fill(
            text.replace("`", ""), 92, initial_indent=f"  {code:>3}  ", subsequent_indent=" " * 7
        )
        for code, text in EXIT_CODES.items()
    ]
    return "exit codes (docs/errors.md):\n" + "\n".join(lines) + "\n"


_signalled: list[int] = []  # signals that asked this process to stop (SIGTERM, via the CLI)


def note_signal(signum: int) -> None:
    """Record that a stop signal arrived (an exception it causes then counts as an interrupt)."""
    _signalled.append(signum)


def was_signalled() -> bool:
    return bool(_signalled)


class ConvscopeError(Exception):
    """A problem with the user's input. ``str(err)`` is one line naming the file or key."""

    exit_code = EXIT_BAD_INPUT


class DataError(ConvscopeError):
    """A data source is missing, malformed, or inconsistent."""


class ConfigError(ConvscopeError):
    """A config file, experiment file, or option has an unknown key or a bad value."""


class LockedError(ConvscopeError):
    """Another process is writing the same run or output directory."""

    exit_code = EXIT_LOCKED


class CorruptFileError(ConvscopeError, ValueError):
    """A file convscope reads (JSON it wrote, most often) is empty or not valid."""


class EnvironmentProblem(ConvscopeError, OSError):
    """The machine refused a write: disk full, read-only, permission, missing parent.

    Also an ``OSError``, so code that tolerates a failed write still does.
    """

    exit_code = EXIT_ENVIRONMENT


# errno -> (what happened, what to do)
_ENVIRONMENT = {
    errno.ENOSPC: ("no space left on device", "free space, then rerun (runs resume)"),
    errno.EDQUOT: ("disk quota exceeded", "free space, then rerun (runs resume)"),
    errno.EROFS: ("read-only file system", "choose a writable --out"),
    errno.EACCES: ("permission denied", "choose a folder you may write, or fix its permissions"),
    errno.EPERM: ("permission denied", "choose a folder you may write, or fix its permissions"),
    errno.ENOTDIR: ("a parent is not a folder", "choose a path whose parents are folders"),
    errno.ENOENT: ("a parent folder is missing", "create it or choose another path"),
}


def is_environment_error(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in _ENVIRONMENT


def environment_error(e: OSError, path: str | Path | None = None) -> EnvironmentProblem:
    """One line naming ``path`` (or the path the OS named) and what happened; exit 5."""
    what, todo = _ENVIRONMENT.get(e.errno or 0, (e.strerror or str(e), "check the path"))
    where = str(path) if path is not None else (e.filename or "(path not known)")
    if e.errno == errno.ENOTDIR:
        what = "a parent is not a folder"
        parent = _first_non_folder(Path(where))
        if parent is not None and str(parent) == where:
            return EnvironmentProblem(f"{where}: is a file, not a folder; {todo}")
        if parent is not None:
            where = f"{where}: {parent} is not a folder"
            return EnvironmentProblem(f"{where}; {todo}")
    extra = f" ({e.filename})" if e.filename and str(e.filename) != where else ""
    return EnvironmentProblem(f"{where}: {what}{extra}; {todo}")


def _first_non_folder(p: Path) -> Path | None:
    for parent in [*reversed(p.parents), p]:
        if parent.exists() and not parent.is_dir():
            return parent
    return None
