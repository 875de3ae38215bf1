"""Scheduling a running experiment: keep the executor's slots full, collect results, retry a
run whose worker process died, stop on Ctrl-C, and say where the whole stands."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from convscope.experiments.dispatch import GroupAnalyses, dispatch_result
from convscope.experiments.monitor import SweepMonitor, SweepStatus, last_step
from convscope.experiments.plan import PlannedRun
from convscope.experiments.tasks import Task
from convscope.runs import FINISHED, STATUS_FAILED

MAX_ATTEMPTS = 3  # a run whose worker process died is retried (resuming) this many times in all
POLL_S = 1.0


class Sweep:
    """The tasks of one experiment: queued (``pending``) and in flight on ``executor``."""

    def __init__(
        self,
        runs: list[PlannedRun],
        pending: deque[Task],
        groups: GroupAnalyses,
        executor: Any,
        monitor: SweepMonitor,
        t0: float,
    ) -> None:
        self.runs = runs
        self.by_key = {r.hash: r for r in runs}
        self.pending = pending
        self.groups = groups
        self.executor = executor
        self.monitor = monitor
        self.t0 = t0  # time.monotonic() when the experiment started
        self.total_cost = sum(r.cost for r in runs) or 1.0
        self.base_done = sum(r.cost for r in runs if r.status in FINISHED)
        self.inflight: dict[cf.Future, Task] = {}

    def status(self) -> SweepStatus:
        """Where the whole experiment stands now (counts, fraction of the work, ETA)."""
        runs = self.runs
        running = [self.by_key[t.key] for t in self.inflight.values() if t.kind == "train"]
        done_cost = sum(r.cost for r in runs if r.status in FINISHED or r.status == STATUS_FAILED)
        for r in running:
            if r.steps:
                done_cost += r.cost * min(1.0, last_step(r) / r.steps)
        elapsed = time.monotonic() - self.t0
        progressed = done_cost - self.base_done
        rate = progressed / elapsed if elapsed > 0 else 0.0
        eta = (self.total_cost - done_cost) / rate if rate > 0 else None
        n_done = sum(1 for r in runs if r.status in FINISHED or r.status == STATUS_FAILED)
        return SweepStatus(
            total=len(runs),
            done=n_done,
            running=len(running),
            left=len(runs) - n_done - len(running),
            failed=sum(1 for r in runs if r.status == STATUS_FAILED),
            fraction=done_cost / self.total_cost,
            elapsed_s=elapsed,
            eta_s=eta,
            running_names=[r.name for r in running],
            analyses_left=sum(
                1 for t in [*self.pending, *self.inflight.values()] if t.kind != "train"
            ),
        )

    def run(self) -> None:
        """Run every task (and those their results queue) to the end."""
        self.groups.submit_ready(self.pending)
        while self.pending or self.inflight:
            self._submit()
            self.monitor.update(self.status())  # after submitting: counts include what started
            done, _ = cf.wait(list(self.inflight), timeout=POLL_S, return_when=cf.FIRST_COMPLETED)
            if self._collect(done):
                self._requeue_inflight()
            self.groups.submit_ready(self.pending)  # before the loop tests for work left
        self.monitor.update(self.status())

    def _submit(self) -> None:
        while self.pending and len(self.inflight) < self.executor.slots:
            task = self.pending.popleft()
            if task.kind == "train":
                r = self.by_key[task.key]
                r.status = "running"
                r.attempts += 1
            self.inflight[self.executor.submit(task)] = task

    def _collect(self, done: Iterable[cf.Future]) -> bool:
        """Handle the finished futures; True when the worker pool broke."""
        broken = False
        for f in done:
            task = self.inflight.pop(f)
            try:
                result = f.result()
            except Exception as e:  # the worker process died (or Ray gave up on it)
                broken = broken or type(e).__name__ == "BrokenProcessPool"
                result = {"status": STATUS_FAILED, "error": f"{type(e).__name__}: {e}"}
                r = self.by_key.get(task.key)
                if broken and r and task.kind == "train" and r.attempts < MAX_ATTEMPTS:
                    r.status = "pending"
                    self.pending.appendleft(task)
                    self.monitor.event(f"{r.name}: worker process died; retrying (resumes)")
                    continue
            dispatch_result(self.by_key, self.groups, task, result, self.pending, self.monitor)
        return broken

    def _requeue_inflight(self) -> None:
        for f, task in list(self.inflight.items()):  # every in-flight task failed with it
            self.inflight.pop(f)
            if task.kind == "train":
                self.by_key[task.key].status = "pending"
            self.pending.appendleft(task)
        self.executor.reset()

    def stop(self) -> None:
        """On Ctrl-C: stop the runs at their next step and record what they return."""
        self.monitor.event("interrupted: stopping runs at their next step (they checkpoint)")
        self.executor.interrupt()
        for f, task in self.inflight.items():
            with contextlib.suppress(Exception):
                result = f.result(timeout=120)
                dispatch_result(self.by_key, self.groups, task, result, deque(), self.monitor)
