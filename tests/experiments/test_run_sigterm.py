"""SIGTERM stops `convscope run` like Ctrl-C: exit 130, every running run checkpointed as
interrupted (so the same command continues it)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convscope import io

sys.path.insert(0, str(Path(__file__).parent))
from helpers import env_with_expmodels, write_experiment  # noqa: E402

BODY = """
[groups.g]
label = "lr={lr}"
[groups.g.grid]
lr = [0.001, 0.002]
"""


@pytest.mark.slow
def test_sigterm_interrupts_the_sweep(tmp_path: Path) -> None:
    f = write_experiment(tmp_path / "e.toml", BODY, iterations=4000, eval_every=50)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "convscope", "run", str(f), "--out", str(out), "-q"]
    proc = subprocess.Popen(cmd, env=env_with_expmodels(), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.stat().st_size for p in out.glob("runs/*/metrics.jsonl")):
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    statuses = [io.read_json(p)["status"] for p in out.glob("runs/*/summary.json")]
    assert statuses and "running" not in statuses and "interrupted" in statuses
