"""Core counting shared by every executor (a leaf module: imports nothing of convscope)."""

from __future__ import annotations

import os


def available_cores() -> int:
    """CPU cores this process may use (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """``max(1, cores // workers)``: never more torch threads than cores in total."""
    cores = cores or available_cores()
    return max(1, cores // max(1, workers))
