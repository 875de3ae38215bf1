"""Keep glibc's malloc from returning and re-faulting the memory of every training step.

PyTorch on CPU allocates a step's activations, gradients and optimizer temporaries with
``malloc`` and frees them at the end of the step. glibc's defaults hand blocks of a few MB
back to the kernel (``mmap`` above a moving threshold, heap trimming above 128 kB free at the
top), so the next step page-faults the same memory in again: 3.1 million minor faults and
5.5 s of system time in 400 LeNet5 steps at batch 50, which then ran at 1,486 img/s. With a
fixed 32 MB ``mmap`` threshold and a 128 MB trim threshold the same run faulted 156,000 times
and ran at 2,664 img/s, at the same peak memory (``docs/precision.md``, "Allocator").

:func:`tune` sets both with ``mallopt`` where the C library is glibc, and does nothing
elsewhere (musl, macOS, Windows) or when ``CONVSCOPE_MALLOC_TUNE=0``. It changes how memory is
recycled, never what is computed. ``convscope`` calls it in every command and pool worker, and
:func:`convscope.train.loop.train` calls it for library users.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

log = logging.getLogger(__name__)

OFF_ENV = "CONVSCOPE_MALLOC_TUNE"
M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit hosts
TRIM_THRESHOLD = 128 * 1024 * 1024

_done: bool | None = None


def tune() -> bool:
    """Set glibc's ``mmap`` and trim thresholds once per process; True when they are set."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get(OFF_ENV, "1") == "0" or platform.system() != "Linux":
        return False
    libc_name, _ = platform.libc_ver()
    if libc_name != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        ok = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    except (OSError, AttributeError):
        return False
    log.debug(
        "glibc malloc: mmap threshold %d, trim threshold %d: %s",
        MMAP_THRESHOLD,
        TRIM_THRESHOLD,
        "set" if ok else "refused",
    )
    _done = ok
    return ok
