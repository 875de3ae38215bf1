"""``stop_at_train_accuracy``: the loop stops at the first record at the target, within the
budget, and summary.json says what was reached. Oracle: the same run without a target (the loop
is deterministic), whose records and kept snapshots say where it should stop."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from convscope.config import from_flat
from convscope.data.registry import permute_train_labels
from convscope.errors import ConfigError
from convscope.runs import RunDir
from convscope.train.loop import train
from convscope.train.precision import resolve_config, run_hash

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import small_config, synthetic_dataset  # noqa: E402

ITERS = 80
STEPS = list(range(10, ITERS + 1, 10))


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plain") / "run"
    cfg = small_config(ITERS, keep_checkpoints=STEPS, augment="none", dropout=0.0)
    train(cfg, out, dataset=synthetic_dataset())
    return out


def test_it_stops_at_the_first_record_at_the_target(plain: Path, tmp_path: Path) -> None:
    rows = RunDir(plain).metrics()
    accs = [r["train_accuracy"] for r in rows]
    # a target the plain run reaches at a record before its last
    target = sorted(set(accs[:-1]))[len(set(accs[:-1])) // 2]
    first = next(r["step"] for r in rows if r["train_accuracy"] >= target)
    assert first < ITERS
    cfg = small_config(ITERS, augment="none", dropout=0.0, stop_at_train_accuracy=target)
    s = train(cfg, tmp_path / "run", dataset=synthetic_dataset())
    assert s["status"] == "completed"
    assert s["step"] == first
    assert s["train_accuracy_target"] == {
        "target": target,
        "reached": True,
        "step": first,
        "train_accuracy": rows[STEPS.index(first)]["train_accuracy"],
    }
    got = RunDir(tmp_path / "run").metrics()
    assert got == rows[: len(got)] and got[-1]["step"] == first
    # the final weights are the plain run's at that step
    mine = RunDir(tmp_path / "run").load_checkpoint(None)["model"]
    theirs = RunDir(plain).load_checkpoint(first)["model"]
    for k in mine:
        assert torch.equal(mine[k], theirs[k]), k


def test_an_unreached_target_trains_for_the_budget(tmp_path: Path) -> None:
    # permuted labels: 30 steps do not fit them (checked on the plain run, the oracle)
    ds = permute_train_labels(synthetic_dataset(), 0)
    cfg = small_config(30, augment="none", dropout=0.0)
    train(cfg, tmp_path / "plain", dataset=ds)
    rows = RunDir(tmp_path / "plain").metrics()
    target = 0.95
    assert max(r["train_accuracy"] for r in rows) < target
    cfg = small_config(30, augment="none", dropout=0.0, stop_at_train_accuracy=target)
    s = train(cfg, tmp_path / "run", dataset=ds)
    assert s["step"] == 30 and s["status"] == "completed"
    assert s["train_accuracy_target"] == {
        "target": target,
        "reached": False,
        "step": None,
        "train_accuracy": rows[-1]["train_accuracy"],
    }
    assert RunDir(tmp_path / "run").metrics() == rows


def test_the_key_is_checked_and_unset_keeps_old_identities() -> None:
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ConfigError, match="stop_at_train_accuracy"):
            from_flat({"data": "digits", "stop_at_train_accuracy": bad})
    base = from_flat({"data": "digits"})
    assert "stop_at_train_accuracy" not in resolve_config(base).identity_dict()["train"]
    assert run_hash(base) != run_hash(from_flat({"data": "digits", "stop_at_train_accuracy": 0.9}))


def test_the_stopping_record_tests_the_whole_split(plain: Path, tmp_path: Path) -> None:
    """With a test subsample, the record at the target is the last one: the whole test split,
    as a run whose budget ended there (the oracle) has it."""
    rows = RunDir(plain).metrics()
    target = rows[2]["train_accuracy"]
    first = next(r["step"] for r in rows if r["train_accuracy"] >= target)
    common = {"augment": "none", "dropout": 0.0, "test_eval_size": 50}
    train(small_config(first, **common), tmp_path / "short", dataset=synthetic_dataset())
    cfg = small_config(ITERS, **common, stop_at_train_accuracy=target)
    s = train(cfg, tmp_path / "run", dataset=synthetic_dataset())
    got, want = RunDir(tmp_path / "run").metrics(), RunDir(tmp_path / "short").metrics()
    assert got == want and "test_images" not in got[-1] and "test_images" in got[0]
    assert s["final_test_accuracy"] == want[-1]["test_accuracy"]
    short = RunDir(tmp_path / "short").summary()
    assert (s["best_test_accuracy"], s["best_step"]) == (
        short["best_test_accuracy"],
        short["best_step"],
    )
