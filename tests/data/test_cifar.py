"""CIFAR-10 python batches: folder and archive, safe unpickling, one test per bad input."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pytest
from data_fakes import CIFAR_CLASSES, cifar_batches, dump, write_cifar_dir, write_cifar_tar

from convscope.data import cifar
from convscope.data.cifar import SafeUnpickler, load_cifar10, safe_unpickle
from convscope.errors import DataError

NAMES = tuple(c.decode() for c in CIFAR_CLASSES)


def _check_against(ds, objs):
    tr = [objs[f] for f in cifar.TRAIN_FILES]
    x_tr = np.concatenate([o[b"data"] for o in tr])
    y_tr = np.concatenate([o[b"labels"] for o in tr])
    # Independent layout oracle: pixel (c, r, col) of image i is byte c*1024 + r*32 + col.
    ref = np.empty((x_tr.shape[0], 3, 32, 32), np.uint8)
    for i in range(x_tr.shape[0]):
        for c in range(3):
            for r in range(32):
                ref[i, c, r] = x_tr[i, c * 1024 + r * 32 : c * 1024 + r * 32 + 32]
    np.testing.assert_array_equal(ds.train.images.numpy(), ref)
    np.testing.assert_array_equal(ds.train.labels.numpy(), y_tr)
    te = objs[cifar.TEST_FILE]
    np.testing.assert_array_equal(ds.test.images.numpy().reshape(-1, 3072), te[b"data"])
    np.testing.assert_array_equal(ds.test.labels.numpy(), te[b"labels"])
    assert ds.classes == NAMES
    assert ds.image_shape == (3, 32, 32)
    assert ds.name == "CIFAR10"


@pytest.mark.parametrize("style", ["py3", "py2"])
def test_folder(tmp_path, style):
    objs = cifar_batches()
    folder = write_cifar_dir(tmp_path / cifar.DIR_NAME, objs, style)
    ds = load_cifar10(folder)
    _check_against(ds, objs)
    assert (
        ds.source == f"CIFAR-10 python batches in folder {folder} (10 classes, 20 train / 4 test)"
    )


def test_python2_pickle_names_numpy_core(tmp_path):
    # The original files name numpy 1.x's module; make sure the fake really does.
    data = dump(cifar_batches()[cifar.TEST_FILE], "py2")
    assert b"numpy.core.multiarray\n_reconstruct" in data
    assert b"\nU\x04data" in data or b"U\x04data" in data  # SHORT_BINSTRING, a Python 2 str


def test_folder_holding_the_batches_folder(tmp_path):
    objs = cifar_batches()
    write_cifar_dir(tmp_path / "x" / cifar.DIR_NAME, objs)
    _check_against(load_cifar10(tmp_path / "x"), objs)


@pytest.mark.parametrize("style", ["py3", "py2"])
def test_archive_read_without_extracting(tmp_path, style):
    objs = cifar_batches()
    archive = write_cifar_tar(tmp_path / "dl" / cifar.ARCHIVE_NAME, objs, style)
    ds = load_cifar10(archive)
    _check_against(ds, objs)
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == [cifar.ARCHIVE_NAME]
    assert "archive" in ds.source
    # a folder holding the archive works too
    _check_against(load_cifar10(tmp_path / "dl"), objs)


# ---- the restricted unpickler ----------------------------------------------------------------


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_refuses_arbitrary_globals(tmp_path):
    objs = cifar_batches()
    objs[cifar.TEST_FILE][b"data"] = _Evil()
    folder = write_cifar_dir(tmp_path / cifar.DIR_NAME, objs)
    with pytest.raises(DataError) as ei:
        load_cifar10(folder)
    assert str(folder / cifar.TEST_FILE) in str(ei.value)
    assert "refused global" in str(ei.value) and "system" in str(ei.value)


@pytest.mark.parametrize(
    "module,name",
    [
        ("builtins", "eval"),
        ("numpy", "load"),
        ("numpy.core.multiarray", "scalar"),
        ("os", "system"),
    ],
)
def test_find_class_allows_only_array_reconstruction(module, name):
    with pytest.raises(pickle.UnpicklingError):
        SafeUnpickler(io.BytesIO(b"")).find_class(module, name)


def test_find_class_allows_numpy_array_globals():
    u = SafeUnpickler(io.BytesIO(b""))
    assert u.find_class("numpy", "ndarray") is np.ndarray
    assert u.find_class("numpy", "dtype") is np.dtype
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        assert callable(u.find_class(mod, "_reconstruct"))


def test_protocol_5_arrays_load():
    a = np.arange(12, dtype=np.uint8).reshape(2, 6)
    out = safe_unpickle(pickle.dumps({b"data": a}, protocol=5), "x")
    np.testing.assert_array_equal(out[b"data"], a)


# ---- bad inputs ------------------------------------------------------------------------------


def _raises(fragment, fn, *args):
    with pytest.raises(DataError) as ei:
        fn(*args)
    msg = str(ei.value)
    assert str(fragment) in msg, msg
    assert "\n" not in msg
    return msg


def test_truncated_batch(tmp_path):
    folder = write_cifar_dir(tmp_path / cifar.DIR_NAME, cifar_batches())
    p = folder / "data_batch_3"
    p.write_bytes(p.read_bytes()[:500])
    msg = _raises(p, load_cifar10, folder)
    assert "truncated" in msg


def test_not_a_pickle(tmp_path):
    folder = write_cifar_dir(tmp_path / cifar.DIR_NAME, cifar_batches())
    p = folder / "data_batch_1"
    p.write_bytes(b"hello, world")
    _raises(p, load_cifar10, folder)


def test_missing_key(tmp_path):
    objs = cifar_batches()
    del objs["data_batch_2"][b"labels"]
    folder = write_cifar_dir(tmp_path / cifar.DIR_NAME, objs)
    msg = _raises(folder / "data_batch_2", load_cifar10, folder)
    assert "b'labels'" in msg


def test_wrong_data_shape(tmp_path):
    objs = cifar_batches()
    objs["data_batch_1"][b"data"] = np.zeros((4, 3071), np.uint8)
    folder = write_cifar_dir(tmp_path / cifar.DIR_NAME, objs)
    msg = _raises(folder / "data_batch_1", load_cifar10, folder)
    assert "3072" in msg


def test_label_out_of_range(tmp_path):
    objs = cifar_batches()
    objs[cifar.TEST_FILE][b"labels"][0] = 10
    folder = write_cifar_dir(tmp_path / cifar.DIR_NAME, objs)
    msg = _raises(folder / cifar.TEST_FILE, load_cifar10, folder)
    assert "0..9" in msg


def test_label_count_mismatch(tmp_path):
    objs = cifar_batches()
    objs["data_batch_5"][b"labels"].append(1)
    folder = write_cifar_dir(tmp_path / cifar.DIR_NAME, objs)
    _raises(folder / "data_batch_5", load_cifar10, folder)


def test_meta_without_label_names(tmp_path):
    objs = cifar_batches()
    objs[cifar.META_FILE] = {b"num_vis": 3072}
    folder = write_cifar_dir(tmp_path / cifar.DIR_NAME, objs)
    msg = _raises(folder / cifar.META_FILE, load_cifar10, folder)
    assert "label_names" in msg


def test_missing_batch_file(tmp_path):
    folder = write_cifar_dir(tmp_path / cifar.DIR_NAME, cifar_batches())
    (folder / "data_batch_4").unlink()
    msg = _raises(folder, load_cifar10, folder)
    assert "missing data_batch_4" in msg


def test_truncated_archive(tmp_path):
    archive = write_cifar_tar(tmp_path / cifar.ARCHIVE_NAME, cifar_batches(n_per_batch=50))
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    msg = _raises(archive, load_cifar10, archive)
    assert "cannot read archive" in msg or "truncated" in msg or "missing members" in msg


def test_archive_missing_member(tmp_path):
    objs = cifar_batches()
    del objs["test_batch"]
    archive = write_cifar_tar(tmp_path / cifar.ARCHIVE_NAME, objs)
    msg = _raises(archive, load_cifar10, archive)
    assert "missing members test_batch" in msg


def test_archive_bad_member(tmp_path):
    objs = cifar_batches()
    archive = tmp_path / cifar.ARCHIVE_NAME
    with tarfile.open(archive, "w:gz") as tf:
        for fname, obj in objs.items():
            data = dump(obj) if fname != "data_batch_1" else b"garbage"
            info = tarfile.TarInfo(f"{cifar.DIR_NAME}/{fname}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    _raises(f"{archive}:{cifar.DIR_NAME}/data_batch_1", load_cifar10, archive)


def test_not_an_archive(tmp_path):
    p = tmp_path / "thing.tar.gz"
    p.write_bytes(b"definitely not gzip")
    _raises(p, load_cifar10, p)
