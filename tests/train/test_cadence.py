"""Default record cadence and training-accuracy sample size."""

from __future__ import annotations

from convscope.train import cadence


def test_train_eval_size_follows_the_test_split() -> None:
    assert cadence.train_eval_size(None, 60000, 10000) == 2000
    assert cadence.train_eval_size(None, 10000, 1000) == 1000
    assert cadence.train_eval_size(None, 300, 1000) == 300
    assert cadence.train_eval_size(500, 10000, 1000) == 500
    assert cadence.train_eval_size(5000, 300, 1000) == 300


def test_explicit_eval_every_is_kept() -> None:
    assert cadence.eval_every(7, 12000, 50, 12000) == 7


def records(every: int, total: int) -> int:
    """Records the loop writes: every ``every`` steps and at the last step."""
    return len({*range(every, total + 1, every), total})


def test_cheap_evaluation_gives_about_64_records() -> None:
    # 20 epochs of 50k images, 500 evaluated per record
    assert 60 <= records(cadence.eval_every(None, 20000, 50, 500), 20000) <= 64
    # the reference data, 8 epochs: 1000 test + 1000 training images per record
    assert records(cadence.eval_every(None, 1600, 50, 2000), 1600) == 8


def test_costly_evaluation_gives_fewer_records_within_the_share() -> None:
    # 10 epochs of 60k (Fashion-MNIST), 12000 evaluated per record
    total, batch, per = 12000, 50, 12000
    e = cadence.eval_every(None, total, batch, per)
    n = records(e, total)
    assert cadence.MIN_RECORDS <= n < cadence.RECORDS
    share = n * per * cadence.EVAL_COST / (total * batch)
    assert share <= cadence.EVAL_SHARE * 1.05


def test_never_fewer_than_min_records() -> None:
    assert records(cadence.eval_every(None, 100, 50, 12000), 100) == cadence.MIN_RECORDS
    assert cadence.eval_every(None, 3, 50, 12000) == 1
