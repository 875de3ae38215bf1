"""Default record cadence and training-accuracy sample: sized to the budget and to what they cost.

A record evaluates the whole test split and the training-accuracy sample. Evaluated every 100
steps regardless of the budget, that took 41% of a 10-epoch Fashion-MNIST run. The defaults:

* ``train_eval_size``: ``min(n_train, n_test, 2000)``. The training accuracy is read against
  the test accuracy, so it needs no more images than the test split has; 2000 images give it a
  standard error of at most 1.1 percentage points.
* ``eval_every``: about :data:`RECORDS` records per run, fewer when evaluating that often would
  cost more than :data:`EVAL_SHARE` of the training time, never fewer than
  :data:`MIN_RECORDS`. An evaluated image costs about :data:`EVAL_COST` of a trained one
  (inference mode, large batches; measured for LeNet5 on CPU, docs/precision.md).

Both are pure functions of the config and the data set's size, so a resumed run records at the
same steps as an uninterrupted one.
"""

from __future__ import annotations

import math

RECORDS = 64  # records per run when evaluation is cheap against the budget
MIN_RECORDS = 8  # fewest records a default cadence gives (a curve needs points)
EVAL_SHARE = 0.08  # evaluation's budget, as a share of the training time
# cost of one evaluated image / one trained image: LeNet5's forward is a third of a training
# step's FLOPs; measured 0.4-0.5 per record on CIFAR10 (2000 images, checkpoints included)
EVAL_COST = 0.4
TRAIN_EVAL_CAP = 2000


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
