"""load_dataset: source detection and the uniform options (grayscale, resize, per-class subsets)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from data_fakes import cifar_batches, write_cifar_dir, write_cifar_tar, write_idx_dir
from PIL import Image

from convscope.config import DataConfig
from convscope.data import describe_source, detect, load_dataset
from convscope.data.preprocess import luma
from convscope.errors import ConfigError, DataError


def test_detects_each_kind(tmp_path, image_folders):
    f = image_folders()
    write_cifar_dir(tmp_path / "c" / "cifar-10-batches-py", cifar_batches())
    write_cifar_tar(tmp_path / "t" / "cifar-10-python.tar.gz", cifar_batches())
    write_idx_dir(tmp_path / "m", gz=True)
    assert detect("digits") == ("digits", None)
    assert detect("download:mnist") == ("download", None)
    assert detect(str(f.root))[0] == "folders"
    assert detect(str(tmp_path / "c"))[0] == "cifar"
    assert detect(str(tmp_path / "c" / "cifar-10-batches-py"))[0] == "cifar"
    assert detect(str(tmp_path / "t"))[0] == "cifar"
    assert detect(str(tmp_path / "t" / "cifar-10-python.tar.gz"))[0] == "cifar"
    assert detect(str(tmp_path / "m"))[0] == "idx"


def test_loads_each_kind_through_config(tmp_path, image_folders):
    f = image_folders()
    write_cifar_dir(tmp_path / "c" / "cifar-10-batches-py", cifar_batches())
    write_idx_dir(tmp_path / "m")
    shapes = {
        str(f.root): (1, 8, 8),
        str(tmp_path / "c"): (3, 32, 32),
        str(tmp_path / "m"): (1, 5, 5),
        "digits": (1, 28, 28),
    }
    for data, shape in shapes.items():
        ds = load_dataset(DataConfig(data=data))
        assert ds.image_shape == shape
        json.dumps(ds.meta)  # meta goes into data.json: it must be plain JSON


def test_unrecognised_directory_lists_what_was_expected(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "readme.txt").write_text("hi")
    with pytest.raises(DataError) as ei:
        load_dataset(DataConfig(data=str(tmp_path / "x")))
    msg = str(ei.value)
    assert msg.startswith(f"{tmp_path / 'x'}: not a recognised data source")
    for needle in ("Train", "cifar-10-batches-py", "train-images-idx3-ubyte", "digits"):
        assert needle in msg
    assert "\n" not in msg


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="no such file or directory"):
        load_dataset(DataConfig(data=str(tmp_path / "absent")))


def test_plain_file_is_not_a_source(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("1,2")
    with pytest.raises(DataError, match="not a recognised data source"):
        load_dataset(DataConfig(data=str(p)))


# ---- options ---------------------------------------------------------------------------------


def test_luma_hand_computed():
    px = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30], [255, 255, 255]], np.uint8)
    # 0.299*255 = 76.245; 0.587*255 = 149.685; 0.114*255 = 29.07; 2.99+11.74+3.42 = 18.15
    assert luma(px, axis=1)[:, 0].tolist() == [76, 150, 29, 18, 255]


def test_luma_rounds_half_up():
    # 0.299*1 + 0.587*0 + 0.114*179 = 20.705 -> 21 ; 0.5 boundary: 299*5 + 114*5 = 2065 -> 2.065 -> 2
    px = np.array([[1, 0, 179], [5, 0, 5]], np.uint8)
    assert luma(px, axis=1)[:, 0].tolist() == [21, 2]


def test_grayscale_option_on_cifar(tmp_path):
    objs = cifar_batches()
    folder = write_cifar_dir(tmp_path / "cifar-10-batches-py", objs)
    ds = load_dataset(DataConfig(data=str(folder), grayscale=True))
    assert ds.image_shape == (1, 32, 32)
    rgb = objs["test_batch"][b"data"].reshape(-1, 3, 32, 32).astype(np.float64)
    ref = np.floor(0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2] + 0.5)
    # float oracle may differ from exact integer rounding only at exact .5 ties
    assert np.abs(ds.test.images[:, 0].numpy().astype(np.float64) - ref).max() <= 1
    assert (ds.test.images[:, 0].numpy() == ref).mean() > 0.999
    assert "grayscale (BT.601 luma)" in ds.source
    assert ds.meta["preprocessing"]["grayscale"].startswith("ITU-R BT.601")


def test_grayscale_on_one_channel_is_a_no_op(image_folders):
    f = image_folders()
    a = load_dataset(DataConfig(data=str(f.root)))
    b = load_dataset(DataConfig(data=str(f.root), grayscale=True))
    assert np.array_equal(a.train.images.numpy(), b.train.images.numpy())
    assert b.source == a.source


def test_resize_matches_pil_bilinear(tmp_path):
    objs = cifar_batches()
    folder = write_cifar_dir(tmp_path / "cifar-10-batches-py", objs)
    ds = load_dataset(DataConfig(data=str(folder), resize=28))
    assert ds.image_shape == (3, 28, 28)
    img = objs["test_batch"][b"data"][1].reshape(3, 32, 32).transpose(1, 2, 0)
    ref = np.asarray(Image.fromarray(img, "RGB").resize((28, 28), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(ds.test.images[1].numpy().transpose(1, 2, 0), ref)
    assert "resized to 28x28 (bilinear)" in ds.source


def test_grayscale_then_resize(tmp_path):
    objs = cifar_batches()
    folder = write_cifar_dir(tmp_path / "cifar-10-batches-py", objs)
    ds = load_dataset(DataConfig(data=str(folder), resize=28, grayscale=True))
    assert ds.image_shape == (1, 28, 28)
    rgb = objs["test_batch"][b"data"][0].reshape(1, 3, 32, 32)
    ref = np.asarray(
        Image.fromarray(luma(rgb, 1)[0, 0]).resize((28, 28), Image.Resampling.BILINEAR)
    )
    np.testing.assert_array_equal(ds.test.images[0, 0].numpy(), ref)


def test_resize_folders_to_a_different_size(image_folders):
    f = image_folders(size=(8, 8))
    ds = load_dataset(DataConfig(data=str(f.root), resize=4))
    assert ds.image_shape == (1, 4, 4)
    ref = np.asarray(
        Image.fromarray(f.images["Train"]["0"][0]).resize((4, 4), Image.Resampling.BILINEAR)
    )
    np.testing.assert_array_equal(ds.train.images[0, 0].numpy(), ref)


def test_per_class_subset_is_first_k_in_source_order(tmp_path):
    write_idx_dir(tmp_path / "m", n_train=30, n_test=20)
    full = load_dataset(DataConfig(data=str(tmp_path / "m")))
    ds = load_dataset(DataConfig(data=str(tmp_path / "m"), train_per_class=2, test_per_class=1))
    y = full.train.labels.numpy()
    expect = sorted(i for c in range(10) for i in np.flatnonzero(y == c)[:2])
    np.testing.assert_array_equal(ds.train.images.numpy(), full.train.images.numpy()[expect])
    np.testing.assert_array_equal(ds.train.labels.numpy(), y[expect])
    assert ds.train.class_counts(10) == [2] * 10 and ds.test.class_counts(10) == [1] * 10
    assert "first 2 train / 1 test images per class" in ds.source
    assert "(10 classes, 20 train / 10 test)" in ds.source


def test_per_class_subset_too_few_is_an_error(image_folders):
    f = image_folders(n_train=3, n_test=2)
    with pytest.raises(DataError) as ei:
        load_dataset(DataConfig(data=str(f.root), test_per_class=3))
    msg = str(ei.value)
    assert str(f.root) in msg and "class '0' has 2 test images" in msg


def test_per_class_subset_must_be_positive(image_folders):
    f = image_folders()
    with pytest.raises(ConfigError, match="train_per_class"):
        load_dataset(DataConfig(data=str(f.root), train_per_class=0))


def test_describe_source(image_folders):
    f = image_folders()
    d = describe_source(str(f.root))
    assert d["train_size"] == 9 and d["test_size"] == 6
    assert d["image_shape"] == [1, 8, 8]
    assert d["source"].startswith(f"image folders at {f.root}")


def test_class_names_rename_classes_and_are_checked() -> None:
    from convscope.config import DataConfig
    from convscope.data import load_dataset
    from convscope.errors import ConfigError

    names = [f"c{i}" for i in range(10)]
    ds = load_dataset(DataConfig(data="digits", class_names=names))
    assert ds.classes == tuple(names)
    assert ds.meta["class_folders"] == [str(i) for i in range(10)]
    with pytest.raises(ConfigError, match="'class_names': expected 10 distinct names"):
        load_dataset(DataConfig(data="digits", class_names=["a", "b"]))
