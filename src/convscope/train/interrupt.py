"""Ctrl-C and SIGTERM during training: stop cleanly at the end of the step, within seconds.

The first signal sets :attr:`StopFlag.signal`; the loop sees it at the end of the step, writes a
checkpoint and stops (status ``interrupted``, exit 130, ``--resume`` continues). A step can be
one long C++ operation (a recurrent layer with 30,000 units runs for tens of seconds), during
which Python runs no signal handler. So a watchdog thread learns of the signal at once, through
:func:`signal.set_wakeup_fd` (written by the C-level handler, even while the main thread is
inside an operator), and when the loop has not reached the end of its step within
:data:`GRACE_S`, or a second signal comes, it records the run as interrupted and exits 130
itself. The last checkpoint on disk is intact (checkpoints are written to a temporary file and
moved into place), and ``--resume`` continues from it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

GRACE_S = 5.0  # seconds from a stop signal to the end of the step before the process exits
EXIT_INTERRUPTED = 130
_STOP = frozenset({int(signal.SIGINT), int(signal.SIGTERM)})


class StopFlag:
    """Set by SIGINT/SIGTERM so the loop checkpoints and stops cleanly.

    Args:
        on_timeout: called (from the watchdog thread, best effort) before the process exits
            because the step did not end in time; e.g. mark the run interrupted.
        grace_s: seconds to wait for :meth:`acknowledge`.
    """

    def __init__(self, on_timeout: Callable[[], None] | None = None, grace_s: float = GRACE_S):
        self.signal: int | None = None
        self.grace_s = grace_s
        self._on_timeout = on_timeout
        self._ack = threading.Event()

    def acknowledge(self) -> None:
        """The loop has seen the signal at the end of a step and is stopping."""
        self._ack.set()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, frame: Any) -> None:
            if self.signal is not None:  # second Ctrl-C: stop now
                signal.signal(signum, old[signum])
                raise KeyboardInterrupt
            self.signal = signum

        r, w = socket.socketpair()
        w.setblocking(False)
        for s in old:
            signal.signal(s, handler)
        old_fd = signal.set_wakeup_fd(w.fileno(), warn_on_full_buffer=False)
        watch = threading.Thread(target=self._watch, args=(r,), daemon=True, name="stop-watch")
        watch.start()
        try:
            yield
        finally:
            signal.set_wakeup_fd(old_fd)
            for s, h in old.items():
                signal.signal(s, h)
            with contextlib.suppress(OSError):
                r.shutdown(socket.SHUT_RDWR)
            w.close()
            watch.join(timeout=1.0)
            r.close()

    def _watch(self, r: socket.socket) -> None:
        seen = 0
        while True:
            try:
                data = r.recv(64)
            except OSError:
                return
            if not data:
                return
            seen += sum(1 for b in data if b in _STOP)
            if seen >= 2:
                self._exit("a second stop signal")
            if seen == 1 and not self._ack.wait(self.grace_s):
                self._exit(f"the step in progress did not end within {self.grace_s:g} s")

    def _exit(self, why: str) -> None:
        with contextlib.suppress(Exception):
            if self._on_timeout is not None:
                self._on_timeout()
        with contextlib.suppress(Exception):
            print(
                f"convscope: interrupted ({why}); the last checkpoint is kept: rerun with "
                "--resume to continue",
                file=sys.stderr,
                flush=True,
            )
        os._exit(EXIT_INTERRUPTED)
