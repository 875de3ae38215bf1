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


def resolved(total: int, n_train: int, n_test: int, **over: object) -> cadence.Cadence:
    from convscope.config import from_flat

    return cadence.resolve(from_flat({"iterations": total, **over}).train, total, n_train, n_test)


def evaluated_images(c: cadence.Cadence, total: int, n_test: int) -> int:
    """Images the records of a run evaluate: the last one the whole test split."""
    n = cadence.records(c.eval_every, total)
    return (n - 1) * (c.test_eval_size + c.train_eval_size) + n_test + c.train_eval_size


def test_one_epoch_of_60k_evaluates_a_test_subsample_before_the_last_record() -> None:
    # 1 epoch of 60k at batch 50: 8 records of 10k test + 2k training images cost more than
    # the epoch's training (42% of the wall time measured); the subsample keeps it near the share
    c = resolved(1200, 60000, 10000)
    assert cadence.records(c.eval_every, 1200) == cadence.MIN_RECORDS
    assert c.test_eval_size == cadence.SUBSAMPLE_MIN
    assert c.train_eval_size == c.test_eval_size  # read against it: no more images than it
    assert evaluated_images(c, 1200, 10000) == 7 * 1000 + 10500
    assert evaluated_images(c, 1200, 10000) * cadence.EVAL_COST / 60000 < 0.12


def test_the_subsample_grows_with_the_budget_and_stops_at_the_split() -> None:
    three = resolved(3600, 60000, 10000)  # 3 epochs: the share pays for more
    assert cadence.SUBSAMPLE_MIN < three.test_eval_size < 10000
    spent = evaluated_images(three, 3600, 10000) * cadence.EVAL_COST
    assert spent <= cadence.EVAL_SHARE * 3600 * 50 * 1.01
    ten = resolved(12000, 60000, 10000)  # the 10 epochs: the whole split every time
    assert ten.test_eval_size == 10000 and ten.train_eval_size == 2000


def test_small_splits_and_explicit_values_are_kept() -> None:
    # the reference data (1000 test images) is evaluated whole however short the run
    assert resolved(200, 10000, 1000).test_eval_size == 1000
    assert resolved(200, 10000, 1000).train_eval_size == 1000
    c = resolved(1200, 60000, 10000, test_eval_size=3000, train_eval_size=2000)
    assert (c.test_eval_size, c.train_eval_size) == (3000, 2000)
    assert resolved(1200, 60000, 10000, test_eval_size=20000).test_eval_size == 10000
    # an explicit cadence on a large split: the subsample follows its records' cost
    assert resolved(1200, 60000, 10000, eval_every=10).test_eval_size == cadence.SUBSAMPLE_MIN
