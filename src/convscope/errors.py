"""Error types and exit codes.

Every error a user can cause by what they give the program (a path, a file, a config key)
is a :class:`ConvscopeError`. The CLI prints its message as one line and exits with
:data:`EXIT_BAD_INPUT`; no traceback unless ``--debug``.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: an exception that is not a ConvscopeError
EXIT_BAD_INPUT = 2  # bad data, bad config, bad path: one line names the file or key
EXIT_DIVERGED = 3  # a training run stopped because its loss diverged
EXIT_LOCKED = 4  # another process holds the run / output directory
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM; the run can be resumed with --resume


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
