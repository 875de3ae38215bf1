"""IDX (MNIST) files, plain and gzip: loading and one test per bad input."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from data_fakes import idx_bytes, write_idx_dir

from convscope.data.idx import IMAGES_MAGIC, LABELS_MAGIC, load_idx, read_idx
from convscope.errors import DataError


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dotted", [False, True])
def test_loads_plain_and_gzip(tmp_path, gz, dotted):
    arrays = write_idx_dir(tmp_path / "mn", gz=gz, dotted=dotted)
    ds = load_idx(tmp_path / "mn")
    np.testing.assert_array_equal(ds.train.images[:, 0].numpy(), arrays["train_images"])
    np.testing.assert_array_equal(ds.test.images[:, 0].numpy(), arrays["test_images"])
    np.testing.assert_array_equal(ds.train.labels.numpy(), arrays["train_labels"])
    np.testing.assert_array_equal(ds.test.labels.numpy(), arrays["test_labels"])
    assert ds.image_shape == (1, 5, 5)
    assert ds.classes == tuple(str(i) for i in range(6))  # max label 5 in the train split
    assert ds.name == "mn"
    assert ds.source == f"IDX files in {tmp_path / 'mn'} (6 classes, 6 train / 4 test)"


def test_header_is_big_endian_oracle(tmp_path):
    # Hand-written bytes, not idx_bytes(): magic 0x803, N=1, H=2, W=3, then the pixels.
    p = tmp_path / "img"
    p.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]))
    np.testing.assert_array_equal(read_idx(p, IMAGES_MAGIC), [[[1, 2, 3], [4, 5, 6]]])


def test_gzip_detected_by_content_not_name(tmp_path):
    p = tmp_path / "labels-without-gz-suffix"
    p.write_bytes(gzip.compress(idx_bytes(np.array([3, 1, 4], np.uint8))))
    np.testing.assert_array_equal(read_idx(p, LABELS_MAGIC), [3, 1, 4])


def _raises(fragment, fn, *args):
    with pytest.raises(DataError) as ei:
        fn(*args)
    msg = str(ei.value)
    assert str(fragment) in msg, msg
    assert "\n" not in msg
    return msg


def test_bad_magic(tmp_path):
    write_idx_dir(tmp_path / "mn")
    p = tmp_path / "mn" / "train-images-idx3-ubyte"
    p.write_bytes(idx_bytes(np.zeros(6, np.uint8)))  # a labels file where images belong
    msg = _raises(p, load_idx, tmp_path / "mn")
    assert "0x00000801" in msg and "0x00000803" in msg


def test_truncated_body(tmp_path):
    write_idx_dir(tmp_path / "mn")
    p = tmp_path / "mn" / "t10k-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-7])
    msg = _raises(p, load_idx, tmp_path / "mn")
    assert "truncated" in msg


def test_truncated_header(tmp_path):
    write_idx_dir(tmp_path / "mn")
    p = tmp_path / "mn" / "train-labels-idx1-ubyte"
    p.write_bytes(p.read_bytes()[:6])
    msg = _raises(p, load_idx, tmp_path / "mn")
    assert "header" in msg


def test_trailing_bytes(tmp_path):
    write_idx_dir(tmp_path / "mn")
    p = tmp_path / "mn" / "t10k-labels-idx1-ubyte"
    p.write_bytes(p.read_bytes() + b"\x00\x00")
    msg = _raises(p, load_idx, tmp_path / "mn")
    assert "2 unexpected bytes" in msg


def test_count_mismatch(tmp_path):
    write_idx_dir(tmp_path / "mn")
    p = tmp_path / "mn" / "train-labels-idx1-ubyte"
    p.write_bytes(idx_bytes(np.zeros(5, np.uint8)))
    msg = _raises(p, load_idx, tmp_path / "mn")
    assert "5 labels" in msg and "6 images" in msg


def test_corrupt_gzip(tmp_path):
    write_idx_dir(tmp_path / "mn", gz=True)
    p = tmp_path / "mn" / "train-images-idx3-ubyte.gz"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 10])
    msg = _raises(p, load_idx, tmp_path / "mn")
    assert "gzip" in msg


def test_missing_file(tmp_path):
    write_idx_dir(tmp_path / "mn")
    (tmp_path / "mn" / "t10k-labels-idx1-ubyte").unlink()
    msg = _raises(tmp_path / "mn", load_idx, tmp_path / "mn")
    assert "missing t10k-labels-idx1-ubyte[.gz]" in msg


def test_image_size_differs_between_splits(tmp_path):
    write_idx_dir(tmp_path / "mn")
    p = tmp_path / "mn" / "t10k-images-idx3-ubyte"
    p.write_bytes(idx_bytes(np.zeros((4, 6, 6), np.uint8)))
    _raises(p, load_idx, tmp_path / "mn")


def test_non_ubyte_type_rejected(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(struct.pack(">I", 0x00000D03) + struct.pack(">3I", 1, 1, 1) + b"\x00" * 4)
    _raises(p, read_idx, p, IMAGES_MAGIC)
