"""The reference data at $CONVSCOPE_DATA_ROOT/{CIFAR10,MNIST} (skipped when unset)."""

from __future__ import annotations

import pytest

from convscope.config import DataConfig
from convscope.data import load_dataset


@pytest.mark.parametrize("name", ["CIFAR10", "MNIST"])
def test_reference_folders(real_data_root, name):
    root = real_data_root / name
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    ds = load_dataset(DataConfig(data=str(root)))
    assert ds.name == name
    assert (len(ds.train), len(ds.test)) == (10000, 1000)
    assert ds.classes == tuple(str(i) for i in range(10))
    assert ds.image_shape == (1, 28, 28)
    assert ds.train.class_counts(10) == [1000] * 10
    assert ds.test.class_counts(10) == [100] * 10
    assert ds.source == f"image folders at {root} (10 classes, 10000 train / 1000 test)"
