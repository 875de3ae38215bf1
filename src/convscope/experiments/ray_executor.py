"""Ray executor (``pip install convscope[ray]``): each task a Ray task, ``num_cpus`` = its threads.

* ``address`` (``--ray-address``) or ``RAY_ADDRESS`` joins an existing cluster (``ray start
  --head`` on one machine, ``ray start --address=HEAD:PORT`` on the others); otherwise a local
  instance is started with this machine's cores.
* Tasks write straight into the output directory, so every node must see it at the same path
  (a shared file system such as NFS), and the data root too. Every node needs convscope
  installed (the same version) in the Python that runs ``ray start``.
* A task whose worker process dies part-way (killed, node lost) is retried by Ray
  (``max_retries``); the retry calls ``train(resume=True)`` and continues from the run's last
  checkpoint, to the same result as an uninterrupted run. Errors raised by the run itself are not
  retried: they are recorded as a failed run.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import sys
from typing import Any

from convscope.errors import ConfigError, ConvscopeError
from convscope.experiments.cores import available_cores
from convscope.experiments.worker import execute

log = logging.getLogger(__name__)

MAX_RETRIES = 3  # re-runs of a task whose worker died (each resumes from the last checkpoint)


def _execute_in_ray(task: dict[str, Any]) -> dict[str, Any]:
    import ray
    import torch

    torch.set_num_threads(int(task.get("threads") or 1))
    result = execute(task)
    result["node"] = ray.get_runtime_context().get_node_id()
    return result


def _private_token_for_local_instance() -> None:
    """Token authentication for a local instance without writing ``~/.ray/auth_token``.

    Recent Ray enables token auth for a new local ``ray.init()`` and saves a token in the home
    directory; a token file there then switches later ``ray start --head`` clusters to token
    auth too (and ``ray start --address`` joins fail without it). Unless the user configured
    authentication, give this instance a random token held in the environment of this process
    (inherited by the workers it starts) instead.
    """
    import secrets
    from pathlib import Path

    configured = (
        os.environ.get("RAY_AUTH_MODE")
        or os.environ.get("RAY_AUTH_TOKEN")
        or os.environ.get("RAY_AUTH_TOKEN_PATH")
        or (Path.home() / ".ray" / "auth_token").exists()
    )
    if not configured:
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
        if "ray" in sys.modules:  # imported already: refresh its cached config (best effort)
            try:
                from ray._raylet import Config

                Config.initialize("")
            except Exception as e:
                log.debug("could not refresh Ray's config: %s", e)


class RayExecutor:
    """Runs tasks as Ray tasks.

    Args:
        address: a cluster to join (``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``); None:
            ``$RAY_ADDRESS``, else a new local instance.
        workers: most tasks in flight (default: the cluster's CPUs // threads).
        threads: torch threads (= Ray CPUs) per task (default 1).
    """

    name = "ray"

    def __init__(
        self, address: str | None = None, workers: int | None = None, threads: int | None = None
    ) -> None:
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        if not self.address:
            _private_token_for_local_instance()  # before Ray reads its config at import
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "--executor ray: Ray is not installed; pip install 'convscope[ray]'"
            ) from None
        if workers is not None and workers <= 0:
            raise ConfigError(f"--workers: expected a positive integer, got {workers}")
        if threads is not None and threads <= 0:
            raise ConfigError(f"--threads: expected a positive integer, got {threads}")
        self._ray = ray
        self.threads = threads or 1
        kwargs: dict[str, Any] = {
            "logging_level": logging.WARNING,
            "log_to_driver": False,
            "ignore_reinit_error": True,
        }
        try:
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:
                ray.init(
                    address="local",
                    num_cpus=available_cores(),
                    include_dashboard=False,
                    **kwargs,
                )
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = self.address or "a local instance"
            raise ConvscopeError(
                f"--ray-address: cannot start or join Ray at {where}: {type(e).__name__}: {e}"
            ) from None
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < self.threads:
            ray.shutdown()
            raise ConfigError(f"--threads {self.threads}: the Ray cluster has only {cpus} CPU(s)")
        self.cluster_cpus = cpus
        self.slots = workers or max(1, cpus // self.threads)
        self._remote = ray.remote(_execute_in_ray).options(
            num_cpus=self.threads, max_retries=MAX_RETRIES, retry_exceptions=False
        )
        self._refs: list[Any] = []

    def submit(self, task: dict[str, Any]) -> cf.Future:
        ref = self._remote.remote({**task, "threads": self.threads})
        self._refs.append(ref)
        return ref.future()

    def describe(self) -> str:
        where = f"cluster at {self.address}" if self.address else "local instance"
        nodes = len([n for n in self._ray.nodes() if n.get("Alive")])
        return (
            f"ray {where}: {nodes} node(s), {self.cluster_cpus} CPU(s); "
            f"{self.slots} task(s) at once x {self.threads} thread(s)"
        )

    def reset(self) -> None:
        """Ray replaces dead workers itself."""

    def interrupt(self) -> None:
        """Cancel the tasks in flight (a KeyboardInterrupt in each: the loop checkpoints)."""
        for ref in self._refs:
            try:
                self._ray.cancel(ref)
            except Exception as e:  # already finished, or gone with its node
                log.debug("cancel %s: %s", ref, e)

    def shutdown(self, cancel: bool = False) -> None:
        if cancel:
            self.interrupt()
        self._refs = []
        self._ray.shutdown()
