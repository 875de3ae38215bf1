"""A stop signal is honoured within seconds even when one step never returns to Python (issue
22, "also seen": a GRU with 30,000 units ignored SIGINT and SIGTERM for more than 25 s).

The model's forward blocks in a system call that is retried after the signal handler runs (as a
long C++ operator keeps the main thread from ever reaching the end of the step); the process
must still exit 130 within a few seconds, keep its last checkpoint, and say how to resume.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convscope.train.interrupt import GRACE_S

pytestmark = pytest.mark.slow  # two subprocess trainings of a few seconds each

BLOCKING = """
import os
from pathlib import Path
from torch import nn

class Stuck(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(28 * 28, n)
        self.calls = 0
    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == 3:  # a step that never ends: read a pipe nobody writes
                r, w = os.pipe()
                Path(os.environ["STUCK_MARKER"]).write_text("stuck")
                os.read(r, 1)
        return self.fc(x.flatten(1))

def make(in_channels, image_size, num_classes):
    return Stuck(num_classes)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_step_that_never_ends_still_stops_within_seconds(tmp_path: Path, sig: int) -> None:
    (tmp_path / "stuck.py").write_text(BLOCKING)
    marker, out = tmp_path / "stuck.txt", tmp_path / "run"
    cmd = [sys.executable, "-m", "convscope", "train", "--data", "digits", "--model",
           f"{tmp_path / 'stuck.py'}:make", "--iterations", "100", "--batch-size", "10",
           "--checkpoint-every", "1", "--threads", "1", "-q", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "STUCK_MARKER": str(marker)}
    p = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        t_end = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < t_end and p.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), p.stderr.read() if p.poll() is not None else "never got stuck"
        t0 = time.monotonic()
        p.send_signal(sig)
        rc = p.wait(timeout=GRACE_S + 20)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    err = p.stderr.read()
    assert rc == 130, err
    assert took < GRACE_S + 10, took
    assert "did not end within" in err and "--resume" in err
    assert json.loads((out / "summary.json").read_text())["status"] == "interrupted"
    assert (out / "checkpoints" / "last.pt").is_file()
