"""The built-in scikit-learn digits."""

from __future__ import annotations

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits as sk_load_digits

from convscope.data.digits import load_digits, split_indices


def test_shape_split_and_honest_source():
    ds = load_digits()
    assert ds.name == "digits"
    assert ds.image_shape == (1, 28, 28)
    assert (len(ds.train), len(ds.test)) == (1500, 297)
    assert ds.classes == tuple("0123456789")
    assert "scikit-learn 8x8 digits" in ds.source and "NOT the reference data" in ds.source
    assert "28x28" in ds.source
    assert ds.train.images.dtype.is_floating_point is False
    assert int(ds.train.images.max()) == 255 and int(ds.train.images.min()) == 0


def test_split_is_stratified_disjoint_and_deterministic():
    y = sk_load_digits().target
    tr, te = split_indices(y)
    assert np.intersect1d(tr, te).size == 0
    assert np.union1d(tr, te).tolist() == list(range(y.size))
    counts = np.bincount(y[te], minlength=10)
    assert counts.min() >= 28 and counts.max() <= 31  # ~297/10 per class
    tr2, te2 = split_indices(y)
    assert np.array_equal(te, te2) and np.array_equal(tr, tr2)


def test_pixels_match_an_independent_upscale():
    d = sk_load_digits()
    ds = load_digits()
    tr, _ = split_indices(d.target)
    i = 7
    v = d.images[tr[i]]
    x8 = np.floor(v * 255 / 16 + 0.5).astype(np.uint8)  # round half up
    ref = np.asarray(Image.fromarray(x8).resize((28, 28), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(ds.train.images[i, 0].numpy(), ref)
    assert int(ds.train.labels[i]) == int(d.target[tr[i]])


def test_other_size():
    ds = load_digits(size=16)
    assert ds.image_shape == (1, 16, 16)
    assert "16x16" in ds.source
