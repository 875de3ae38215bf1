"""`convscope run`: identity, layout, resume after kill -9, failures, the output-directory lock."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from convscope import io
from convscope.cli import main
from convscope.config import from_dict
from convscope.errors import EXIT_LOCKED
from convscope.experiments.executors import InlineExecutor, LocalExecutor, available_cores
from convscope.experiments.run import run_experiment
from convscope.experiments.spec import load_experiment
from convscope.experiments.worker import ANALYSIS_DONE
from convscope.runs import RunDir

sys.path.insert(0, str(Path(__file__).parent))
from helpers import (  # noqa: E402
    env_with_expmodels,
    experiment_json,
    results_by_label,
    run_dirs,
    write_experiment,
)

TWO_GROUPS = """
[groups.first]
title = "First"
section = "1.1"
label = "lr={lr}"
[groups.first.grid]
lr = [0.01, 0.05]

[groups.second]
[[groups.second.runs]]
label = "same as first lr=0.05"
lr = 0.05
[[groups.second.runs]]
label = "diverges"
optimizer = "sgd"
lr = 1e6

[[analysis]]
group = "first"
label = "lr=0.01"
what = ["filters"]
"""


@pytest.fixture()
def one_thread() -> object:
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def inline_run(path: Path, out: Path, **kw: object) -> object:
    exp = load_experiment(path, None, None)
    return run_experiment(exp, out, InlineExecutor(threads=1), **kw)  # type: ignore[arg-type]


@pytest.mark.slow
def test_layout_identity_and_rerun(
    tmp_path: Path, one_thread: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONVSCOPE_DATA_ROOT", raising=False)  # CI sets it for the real-data tests
    f = write_experiment(tmp_path / "e.toml", TWO_GROUPS)
    out = tmp_path / "out"
    res = inline_run(f, out)
    # 3 distinct runs: second's "same as first lr=0.05" is first's lr=0.05, trained once
    dirs = run_dirs(out)
    assert len(dirs) == 3
    doc = experiment_json(out)
    assert set(doc) >= {"file", "name", "profile", "data_root", "data_note", "groups", "analysis"}
    assert doc["data_root"] is None and isinstance(doc["data_note"], str)
    first, second = doc["groups"]
    assert (first["name"], first["title"], first["section"]) == ("first", "First", "1.1")
    assert [r["label"] for r in first["runs"]] == ["lr=0.01", "lr=0.05"]
    assert second["runs"][0]["dir"] == first["runs"][1]["dir"]
    assert second["runs"][0]["hash"] == first["runs"][1]["hash"]
    for g in doc["groups"]:
        for r in g["runs"]:
            assert r["dir"].startswith("runs/") and (out / r["dir"]).is_dir()
            assert r["seed"] == 0
            cfg = from_dict(r["config"])
            assert RunDir(out / r["dir"]).config_hash() == r["hash"]
            assert cfg.train.iterations == 20
    # statuses: a diverged run is a result, not a failure
    status = {r.spec.label: r.status for r in res.runs}  # type: ignore[attr-defined]
    assert status == {"lr=0.01": "completed", "lr=0.05": "completed", "diverges": "diverged"}
    assert not res.failed  # type: ignore[attr-defined]
    # analysis of the named run, recorded for the report
    (a,) = doc["analysis"]
    assert a["run"] == first["runs"][0]["dir"] and a["what"] == ["filters"]
    assert (out / a["run"] / "analysis" / "filters.npz").is_file()
    # what it cost, in its JSON and in the run's ANALYSIS_DONE
    cost = io.read_json(out / a["run"] / "analysis" / "filters.json")["timing"]
    assert cost["wall_s"] > 0 and cost["cpu_s"] >= 0
    assert io.read_json(out / a["run"] / ANALYSIS_DONE)["timing"]["filters"] == cost
    # TensorBoard: every run has its own events (with hparams) under OUT
    for d in dirs:
        assert list((d / "tb").glob("events.out.tfevents*"))
    # a rerun trains nothing
    before = {d: (d / "metrics.jsonl").stat().st_mtime_ns for d in dirs}
    inline_run(f, out)
    assert {d: (d / "metrics.jsonl").stat().st_mtime_ns for d in dirs} == before
    assert run_dirs(out) == dirs


def test_failing_run_does_not_stop_the_others(tmp_path: Path, one_thread: object) -> None:
    f = write_experiment(
        tmp_path / "e.toml",
        """
[groups.g]
[[groups.g.runs]]
label = "ok-before"
lr = 0.01
[[groups.g.runs]]
label = "broken"
model = "expmodels:broken"
[[groups.g.runs]]
label = "ok-after"
lr = 0.02
""",
    )
    out = tmp_path / "out"
    res = inline_run(f, out)
    status = {r.spec.label: r.status for r in res.runs}  # type: ignore[attr-defined]
    assert status == {"ok-before": "completed", "broken": "failed", "ok-after": "completed"}
    (bad,) = res.failed  # type: ignore[attr-defined]
    assert "boom" in (bad.error or "")
    s = RunDir(bad.dir).summary()
    assert s is not None and s["status"] == "failed" and "boom" in s["error"]
    doc = experiment_json(out)
    assert doc["status"]["runs"][bad.rel]["status"] == "failed"
    # a rerun retries the failed run (and only it)
    ok = [r.dir for r in res.runs if r.status == "completed"]  # type: ignore[attr-defined]
    before = {d: (d / "metrics.jsonl").read_bytes() for d in ok}
    res2 = inline_run(f, out)
    assert [r.spec.label for r in res2.failed] == ["broken"]  # type: ignore[attr-defined]
    assert {d: (d / "metrics.jsonl").read_bytes() for d in ok} == before


def test_second_writer_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write_experiment(tmp_path / "e.toml", "[groups.g]\n")
    out = tmp_path / "out"
    with io.dir_lock(out, what="output directory"):
        rc = main(["run", str(f), "--out", str(out)])
    assert rc == EXIT_LOCKED
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "in use" in err[-1] and str(out) in err[-1]
    assert not (out / "runs").exists()


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write_experiment(tmp_path / "e.toml", "[groups.g]\nlrr = 1\n")
    assert main(["run", str(f), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown key 'lrr'" in err[0] and "[groups.g]" in err[0]
    h = write_experiment(tmp_path / "h.toml", "[groups.g]\n")
    assert main(["run", str(h), "--profile", "nope", "--out", str(tmp_path / "o")]) == 2
    assert "no profile 'nope'" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "experiment.json" in capsys.readouterr().err
    g = write_experiment(tmp_path / "g.toml", '[groups.g]\ndata = "/no/such/dir"\n')
    assert main(["run", str(g), "--out", str(tmp_path / "o2")]) == 2
    assert "/no/such/dir" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["run", "--help"])
    assert e.value.code == 0
    assert "--ray-address" in capsys.readouterr().out


def test_local_executor_never_oversubscribes() -> None:
    cores = available_cores()
    ex = LocalExecutor(workers=1)
    assert ex.threads == cores and ex.slots == 1
    ex = LocalExecutor()
    assert ex.workers * ex.threads <= cores
    with pytest.raises(Exception, match="more than the"):
        LocalExecutor(workers=cores, threads=2)


# --- processes: kill -9, dead workers, the CLI end to end -------------------------------------
KILL_EXPERIMENT = """
[groups.g]
label = "{model}-lr={lr}"
[groups.g.grid]
lr = [0.001, 0.002, 0.003]

[groups.bad]
[[groups.bad.runs]]
label = "broken"
model = "expmodels:broken"
"""
KILL_DEFAULTS = {
    "model": "lenet5",
    "batch_size": 20,
    "iterations": 40,
    "eval_every": 10,
    "checkpoint_every": 10,
}


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "convscope.cli", *args]


@pytest.mark.slow
def test_kill_9_then_rerun_completes_only_what_was_missing(
    tmp_path: Path, one_thread: object
) -> None:
    f = write_experiment(tmp_path / "e.toml", KILL_EXPERIMENT, **KILL_DEFAULTS)
    ref = tmp_path / "ref"
    inline_run(f, ref)  # uninterrupted, 1 thread, in this process
    expected = results_by_label(ref)
    assert [v["summary"]["status"] for v in expected.values()] == ["completed"] * 3 + ["failed"]

    out = tmp_path / "out"
    workers = min(2, available_cores())
    args = ["run", str(f), "--out", str(out), "--workers", str(workers), "--threads", "1"]
    proc = subprocess.Popen(
        _cli(args), env=env_with_expmodels(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 180
    killed_with = None
    while time.monotonic() < deadline and proc.poll() is None:
        rds = [RunDir(d) for d in run_dirs(out)] if (out / "runs").is_dir() else []
        finished = [rd for rd in rds if rd.is_finished() and rd.config().model.model == "lenet5"]
        partial = [rd for rd in rds if not rd.is_finished() and len(rd.metrics()) >= 2]
        if finished and partial:
            proc.send_signal(signal.SIGKILL)
            killed_with = (len(finished), len(rds))
            break
        time.sleep(0.05)
    proc.wait()
    assert killed_with is not None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    n_finished = killed_with[0]
    assert n_finished < 3
    # the workers die with `convscope run`: nothing holds a run directory afterwards
    time.sleep(1.5)
    for d in run_dirs(out):
        with io.dir_lock(d):
            pass
    finished_bytes = {
        d: (d / "metrics.jsonl").read_bytes() for d in run_dirs(out) if RunDir(d).is_finished()
    }
    done = subprocess.run(_cli(args), env=env_with_expmodels(), capture_output=True, text=True)
    # a run that failed with an error makes the exit code non-zero, after all the others ran
    assert done.returncode == 1, done.stderr[-3000:]
    assert "1 run(s) failed: broken-s0" in done.stderr
    assert f"{len(finished_bytes)} finished before" in done.stderr
    assert "digits" in done.stdout and "NOT" in done.stdout  # the data note, at the end
    # finished runs were not trained again; the rest equal the uninterrupted run exactly
    for d, b in finished_bytes.items():
        assert (d / "metrics.jsonl").read_bytes() == b
    assert results_by_label(out) == expected
    try:
        import convscope.report  # noqa: F401
    except ImportError:
        return
    assert (out / "report.html").is_file() and (out / "report.md").is_file()


@pytest.mark.slow
def test_dead_worker_is_retried_from_its_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread: object
) -> None:
    body = '[groups.g]\n[[groups.g.runs]]\nlabel = "k"\nmodel = "expmodels:killer"\n'
    f = write_experiment(tmp_path / "e.toml", body, iterations=30)
    marker = tmp_path / "killed"
    monkeypatch.setenv("EXPMODELS_KILL_MARKER", str(marker))
    marker.write_text("reference: never kill\n")
    inline_run(f, tmp_path / "ref")
    marker.unlink()
    out = tmp_path / "out"
    exp = load_experiment(f, None, None)
    res = run_experiment(exp, out, LocalExecutor(workers=1, threads=1))
    assert marker.exists(), "the worker should have killed itself once"
    (r,) = res.runs
    assert r.status == "completed" and r.attempts == 2
    assert results_by_label(out) == results_by_label(tmp_path / "ref")
