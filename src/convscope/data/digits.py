"""The built-in data set: scikit-learn's bundled 8x8 handwritten digits, upscaled.

This is NOT the reference data (MNIST or CIFAR-10): it is 1797 8x8 images with values 0..16
(``sklearn.datasets.load_digits``, shipped inside scikit-learn, so it needs no file or network).
It exists so that every command can run on a fresh machine; its ``source`` line says so.

Choices: values are scaled to 0..255 as ``round(v * 255 / 16)`` (half up, integer arithmetic);
images are upscaled 8x8 -> 28x28 (or ``size``) with Pillow's bilinear filter; the train/test
split is stratified and deterministic: for each class, a permutation drawn from
``numpy.random.default_rng(SPLIT_SEED)`` puts ``round(n_class * 297 / 1797)`` images in test
(297 in all, 1500 in train); each split keeps the original order.
"""

from __future__ import annotations

import numpy as np

from convscope.data.base import Dataset
from convscope.data.preprocess import RESIZE_METHOD, make_dataset, resize_nchw

SPLIT_SEED = 0
TEST_FRACTION = 297 / 1797  # ~1500 train / 297 test
DEFAULT_SIZE = 28


def split_indices(labels: np.ndarray, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Stratified deterministic split: ``(train_idx, test_idx)``, each increasing."""
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_test = int(round(idx.size * TEST_FRACTION))
        test.append(rng.permutation(idx)[:n_test])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(labels.size), test_idx)
    return train_idx, test_idx


def load_digits(size: int = DEFAULT_SIZE) -> Dataset:
    """scikit-learn's 8x8 digits as uint8 ``(N, 1, size, size)``, classes ``"0"``..``"9"``.

    Args:
        size: output side in pixels (bilinear upscaling from 8x8).
    """
    from sklearn.datasets import load_digits as sk_load_digits

    d = sk_load_digits()
    v = np.asarray(d.images, dtype=np.int64)  # (1797, 8, 8), 0..16
    x8 = ((v * 255 + 8) // 16).astype(np.uint8)[:, None]  # (N, 1, 8, 8), 0..255
    x = resize_nchw(x8, size)
    y = np.asarray(d.target, dtype=np.int64)
    tr, te = split_indices(y)
    classes = tuple(str(i) for i in range(10))
    meta = {
        "format": "digits",
        "path": "sklearn.datasets.load_digits",
        "source_image_shape": [1, 8, 8],
        "split": {"seed": SPLIT_SEED, "test_fraction": round(TEST_FRACTION, 6), "stratified": True},
        "builtin_preparation": {
            "scale": "round(v * 255 / 16): 0..16 -> 0..255",
            "resize": {"size": size, "from": [8, 8], "method": RESIZE_METHOD},
        },
    }
    origin = (
        f"built-in scikit-learn 8x8 digits upscaled to {size}x{size}, NOT the reference data "
        "(MNIST/CIFAR-10)"
    )
    return make_dataset("digits", origin, classes, (x[tr], y[tr]), (x[te], y[te]), meta)
