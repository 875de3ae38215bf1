"""Default record cadence and training-accuracy sample: sized to the budget and to what they cost.

A record evaluates the test split and the training-accuracy sample. Evaluated every 100 steps
regardless of the budget, that took 41% of a 10-epoch Fashion-MNIST run. The defaults:

* ``train_eval_size``: ``min(n_train, n_test, 2000)``. The training accuracy is read against
  the test accuracy, so it needs no more images than the test split has; 2000 images give it a
  standard error of at most 1.1 percentage points.
* ``eval_every``: about :data:`RECORDS` records per run, fewer when evaluating that often would
  cost more than :data:`EVAL_SHARE` of the training time, never fewer than
  :data:`MIN_RECORDS`. An evaluated image costs about :data:`EVAL_COST` of a trained one
  (inference mode, large batches; measured for LeNet5 on CPU, docs/precision.md).
* ``test_eval_size``: the whole test split, unless evaluating it at every one of those records
  would cost more than the same share. Then the records before the last evaluate a fixed
  random subsample of the split, sized so that the run's evaluations fit the share (never
  fewer than :data:`SUBSAMPLE_MIN` images), and the last record evaluates the whole split. A
  split of at most :data:`WHOLE_SPLIT` images is always evaluated whole. With a subsample the
  default training-accuracy sample shrinks to its size. One epoch of a 60k/10k set had 8
  records of 12,000 images each, 42% of its wall time; with the subsample, 7 x 1,000 + 10,500.

Both are pure functions of the config and the data set's size, so a resumed run records at the
same steps as an uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from convscope.config import TrainConfig

RECORDS = 64  # records per run when evaluation is cheap against the budget
MIN_RECORDS = 8  # fewest records a default cadence gives (a curve needs points)
EVAL_SHARE = 0.08  # evaluation's budget, as a share of the training time
# cost of one evaluated image / one trained image: LeNet5's forward is a third of a training
# step's FLOPs; measured 0.4-0.5 per record on CIFAR10 (2000 images, checkpoints included)
EVAL_COST = 0.4
TRAIN_EVAL_CAP = 2000
WHOLE_SPLIT = 1000  # test splits up to this size are evaluated whole at every record
SUBSAMPLE_MIN = 500  # fewest test images an intermediate record evaluates (SE <= 2.3 points)


@dataclass(frozen=True)
class Cadence:
    """What the records of a run evaluate, resolved from the config and the data set's size."""

    eval_every: int  # steps between records
    train_eval_size: int  # images in the fixed training-accuracy sample
    test_eval_size: int  # test images of each record but the last, which evaluates the split


def resolve(t: TrainConfig, total_steps: int, n_train: int, n_test: int) -> Cadence:
    """The run's cadence: the config's values where set, else the defaults above."""
    n_tr = train_eval_size(t.train_eval_size, n_train, n_test)
    every = eval_every(t.eval_every, total_steps, t.batch_size, n_test + n_tr)
    if t.test_eval_size is not None:
        n_te = min(t.test_eval_size, n_test)
    else:
        n_te = _test_subsample(
            n_test, n_tr, records(every, total_steps), total_steps * t.batch_size
        )
    if t.train_eval_size is None:
        n_tr = min(n_tr, n_te)
    return Cadence(every, n_tr, n_te)


def records(every: int, total_steps: int) -> int:
    """Records a run writes: every ``every`` steps and at the last step."""
    return len({*range(every, total_steps + 1, every), total_steps})


def _test_subsample(n_test: int, n_tr: int, n_records: int, train_images: int) -> int:
    if n_test <= WHOLE_SPLIT:
        return n_test
    budget = EVAL_SHARE * train_images / EVAL_COST  # evaluated images the run can afford
    if n_records * (n_test + n_tr) <= budget:
        return n_test
    # the last record: the whole split plus a training sample of s; the others: 2 s each
    s = (budget - n_test) / max(1, 2 * n_records - 1)
    return max(SUBSAMPLE_MIN, min(n_test, math.floor(s)))


def train_eval_size(requested: int | None, n_train: int, n_test: int) -> int:
    """Images in the fixed training-accuracy sample."""
    if requested is not None:
        return min(requested, n_train)
    return max(1, min(n_train, n_test, TRAIN_EVAL_CAP))


def eval_every(
    requested: int | None, total_steps: int, batch_size: int, images_per_record: int
) -> int:
    """Steps between records: ``requested``, else from the budget (see the module docstring)."""
    if requested is not None:
        return requested
    train_images = total_steps * batch_size
    affordable = EVAL_SHARE * train_images / max(1.0, images_per_record * EVAL_COST)
    records = max(MIN_RECORDS, min(RECORDS, math.floor(affordable)))
    return max(1, math.ceil(total_steps / records))
