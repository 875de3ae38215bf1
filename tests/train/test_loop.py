"""The training loop: determinism, resume after interruption and kill -9, divergence, records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from convscope.config import RunConfig
from convscope.errors import ConvscopeError
from convscope.runs import RunDir
from convscope.train.loop import train
from convscope.train.precision import resolve_config, run_hash
from convscope.train.steps import batch_indices

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import small_config, synthetic_dataset  # noqa: E402

SCRIPT = Path(__file__).parent / "synthetic.py"
ITERS = 60


def weights(run: Path) -> dict[str, torch.Tensor]:
    return RunDir(run).load_checkpoint(None)["model"]


def assert_same_run(a: Path, b: Path) -> None:
    ma, mb = RunDir(a).metrics(), RunDir(b).metrics()
    assert [r["step"] for r in ma] == list(range(10, ITERS + 1, 10))
    assert ma == mb
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert tb_steps(a) == tb_steps(b) == list(range(10, ITERS + 1, 10))


def tb_steps(run: Path, tag: str = "test_accuracy") -> list[int]:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    steps = []
    for f in sorted((run / "tb").glob("events.out.tfevents*")):
        for ev in EventFileLoader(str(f)).Load():
            for v in ev.summary.value:
                if v.tag == tag:
                    steps.append(ev.step)
    return sorted(steps)


@pytest.fixture(scope="module", params=["fp32", "bf16"])
def precision(request: pytest.FixtureRequest) -> str:
    """Every test of a reference run runs at both precisions (determinism, exact resume)."""
    return request.param


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory, precision: str) -> Path:
    out = tmp_path_factory.mktemp(f"ref-{precision}") / "run"
    s = train(small_config(ITERS, precision=precision), out, dataset=synthetic_dataset())
    assert s["status"] == "completed"
    assert s["precision"] == precision
    return out


def cfg_of(run: Path, iterations: int = ITERS, **over: object) -> RunConfig:
    """The reference config at the reference run's precision."""
    return small_config(iterations, precision=RunDir(run).config().train.precision, **over)


def test_run_directory_describes_itself(reference_run: Path) -> None:
    rd = RunDir(reference_run)
    assert rd.config() == resolve_config(cfg_of(reference_run))  # built-in defaults filled in
    assert json.loads((reference_run / "config.json").read_text())["hash"] == rd.config_hash()
    s = rd.summary()
    assert s["status"] == "completed" and s["step"] == ITERS
    assert s["best_test_accuracy"] >= s["final_test_accuracy"] - 1e-12
    assert s["images_per_second"] > 0 and s["wall_time_s"] > 0
    assert rd.checkpoint_steps() == [ITERS]  # no snapshots asked for: only the final one
    assert not rd.last_checkpoint_path.exists()  # a finished run keeps snapshots only
    assert rd.data_info()["normalize"]["mean"] is not None
    row = rd.metrics()[0]
    assert set(row) == {"step", "train_loss", "train_accuracy", "test_accuracy"}
    # the model learns the bars
    assert rd.metrics()[-1]["test_accuracy"] > 0.5
    model = rd.load_model()
    assert not model.training


def test_same_seed_same_metrics(reference_run: Path, tmp_path: Path) -> None:
    train(cfg_of(reference_run), tmp_path / "again", dataset=synthetic_dataset())
    assert_same_run(reference_run, tmp_path / "again")


def test_other_seed_differs(reference_run: Path, tmp_path: Path) -> None:
    train(cfg_of(reference_run, seed=4), tmp_path / "other", dataset=synthetic_dataset())
    assert RunDir(tmp_path / "other").metrics() != RunDir(reference_run).metrics()


def test_resume_after_interrupt_equals_uninterrupted(reference_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    s = train(cfg_of(reference_run), out, dataset=synthetic_dataset(), stop_after=25)
    assert s["status"] == "interrupted" and s["step"] == 25
    with pytest.raises(ConvscopeError, match="--resume"):
        train(cfg_of(reference_run), out, dataset=synthetic_dataset())
    s = train(cfg_of(reference_run), out, dataset=synthetic_dataset(), resume=True)
    assert s["status"] == "completed"
    assert_same_run(reference_run, out)


def prec_args(run: Path) -> list[str]:
    return ["--precision", RunDir(run).config().train.precision]


def _run_script(out: Path, *extra: str) -> subprocess.Popen:
    """Train the reference config in a child process (``extra``: ``--precision P``, ...)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(out), str(ITERS), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_resume_after_kill_9_during_training(reference_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _run_script(out, *prec_args(reference_run))
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 120
    # wait until the run is past its 3rd record (and 3rd checkpoint) but not finished
    while time.monotonic() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not RunDir(out).is_finished()
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), str(ITERS), "--resume", *prec_args(reference_run)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert_same_run(reference_run, out)


def test_resume_after_kill_9_during_checkpoint_write(reference_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _run_script(out, "--crash-in-checkpoint", "3", *prec_args(reference_run))
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    ckdir = out / "checkpoints"
    assert list(ckdir.glob(".last.pt.*.tmp")), "the torn temp file should be there"
    assert torch.load(ckdir / "last.pt", weights_only=True)["step"] == 20  # the previous one
    # records were written past the last good checkpoint before the kill
    assert RunDir(out).metrics()[-1]["step"] == 30
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), str(ITERS), "--resume", *prec_args(reference_run)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert not list(ckdir.glob(".*.tmp"))
    assert_same_run(reference_run, out)


def test_other_config_in_same_dir_is_refused(reference_run: Path) -> None:
    with pytest.raises(ConvscopeError, match="other options: lr: the run has"):
        train(cfg_of(reference_run, lr=0.5), reference_run, dataset=synthetic_dataset())


def test_finished_run_is_not_trained_again(reference_run: Path) -> None:
    before = (reference_run / "metrics.jsonl").read_text()
    s = train(cfg_of(reference_run), reference_run, dataset=synthetic_dataset())
    assert s["status"] == "completed"
    assert (reference_run / "metrics.jsonl").read_text() == before


def test_nan_loss_is_diverged(tmp_path: Path) -> None:
    cfg = small_config(40, optimizer="sgd", lr=1e6, augment="none", dropout=0.0)
    s = train(cfg, tmp_path / "nan", dataset=synthetic_dataset())
    assert s["status"] == "diverged"
    assert s["step"] < 40 and "loss" in s["reason"]
    last = RunDir(tmp_path / "nan").metrics()[-1]
    assert last["step"] == s["diverged_step"]


def test_loss_far_above_start_is_diverged(tmp_path: Path) -> None:
    """RMSProp with momentum 1 (the reference's 'performed terribly') never decays its velocity."""
    cfg = small_config(200, optimizer="rmsprop", lr=1e-2, momentum=1.0, augment="none", dropout=0.0)
    s = train(cfg, tmp_path / "rms", dataset=synthetic_dataset())
    assert s["status"] == "diverged", s
    assert s["step"] < 200


def test_healthy_run_is_not_diverged(reference_run: Path) -> None:
    assert RunDir(reference_run).summary()["reason"] is None


def test_batches_cover_each_epoch_once() -> None:
    n, b = 103, 10
    epoch0 = torch.cat([batch_indices(7, s, n, b) for s in range(11)])
    assert sorted(epoch0.tolist()) == list(range(n))
    epoch1 = torch.cat([batch_indices(7, s, n, b) for s in range(11, 22)])
    assert sorted(epoch1.tolist()) == list(range(n))
    assert not torch.equal(epoch0, epoch1)


def test_precisions_give_different_runs(reference_run: Path, precision: str) -> None:
    other = "bf16" if precision == "fp32" else "fp32"
    assert run_hash(cfg_of(reference_run)) != run_hash(small_config(ITERS, precision=other))


def test_bf16_keeps_weights_and_optimizer_state_fp32(tmp_path: Path) -> None:
    out = tmp_path / "run"
    s = train(
        small_config(ITERS, precision="bf16"), out, dataset=synthetic_dataset(), stop_after=10
    )
    assert s["precision"] == "bf16"
    ck = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert all(v.dtype == torch.float32 for v in ck["model"].values() if v.is_floating_point())
    for st in ck["optimizer"]["state"].values():
        for k, v in st.items():
            if k != "step" and torch.is_tensor(v):
                assert v.dtype == torch.float32, k
    # and autocast was on: the same run at fp32 records other losses
    train(small_config(ITERS, precision="fp32"), tmp_path / "fp32", dataset=synthetic_dataset())
    fp32_first = RunDir(tmp_path / "fp32").metrics()[0]
    assert RunDir(out).metrics()[0]["train_loss"] != fp32_first["train_loss"]


def test_snapshots_only_where_asked(tmp_path: Path) -> None:
    cfg = small_config(30, keep_checkpoints=[10], eval_every=None, train_eval_size=None)
    s = train(cfg, tmp_path / "run", dataset=synthetic_dataset())
    assert RunDir(tmp_path / "run").checkpoint_steps() == [0, 10, 30]
    # the defaults resolved from the budget and the data set, recorded in the summary
    assert s["train_eval_size"] == 200  # min(600 train, 200 test, 2000)
    assert s["eval_every"] == 4  # 30 steps / at least 8 records
    assert len(RunDir(tmp_path / "run").metrics()) == 8
    assert 0 <= s["outside_steps_share"] < 1
    # keep_checkpoints is not part of the identity: the same run without snapshots asked for
    assert run_hash(cfg) == run_hash(small_config(30, eval_every=None, train_eval_size=None))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_bf16_is_deterministic_and_resumes_exactly(cell: str, tmp_path: Path) -> None:
    """auto runs recurrent cells from 128 hidden units in bf16: same guarantees as LeNet5."""
    from convscope.train.precision import cell_runs_bf16

    if not cell_runs_bf16(cell, "cpu"):
        pytest.skip(f"this CPU's kernels have no bf16 {cell} primitive (auto trains it in fp32)")
    cfg = small_config(ITERS, model=cell, hidden_size=128, precision="bf16", dropout=0.0)
    a, b, r = tmp_path / "a", tmp_path / "b", tmp_path / "r"
    assert train(cfg, a, dataset=synthetic_dataset())["precision"] == "bf16"
    train(cfg, b, dataset=synthetic_dataset())
    assert_same_run(a, b)
    assert train(cfg, r, dataset=synthetic_dataset(), stop_after=25)["status"] == "interrupted"
    train(cfg, r, dataset=synthetic_dataset(), resume=True)
    assert_same_run(a, r)
