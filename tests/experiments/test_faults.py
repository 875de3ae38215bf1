"""`convscope run` under faults: kill -9 at random moments, changed data, empty grids, bad OUT.

Issue 10: the fault-injection test ("killed with kill -9 at 5 random moments, rerun each time;
the final experiment.json, every metrics.jsonl and every summary equal an uninterrupted run
apart from times"), bug 2 for `convscope run`, and the weak spot "empty [groups.x.grid]".
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from convscope import io
from convscope.cli import main
from convscope.errors import LockedError
from convscope.experiments.executors import InlineExecutor
from convscope.experiments.run import run_experiment
from convscope.experiments.spec import load_experiment
from convscope.runs import RunDir

sys.path.insert(0, str(Path(__file__).parent))
from helpers import env_with_expmodels, run_dirs, write_experiment  # noqa: E402

TIMES = {"wall_time_s", "train_time_s", "images_per_second", "seconds", "outside_steps_share"}
SWEEP = """
[groups.g]
label = "lr={lr}"
[groups.g.grid]
lr = [0.001, 0.003]
"""
SMALL = {
    "model": "expmodels:tiny",
    "iterations": 60,
    "eval_every": 5,
    "checkpoint_every": 5,
    "activation_stats_every": 0,
}


@pytest.fixture()
def one_thread() -> Any:
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _without_times(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _without_times(v) for k, v in obj.items() if k not in TIMES}
    if isinstance(obj, list):
        return [_without_times(v) for v in obj]
    return obj


def _state(out: Path) -> dict[str, Any]:
    """experiment.json, every metrics.jsonl and every summary.json, times left out."""
    state: dict[str, Any] = {"experiment": _without_times(io.read_json(out / "experiment.json"))}
    for d in run_dirs(out):
        rd = RunDir(d)
        state[d.name] = {"metrics": rd.metrics(), "summary": _without_times(rd.summary())}
    return state


def _wait_unlocked(out: Path, timeout: float = 10.0) -> None:
    """The killed run's workers notice within a second; wait until no run is held."""
    deadline = time.monotonic() + timeout
    dirs = [out, *run_dirs(out)] if (out / "runs").is_dir() else [out]
    for d in dirs:
        while True:
            try:
                with io.dir_lock(d):
                    break
            except LockedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def _rows(out: Path) -> int:
    if not (out / "runs").is_dir():
        return 0
    return sum(len(RunDir(d).metrics()) for d in run_dirs(out))


@pytest.mark.slow
def test_kill_9_at_five_random_moments_then_rerun_equals_uninterrupted(
    tmp_path: Path, one_thread: object
) -> None:
    f = write_experiment(tmp_path / "e.toml", SWEEP, **SMALL)
    ref = tmp_path / "ref"
    run_experiment(load_experiment(f, None, None), ref, InlineExecutor(threads=1))
    expected = _state(ref)
    total_rows = sum(len(v["metrics"]) for k, v in expected.items() if k != "experiment")
    assert total_rows == 24

    out = tmp_path / "out"
    args = [sys.executable, "-m", "convscope", "run", str(f), "--out", str(out)]
    args += ["--workers", "1", "--threads", "1", "--no-report", "-q"]
    rng = random.Random(10)
    kills = []
    for _ in range(5):
        # a random moment: once a random number of further records is on disk (0: during
        # start-up), after a random delay (mid-step, mid-checkpoint, ...)
        left = total_rows - _rows(out)
        target = _rows(out) + rng.randrange(0, max(1, left * 2 // 3))
        delay = rng.uniform(0.0, 0.1)
        proc = subprocess.Popen(
            args,
            env=env_with_expmodels(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # kill -9 the whole group: the worker dies mid-step too
        )
        deadline = time.monotonic() + 120
        while proc.poll() is None and _rows(out) < target and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills.append((target, round(delay, 2), _rows(out)))
        proc.wait()
        _wait_unlocked(out)
    assert len(kills) >= 3, kills  # most of the 5 moments fell during the experiment
    done = subprocess.run(args, env=env_with_expmodels(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    got = _state(out)
    for key in ("file",):
        got["experiment"].pop(key), expected["experiment"].pop(key)
    print("kills (target rows, delay s, rows on disk):", kills)
    assert got == expected, kills


def test_finished_run_on_changed_data_is_not_done(
    tmp_path: Path, one_thread: object, image_folders: Any
) -> None:
    data = tmp_path / "data"
    image_folders("data", n_train=4, n_test=2, size=(12, 12))
    body = f'[groups.g]\n[[groups.g.runs]]\nlabel = "a"\ndata = "{data}"\n'
    over = {"iterations": 4, "batch_size": 4, "train_eval_size": 8, "train_per_class": 4}
    over["test_per_class"] = 2
    f = write_experiment(tmp_path / "e.toml", body, **{**SMALL, **over})
    out = tmp_path / "out"
    first = run_experiment(load_experiment(f, None, None), out, InlineExecutor(threads=1))
    assert [r.status for r in first.runs] == ["completed"]
    (run,) = run_dirs(out)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    from PIL import Image

    Image.new("L", (12, 12), 5).save(data / "Train" / "0" / "img777.png")
    again = run_experiment(load_experiment(f, None, None), out, InlineExecutor(threads=1))
    (r,) = again.runs
    assert r.status == "failed" and "data changed" in (r.error or "") and "img777" in r.error
    doc = io.read_json(out / "experiment.json")
    assert doc["status"]["runs"][r.rel]["status"] == "failed"
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before  # nothing of the finished run was touched


def test_empty_grid_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write_experiment(tmp_path / "e.toml", "[groups.x]\n[groups.x.grid]\n")
    assert main(["run", str(f), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "groups.x" in err and "grid" in err and "empty" in err


def test_a_model_factory_that_cannot_be_imported_stops_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It failed every run in its workers, one by one, after creating OUT and the run folders."""
    out = tmp_path / "out"
    for model, why in (
        ("no_such_pkg.nets:factory", "cannot import module 'no_such_pkg.nets'"),
        ("convscope.models:no_such_factory", "has no callable 'no_such_factory'"),
    ):
        f = write_experiment(tmp_path / "e.toml", SWEEP, **{**SMALL, "model": model})
        assert main(["run", str(f), "--out", str(out), "-q"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "FAILED" not in err, err  # no run was started
        last = err.strip().splitlines()[-1]
        assert last.startswith(f"convscope: error: {f} [groups.g]: config key 'model'"), last
        assert why in last, last
        assert not out.exists()


def test_out_that_is_not_an_experiment_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = write_experiment(tmp_path / "e.toml", SWEEP, **SMALL)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work\n")
    assert main(["run", str(f), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "not a convscope" in err
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]
    with contextlib.suppress(FileNotFoundError):
        (out / ".lock").unlink()


def test_runs_failing_on_the_environment_exit_5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread: Any
) -> None:
    """A disk that fills during the sweep: each run's one line names the path; exit code 5."""
    import errno

    from convscope.train import checkpoint

    def full(path: Any, obj: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(checkpoint, "save", full)
    f = write_experiment(tmp_path / "e.toml", SWEEP, **SMALL)
    res = run_experiment(load_experiment(f, None, None), tmp_path / "out", InlineExecutor(1))
    assert len(res.failed) == 2 and res.failure_exit_code == 5
    for r in res.failed:
        assert "no space left on device" in (r.error or "") and "\n" not in (r.error or "")
        assert "Error:" not in (r.error or "")  # the message itself, not a class name
    res.failed[0].exit_code = 1  # a bug in one run and the environment in the other: 1
    assert res.failure_exit_code == 1
