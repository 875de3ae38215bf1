"""Where a running experiment stands (:class:`SweepStatus`) and the display that shows it
(:class:`SweepMonitor`, the CLI's progress display)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from convscope.experiments.plan import PlannedRun


@dataclass
class SweepStatus:
    """Where the whole experiment stands (for the progress display)."""

    total: int
    done: int
    running: int
    left: int
    failed: int
    fraction: float  # of the estimated work
    elapsed_s: float
    eta_s: float | None
    running_names: list[str]
    analyses_left: int = 0


class SweepMonitor(Protocol):
    def start(self, status: SweepStatus) -> None: ...

    def update(self, status: SweepStatus) -> None: ...

    def event(self, message: str) -> None: ...

    def close(self) -> None: ...


def last_step(run: PlannedRun) -> int:
    """The run's last recorded step (from its metrics.jsonl tail)."""
    p = run.dir / "metrics.jsonl"
    try:
        with open(p, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 4096))
            tail = f.read().decode(errors="replace").splitlines()
    except OSError:
        return 0
    for line in reversed(tail):
        m = re.search(r'"step":\s*(\d+)', line)
        if m:
            return int(m.group(1))
    return 0
