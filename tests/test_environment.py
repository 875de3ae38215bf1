"""Environment errors (disk full, read-only, permission denied, missing parent): exit 5, one line.

Issue 10, bug 3. The disk-full case uses a small tmpfs (CI runs as root); it is skipped, saying
why, where mounting is not permitted.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from convscope.cli import main
from convscope.errors import EXIT_ENVIRONMENT
from convscope.runs import RunDir

TINY = [
    "--train-per-class", "5", "--test-per-class", "2", "--batch-size", "10",
    "--eval-every", "2", "--train-eval-size", "20", "--activation-stats-every", "0",
    "--threads", "1", "-q", "--iterations", "8", "--checkpoint-every", "2",
]  # fmt: skip
PAGE = 4096


def err_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0] and "internal error" not in lines[0]
    return lines[0]


@contextlib.contextmanager
def tmpfs(path: Path, size: int) -> Iterator[Path]:
    path.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or 'mount failed'})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, opts: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{opts}", str(path)], check=True)


def used_bytes(d: Path) -> int:
    return sum(-(-p.stat().st_size // PAGE) * PAGE for p in d.rglob("*") if p.is_file())


def test_disk_full_fails_cleanly_keeps_checkpoint_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = tmp_path / "ref"
    assert main(["train", *TINY, "--out", str(ref)]) == 0
    # how much a run holds right after its first full checkpoint (step 2)
    probe = tmp_path / "probe"
    from convscope.config import from_flat
    from convscope.train.loop import train

    flat = {
        "train_per_class": 5, "test_per_class": 2, "batch_size": 10, "eval_every": 2,
        "train_eval_size": 20, "activation_stats_every": 0, "iterations": 8,
        "checkpoint_every": 2, "threads": 1,
    }  # fmt: skip
    train(from_flat(flat), probe, stop_after=2)
    last = (probe / "checkpoints" / "last.pt").stat().st_size
    # room for everything at step 2, plus half a checkpoint: the step-4 checkpoint cannot fit
    size = used_bytes(probe) + last // 2 + 4 * PAGE
    with tmpfs(tmp_path / "mnt", size) as mnt:
        out = mnt / "run"
        capsys.readouterr()
        rc = main(["train", *TINY, "--out", str(out)])
        line = err_line(capsys)
        assert rc == EXIT_ENVIRONMENT, line
        assert "no space left on device" in line and str(out) in line
        s = RunDir(out).summary()
        assert s is not None and s["status"] == "failed", s
        assert "no space left" in s["reason"]
        ckpt = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
        assert ckpt["step"] >= 2  # the last good checkpoint is intact
        assert not list((out / "checkpoints").glob(".*.tmp"))
        remount(mnt, f"size={size * 4}")  # space freed
        assert main(["train", *TINY, "--out", str(out), "--resume"]) == 0
        assert RunDir(out).metrics() == RunDir(ref).metrics()
        assert RunDir(out).status() == "completed"


def test_read_only_out_is_exit_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with tmpfs(tmp_path / "mnt", 1 << 20) as mnt:
        remount(mnt, "ro")
        out = mnt / "run"
        assert main(["train", *TINY, "--out", str(out)]) == EXIT_ENVIRONMENT
        line = err_line(capsys)
        assert str(out) in line and "read-only" in line


def test_missing_parent_is_exit_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("not a folder\n")
    out = tmp_path / "file" / "run"
    assert main(["train", *TINY, "--out", str(out)]) == EXIT_ENVIRONMENT
    line = err_line(capsys)
    assert str(tmp_path / "file") in line and "not a folder" in line


def test_permission_denied_is_exit_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder we may not write (root ignores modes, so there: the immutable attribute)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    out = locked / "run"
    if os.geteuid() == 0:
        r = subprocess.run(["chattr", "+i", str(locked)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot make a folder immutable here ({r.stderr.strip()})")
        undo = ["chattr", "-i", str(locked)]
    else:
        os.chmod(locked, 0o500)
        undo = ["chmod", "700", str(locked)]
    try:
        rc = main(["train", *TINY, "--out", str(out)])
    finally:
        subprocess.run(undo, check=True)
    line = err_line(capsys)
    assert rc == EXIT_ENVIRONMENT, line
    assert str(out) in line and "permission denied" in line
