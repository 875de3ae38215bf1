"""Executors: where tasks (:mod:`convscope.experiments.worker`) run.

An executor turns a task dict into a :class:`concurrent.futures.Future` of its result dict and
says how many tasks it runs at once (``slots``). The scheduler in
:mod:`convscope.experiments.run` keeps at most ``slots`` tasks in flight, so every task in flight
is running (which is what the progress line reports).

* :class:`InlineExecutor`: in this process, one task at a time (tests, debugging).
* :class:`LocalExecutor`: a process pool (spawn context) of ``workers`` processes, each with
  ``threads`` torch threads, ``workers * threads <= cores``.
* :class:`~convscope.experiments.ray_executor.RayExecutor`: Ray tasks on a local instance or a
  cluster.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import os
from typing import Any, Protocol

from convscope.errors import ConfigError
from convscope.experiments.cores import available_cores, threads_per_worker
from convscope.experiments.worker import execute, init_pool_worker

log = logging.getLogger(__name__)


class Executor(Protocol):
    """Runs task dicts; ``slots`` of them at once."""

    name: str
    slots: int
    threads: int

    def submit(self, task: dict[str, Any]) -> cf.Future: ...

    def describe(self) -> str: ...

    def reset(self) -> None:
        """Replace workers that died (a broken pool); a no-op where workers cannot break."""

    def interrupt(self) -> None:
        """Pass Ctrl-C on to running tasks (they checkpoint and stop); no-op in-process."""

    def shutdown(self, cancel: bool = False) -> None: ...


class InlineExecutor:
    """Runs each task in this process when submitted (one slot)."""

    name = "inline"
    slots = 1

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or available_cores()

    def submit(self, task: dict[str, Any]) -> cf.Future:
        f: cf.Future = cf.Future()
        f.set_result(execute({**task, "threads": self.threads}))
        return f

    def describe(self) -> str:
        return f"inline, {self.threads} thread(s)"

    def reset(self) -> None:
        pass

    def interrupt(self) -> None:
        pass  # the task runs in this process: it got the KeyboardInterrupt itself

    def shutdown(self, cancel: bool = False) -> None:
        pass


class LocalExecutor:
    """A process pool on this machine.

    Args:
        workers: processes (default: one per core).
        threads: torch threads per process (default: ``cores // workers``). ``workers * threads``
            may not exceed the cores: oversubscribed workers measured a third of the throughput.
        start_method: ``spawn`` (default) or ``forkserver``; never ``fork`` (torch threads).
    """

    name = "local"

    def __init__(
        self,
        workers: int | None = None,
        threads: int | None = None,
        start_method: str = "spawn",
    ) -> None:
        cores = available_cores()
        if workers is not None and workers <= 0:
            raise ConfigError(f"--workers: expected a positive integer, got {workers}")
        if threads is not None and threads <= 0:
            raise ConfigError(f"--threads: expected a positive integer, got {threads}")
        if start_method not in ("spawn", "forkserver"):
            raise ConfigError(f"start method: expected spawn or forkserver, got {start_method!r}")
        self.workers = workers or (max(1, cores // threads) if threads else cores)
        self.threads = threads or threads_per_worker(self.workers, cores)
        if self.workers * self.threads > cores:
            raise ConfigError(
                f"--workers {self.workers} x --threads {self.threads} = "
                f"{self.workers * self.threads} threads is more than the {cores} cores here"
            )
        self.slots = self.workers
        self.cores = cores
        self._ctx = multiprocessing.get_context(start_method)
        self._pool: cf.ProcessPoolExecutor | None = None

    def _get_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=self._ctx,
                initializer=init_pool_worker,
                initargs=(self.threads,),
            )
        return self._pool

    def submit(self, task: dict[str, Any]) -> cf.Future:
        return self._get_pool().submit(execute, {**task, "threads": self.threads})

    def reset(self) -> None:
        """Replace a broken pool (a worker process died) with a fresh one."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None

    def interrupt(self) -> None:
        """Ctrl-C the workers: a training one checkpoints and returns 'interrupted'."""
        import signal

        procs = getattr(self._pool, "_processes", None) or {}
        for pid in list(procs):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)

    def describe(self) -> str:
        return (
            f"local process pool: {self.workers} worker(s) x {self.threads} thread(s) "
            f"on {self.cores} core(s)"
        )

    def shutdown(self, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None


def make_executor(
    kind: str,
    workers: int | None = None,
    threads: int | None = None,
    ray_address: str | None = None,
) -> Executor:
    """The executor named ``kind`` (``local``, ``ray`` or ``inline``)."""
    if kind == "local":
        return LocalExecutor(workers, threads)
    if kind == "inline":
        return InlineExecutor(threads)
    if kind == "ray":
        from convscope.experiments.ray_executor import RayExecutor

        return RayExecutor(address=ray_address, workers=workers, threads=threads)
    raise ConfigError(f"--executor: expected local or ray, got {kind!r}")
