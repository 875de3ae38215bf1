"""`convscope train` never deletes what it did not write, and refuses bad runs in one line.

Issue 10: bugs 1 (user files deleted), 2 (resume on changed data), 4 (errors in the user's
model), 5 (throughput with a batch larger than the data), 10 (SIGTERM during start-up), and the
weak spots "bad values accepted as runs" and "the resume message misleads".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from convscope.cli import main
from convscope.runs import RunDir

HERE = Path(__file__).resolve().parent
TINY = [
    "--train-per-class", "5", "--test-per-class", "2", "--batch-size", "10",
    "--eval-every", "5", "--train-eval-size", "20", "--activation-stats-every", "0",
    "--threads", "1", "-q",
]  # fmt: skip


def train(*args: str) -> int:
    return main(["train", *TINY, *args])


def err_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]


# --- bug 1: only what convscope wrote is ever deleted -----------------------------------------
def test_folder_that_is_not_a_run_is_refused_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "d"
    (d / "checkpoints").mkdir(parents=True)
    (d / "tb").mkdir()
    (d / "notes.jsonl").write_text("x\n")
    (d / "checkpoints" / "a.bin").write_text("y\n")
    (d / "tb" / "log").write_text("z\n")
    assert train("--iterations", "5", "--out", str(d)) == 2
    line = err_line(capsys)
    assert str(d) in line and "not a convscope run" in line
    assert (d / "notes.jsonl").read_text() == "x\n"
    assert (d / "checkpoints" / "a.bin").read_text() == "y\n"
    assert (d / "tb" / "log").read_text() == "z\n"


def test_fresh_start_in_a_run_keeps_foreign_files(tmp_path: Path) -> None:
    """A run killed before its first checkpoint starts over, removing only its own files."""
    d = tmp_path / "run"
    assert train("--iterations", "5", "--out", str(d), "--checkpoint-every", "100") == 0
    (d / "checkpoints" / "last.pt").unlink(missing_ok=True)
    s = RunDir(d).summary()
    assert s is not None
    RunDir(d).write_json("summary.json", {**s, "status": "running"})  # as if killed
    (d / "notes.jsonl").write_text("mine\n")
    (d / "checkpoints" / "a.bin").write_text("mine\n")
    (d / "tb" / "log").write_text("mine\n")
    assert train("--iterations", "5", "--out", str(d), "--checkpoint-every", "100") == 0
    assert RunDir(d).status() == "completed"
    for p in ("notes.jsonl", "checkpoints/a.bin", "tb/log"):
        assert (d / p).read_text() == "mine\n", p
    assert [r["step"] for r in RunDir(d).metrics()] == [5]


# --- bug 2: the data set is part of what a run is ---------------------------------------------
def test_resume_on_changed_data_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], image_folders: Any
) -> None:
    data, out = tmp_path / "data", tmp_path / "run"
    image_folders("data", n_train=4, n_test=2, size=(12, 12))
    common = [
        "--data",
        str(data),
        "--iterations",
        "6",
        "--checkpoint-every",
        "2",
        "--eval-every",
        "3",
    ]
    common += ["--out"]
    assert main(["train", *common, str(out), "--batch-size", "4", "-q", "--threads", "1"]) == 0
    # an unfinished run (interrupted at step 2) on the same data
    out2 = tmp_path / "run2"
    from convscope.config import from_flat
    from convscope.train.loop import train as loop_train

    flat = {"data": str(data), "iterations": 6, "checkpoint_every": 2, "batch_size": 4}
    cfg = from_flat({**flat, "eval_every": 3})
    cfg.train.threads = 1
    assert loop_train(cfg, out2, stop_after=2)["status"] == "interrupted"
    data_before = (out2 / "data.json").read_bytes()
    # replace one image and add one
    from PIL import Image

    first = sorted((data / "Train" / "0").iterdir())[0]
    Image.new("L", (12, 12), 7).save(first)
    Image.new("L", (12, 12), 9).save(data / "Train" / "1" / "img900.png")
    capsys.readouterr()
    args = ["train", *common, str(out2), "--batch-size", "4", "-q", "--threads", "1", "--resume"]
    assert main(args) == 2
    line = err_line(capsys)
    assert "data changed" in line and "img900.png" in line and "added" in line
    assert (out2 / "data.json").read_bytes() == data_before  # nothing overwritten
    # a finished run on changed data is not "already completed"
    assert main(["train", *common, str(out), "--batch-size", "4", "-q", "--threads", "1"]) == 2
    assert "data changed" in err_line(capsys)


# --- bug 4: errors in the user's model --------------------------------------------------------
@pytest.mark.parametrize(
    ("factory", "expect"),
    [("expmodels_train:raising", "ValueError: my bug"), ("expmodels_train:empty", "no parameters")],
)
def test_user_model_errors_are_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], factory: str, expect: str
) -> None:
    sys.path.insert(0, str(HERE))
    try:
        rc = train("--iterations", "2", "--model", factory, "--out", str(tmp_path / "r"))
    finally:
        sys.path.remove(str(HERE))
    assert rc == 2
    line = err_line(capsys)
    assert factory in line and expect in line


# --- bug 5: a batch larger than the training split --------------------------------------------
def test_batch_larger_than_training_split_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = train("--iterations", "2", "--batch-size", "100000", "--out", str(tmp_path / "r"))
    assert rc == 2
    line = err_line(capsys)
    assert "batch_size" in line and "100000" in line and "50 images" in line
    assert not (tmp_path / "r").exists()  # the --out it created is gone again (nothing in it)


def test_refused_run_keeps_a_folder_it_did_not_create(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r").mkdir()
    rc = train("--iterations", "2", "--batch-size", "100000", "--out", str(tmp_path / "r"))
    assert rc == 2 and (tmp_path / "r").is_dir()


def test_throughput_counts_images_actually_used(tmp_path: Path) -> None:
    # 50 training images, batches of 40: steps use 40, 10, 40, 10 images
    out = tmp_path / "r"
    assert train("--iterations", "4", "--batch-size", "40", "--out", str(out)) == 0
    s = RunDir(out).summary()
    assert s is not None
    assert s["images_seen"] == 100
    assert s["images_per_second"] == pytest.approx(100 / s["train_time_s"], rel=0.05)


# --- weak spot: bad values accepted as runs ---------------------------------------------------
@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--lr", "inf"], "config key 'lr'"),
        (["--lr", "nan"], "config key 'lr'"),
        (["--momentum", "inf"], "config key 'momentum'"),
        (["--iterations", "none", "--epochs", "inf"], "config key 'epochs'"),
        (["--keep-checkpoints", "3,99"], "keep_checkpoints"),
    ],
)
def test_bad_values_are_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expect: str
) -> None:
    assert train("--iterations", "5", *args, "--out", str(tmp_path / "r")) == 2
    assert expect in err_line(capsys)
    assert not (tmp_path / "r" / "metrics.jsonl").exists()


# --- weak spot: the resume message names the keys that differ ---------------------------------
def test_resume_with_other_options_names_the_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    assert train("--iterations", "5", "--lr", "0.001", "--out", str(out)) == 0
    capsys.readouterr()
    assert train("--iterations", "5", "--lr", "0.01", "--out", str(out), "--resume") == 2
    line = err_line(capsys)
    assert "lr: the run has 0.001, the command gives 0.01" in line
    assert "repeat the run's options" in line


def _catches_sigterm(pid: int) -> bool:
    """Whether process ``pid`` has a SIGTERM handler (bit 15 of SigCgt in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next((ln.split()[1] for ln in status.splitlines() if ln.startswith("SigCgt:")), "0")
    return bool(int(mask, 16) & (1 << (signal.SIGTERM - 1)))


# --- bug 10: SIGTERM during start-up ----------------------------------------------------------
@pytest.mark.parametrize("when", ["data", "after-summary", "imports"])
def test_sigterm_during_startup_is_130_and_consistent(tmp_path: Path, when: str) -> None:
    """SIGTERM while the data loads (or right after the summary says running) exits 130."""
    out = tmp_path / "r"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    hook = {"data": "load", "after-summary": "summary", "imports": None}[when]
    code = (
        f"import sys, expmodels_train as m; m.install_startup_pause({hook!r});"
        "from convscope.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    if hook is None:  # while the command imports torch, numpy, ... (a signal mid-import)
        code = "import sys; from convscope.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["train", *TINY, "--iterations", "5", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stderr=subprocess.PIPE, text=True
    )
    marker = Path(str(out) + ".paused")
    deadline = time.monotonic() + 60
    if hook is None:  # as soon as main() catches SIGTERM (before that the default action runs)
        while not _catches_sigterm(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        marker.write_text("")
    while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert marker.exists(), proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    status = RunDir(out).status()
    assert status in (None, "interrupted"), status
