"""The Ray executor against a real local Ray: a head on 127.0.0.1 and one worker, started here.

One run kills its own Ray worker process part-way (``expmodels:killer``); Ray retries the task,
which resumes from the run's last checkpoint and ends exactly like an uninterrupted run.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray")

from convscope.experiments.executors import InlineExecutor  # noqa: E402
from convscope.experiments.run import run_experiment  # noqa: E402
from convscope.experiments.spec import load_experiment  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from expmodels import MARKER_ENV  # noqa: E402
from helpers import env_with_expmodels, experiment_json, results_by_label, write_experiment  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]

BODY = """
[groups.g]
label = "lr={lr}"
[groups.g.grid]
lr = [0.01, 0.03]

[groups.k]
[[groups.k.runs]]
label = "killed-once"
model = "expmodels:killer"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_bin() -> str:
    exe = Path(sys.executable).parent / "ray"
    return str(exe) if exe.exists() else (shutil.which("ray") or "ray")


@pytest.fixture()
def ray_cluster(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """``ray start --head`` (1 CPU) + one worker node (1 CPU) on 127.0.0.1; stopped afterwards."""
    port = _free_port()
    marker = tmp_path / "killed"
    env = {
        **env_with_expmodels(),
        MARKER_ENV: str(marker),
        "RAY_USAGE_STATS_ENABLED": "0",
        # the nodes and the driver share one token (and no ~/.ray/auth_token decides for them)
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    ray = _ray_bin()
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus=1", "--disable-usage-stats"]

    def start(*args: str) -> None:
        p = subprocess.run(
            [ray, "start", *args, *common], env=env, capture_output=True, text=True, timeout=120
        )
        if p.returncode != 0:
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{p.stderr[-3000:]}")

    try:
        start(
            "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--include-dashboard=false"
        )
        start(f"--address={address}")
        yield address, env, marker
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_ray_head_and_worker_run_the_experiment(
    ray_cluster: tuple[str, dict[str, str], Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    address, env, marker = ray_cluster
    f = write_experiment(tmp_path / "e.toml", BODY, iterations=30)
    # the uninterrupted reference, in this process (its killer never kills)
    never = tmp_path / "never"
    never.write_text("reference\n")
    monkeypatch.setenv(MARKER_ENV, str(never))
    import torch

    n = torch.get_num_threads()
    try:
        run_experiment(load_experiment(f, None, None), tmp_path / "ref", InlineExecutor(threads=1))
    finally:
        torch.set_num_threads(n)

    out = tmp_path / "out"
    p = subprocess.run(
        [sys.executable, "-m", "convscope.cli", "run", str(f), "--out", str(out),
         "--executor", "ray", "--ray-address", address, "--no-report"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    assert "2 node(s), 2 CPU(s)" in p.stderr  # joined the cluster, did not start its own
    assert marker.exists(), "the killer run should have killed its Ray worker once"
    doc = experiment_json(out)
    assert {s["status"] for s in doc["status"]["runs"].values()} == {"completed"}
    # the retried run resumed from its checkpoint to exactly the uninterrupted result
    assert results_by_label(out) == results_by_label(tmp_path / "ref")
