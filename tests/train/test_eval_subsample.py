"""Records before the last evaluate a fixed test subsample; the last one the whole split."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from convscope.runs import RunDir
from convscope.train.loop import train
from convscope.train.precision import resolve_config, run_hash

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import small_config, synthetic_dataset  # noqa: E402

ITERS = 40


@pytest.fixture(scope="module")
def subsampled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sub") / "run"
    s = train(small_config(ITERS, test_eval_size=50), out, dataset=synthetic_dataset())
    assert s["status"] == "completed"
    return out


def test_intermediate_records_carry_their_image_count_and_the_last_is_whole(
    subsampled: Path,
) -> None:
    rows = RunDir(subsampled).metrics()
    n_test = len(synthetic_dataset().test)
    assert n_test > 50
    assert [r.get("test_images") for r in rows] == [50, 50, 50, None]
    s = RunDir(subsampled).summary()
    assert s["test_eval_size"] == 50
    assert s["final_test_accuracy"] == rows[-1]["test_accuracy"]
    # each subsampled accuracy is a count out of 50 images; the last one out of the split
    assert all(
        abs(r["test_accuracy"] * 50 - round(r["test_accuracy"] * 50)) < 1e-6 for r in rows[:-1]
    )


def test_the_last_record_equals_a_run_evaluating_the_whole_split(
    subsampled: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole"
    train(small_config(ITERS), whole, dataset=synthetic_dataset())
    a, b = RunDir(subsampled).metrics(), RunDir(whole).metrics()
    assert [r["train_loss"] for r in a] == [r["train_loss"] for r in b]  # same training
    assert a[-1]["test_accuracy"] == b[-1]["test_accuracy"]
    assert RunDir(whole).summary()["test_eval_size"] == len(synthetic_dataset().test)
    assert "test_images" not in b[0]


def test_a_resumed_run_evaluates_the_same_subsample(subsampled: Path, tmp_path: Path) -> None:
    cfg = small_config(ITERS, test_eval_size=50)
    r = tmp_path / "r"
    assert train(cfg, r, dataset=synthetic_dataset(), stop_after=15)["status"] == "interrupted"
    assert train(cfg, r, dataset=synthetic_dataset(), resume=True)["status"] == "completed"
    assert RunDir(r).metrics() == RunDir(subsampled).metrics()


def test_the_default_keeps_the_identity_and_a_set_value_changes_it() -> None:
    base = small_config(ITERS)
    assert "test_eval_size" not in resolve_config(base).identity_dict()["train"]
    assert run_hash(small_config(ITERS, test_eval_size=50)) != run_hash(base)
