"""Image folders: loading, class order, and one test per bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from convscope.data.folders import class_order, load_image_folders
from convscope.errors import DataError


def _expected(f, split, classes):
    """Stack the arrays the helper wrote, in class order: (N, C, H, W) and labels."""
    xs, ys = [], []
    for label, c in enumerate(classes):
        for a in f.images[split][c]:
            xs.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
            ys.append(label)
    return np.stack(xs), np.array(ys)


def test_loads_grayscale_pixels_exactly(image_folders):
    f = image_folders(classes=("0", "1", "2"), n_train=3, n_test=2, size=(6, 5))
    ds = load_image_folders(f.root)
    assert ds.classes == ("0", "1", "2")
    assert ds.image_shape == (1, 6, 5)
    for split, s in (("Train", ds.train), ("Test", ds.test)):
        x, y = _expected(f, split, ds.classes)
        np.testing.assert_array_equal(s.images.numpy(), x)
        np.testing.assert_array_equal(s.labels.numpy(), y)
    assert ds.name == "ds"
    assert ds.source == f"image folders at {f.root} (3 classes, 9 train / 6 test)"
    assert ds.meta["class_mapping"] == {"0": 0, "1": 1, "2": 2}


def test_loads_rgb_as_three_channels(image_folders):
    f = image_folders(classes=("a", "b"), mode="RGB", size=(4, 4))
    ds = load_image_folders(f.root)
    assert ds.image_shape == (3, 4, 4)
    x, _ = _expected(f, "Train", ds.classes)
    np.testing.assert_array_equal(ds.train.images.numpy(), x)


def test_lower_case_split_names(image_folders):
    f = image_folders(splits=("train", "test"))
    ds = load_image_folders(f.root)
    assert len(ds.train) == 9 and len(ds.test) == 6


def test_numeric_class_order_puts_10_after_9(image_folders):
    names = [str(i) for i in range(12)]
    f = image_folders(classes=names, n_train=1, n_test=1, size=(2, 2))
    ds = load_image_folders(f.root)
    assert ds.classes == tuple(names)
    # label 10 holds the image written into folder "10"
    i = ds.train.labels.tolist().index(10)
    np.testing.assert_array_equal(ds.train.images[i, 0].numpy(), f.images["Train"]["10"][0])


def test_alphabetical_order_when_not_all_integers():
    assert class_order(["10", "9", "cat", "1"]) == ["1", "10", "9", "cat"]
    assert class_order(["b", "a", "C"]) == ["C", "a", "b"]
    assert class_order(["10", "9", "-1"]) == ["-1", "9", "10"]


def test_hidden_files_and_folders_ignored(image_folders):
    f = image_folders(classes=("0", "1"), size=(3, 3))
    for split in ("Train", "Test"):
        (f.root / split / ".hidden_class").mkdir()
        Image.fromarray(np.zeros((3, 3), np.uint8)).save(f.root / split / ".hidden_class" / "x.png")
        (f.root / split / "0" / ".DS_Store").write_bytes(b"\x00junk")
        (f.root / split / "0" / ".ghost.png").write_bytes(b"not a png")
    (f.root / "Train" / "1" / "notes.txt").write_text("ignored, not an image extension")
    ds = load_image_folders(f.root)
    assert ds.classes == ("0", "1")
    assert len(ds.train) == 6
    assert ds.meta["ignored_files"] == 1


def test_natural_file_order_within_class(tmp_path):
    for split in ("Train", "Test"):
        d = tmp_path / "ds" / split / "0"
        d.mkdir(parents=True)
        for v in (10, 2, 1):
            Image.fromarray(np.full((2, 2), v, np.uint8)).save(d / f"img{v}.png")
    ds = load_image_folders(tmp_path / "ds")
    assert ds.train.images[:, 0, 0, 0].tolist() == [1, 2, 10]


# ---- bad inputs: one test each; the message names the file or folder --------------------------


def _raises(path_fragment, fn, *args, **kwargs):
    with pytest.raises(DataError) as ei:
        fn(*args, **kwargs)
    msg = str(ei.value)
    assert str(path_fragment) in msg, msg
    assert "\n" not in msg
    return msg


def test_missing_folder(tmp_path):
    msg = _raises(tmp_path / "nope", load_image_folders, tmp_path / "nope")
    assert "no such directory" in msg and "Train" in msg


def test_no_train_test_folders(tmp_path):
    (tmp_path / "ds" / "stuff").mkdir(parents=True)
    msg = _raises(tmp_path / "ds", load_image_folders, tmp_path / "ds")
    assert "no Train/ and Test/" in msg


def test_train_without_test(image_folders):
    f = image_folders()
    shutil.rmtree(f.root / "Test")
    msg = _raises(f.root, load_image_folders, f.root)
    assert "no Test/" in msg


def test_no_class_folders(image_folders):
    f = image_folders()
    shutil.rmtree(f.root / "Test")
    (f.root / "Test").mkdir()
    msg = _raises(f.root / "Test", load_image_folders, f.root)
    assert "no class folders" in msg


def test_empty_class_folder(image_folders):
    f = image_folders()
    for p in (f.root / "Train" / "1").iterdir():
        p.unlink()
    msg = _raises(f.root / "Train" / "1", load_image_folders, f.root)
    assert "empty class folder" in msg


def test_different_class_sets_name_the_missing_classes(image_folders):
    f = image_folders(classes=("0", "1", "2", "3"))
    shutil.rmtree(f.root / "Test" / "2")
    shutil.rmtree(f.root / "Test" / "3")
    shutil.copytree(f.root / "Test" / "0", f.root / "Test" / "9")
    msg = _raises(f.root / "Test", load_image_folders, f.root)
    assert "lacks class folders 2, 3" in msg
    assert f"{f.root / 'Train'} lacks class folders 9" in msg


def test_truncated_png(image_folders):
    f = image_folders(size=(16, 16))
    p = f.root / "Train" / "1" / "img001.png"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    msg = _raises(p, load_image_folders, f.root)
    assert "truncated" in msg


def test_truncated_pixel_data_is_decoded_not_skipped(image_folders):
    # Cut inside the pixel data but keep a valid end marker: only a full decode (.load()) sees it.
    f = image_folders(size=(16, 16))
    p = f.root / "Train" / "1" / "img000.png"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2] + b"\x00\x00\x00\x00IEND\xaeB`\x82")
    msg = _raises(p, load_image_folders, f.root)
    assert "cannot decode" in msg


def test_png_cut_after_its_pixels(image_folders):
    # Losing only the zlib checksum, the IDAT CRC and IEND: Pillow has every pixel, still an error.
    f = image_folders(size=(16, 16))
    p = f.root / "Train" / "0" / "img000.png"
    data = p.read_bytes()
    iend = data.rindex(b"IEND") - 4
    p.write_bytes(data[: iend - 8])
    msg = _raises(p, load_image_folders, f.root)
    assert "truncated PNG" in msg


def test_zero_byte_png(image_folders):
    f = image_folders()
    p = f.root / "Test" / "2" / "img000.png"
    p.write_bytes(b"")
    msg = _raises(p, load_image_folders, f.root)
    assert "0 bytes" in msg


def test_non_image_png(image_folders):
    f = image_folders()
    p = f.root / "Train" / "0" / "img002.png"
    p.write_text("this is text, not a PNG")
    msg = _raises(p, load_image_folders, f.root)
    assert "not a recognised image" in msg


def test_wrong_size(image_folders):
    f = image_folders(size=(8, 8))
    p = f.root / "Test" / "1" / "img001.png"
    Image.fromarray(np.zeros((8, 9), np.uint8)).save(p)
    msg = _raises(p, load_image_folders, f.root)
    assert "8x9" in msg and "8x8" in msg and "resize" in msg


@pytest.mark.parametrize("mode", ["P", "RGBA", "LA", "I;16"])
def test_wrong_mode(image_folders, mode):
    f = image_folders(size=(4, 4))
    p = f.root / "Train" / "2" / "img000.png"
    Image.new(mode, (4, 4)).save(p)
    assert Image.open(p).mode == mode
    msg = _raises(p, load_image_folders, f.root)
    assert f"mode '{mode}'" in msg


def test_mixed_l_and_rgb_without_resize(image_folders):
    f = image_folders(size=(4, 4))
    p = f.root / "Test" / "0" / "img001.png"
    Image.new("RGB", (4, 4), (1, 2, 3)).save(p)
    msg = _raises(p, load_image_folders, f.root)
    assert "one mode" in msg


# ---- resize: the explicit option that allows other sizes and modes ----------------------------


def test_resize_allows_odd_modes_and_sizes(image_folders):
    f = image_folders(classes=("0", "1"), size=(8, 8), n_train=2, n_test=1)
    # 16-bit gray: 0x4000 -> 0x40 (top 8 bits); palette with gray colours -> L; LA drops alpha
    Image.fromarray(np.full((10, 10), 0x4000, np.uint16)).save(
        f.root / "Train" / "0" / "img000.png"
    )
    Image.fromarray(np.full((8, 8), 77, np.uint8)).convert("P").save(
        f.root / "Train" / "0" / "img001.png"
    )
    Image.new("LA", (8, 8), (200, 5)).save(f.root / "Train" / "1" / "img000.png")
    ds = load_image_folders(f.root, resize=8)
    assert ds.image_shape == (1, 8, 8)
    x = ds.train.images[:, 0].numpy()
    assert (x[0] == 0x40).all() and (x[1] == 77).all() and (x[2] == 200).all()
    np.testing.assert_array_equal(x[3], f.images["Train"]["1"][1])  # untouched 8x8 L image
    assert ds.meta["preprocessing"]["resize"]["images_resized"] == 1
    assert ds.meta["mode_conversions"]["LA->L"] == 1


def test_resize_mixed_modes_become_rgb(image_folders):
    f = image_folders(classes=("0",), size=(4, 4), n_train=2, n_test=1)
    Image.new("RGBA", (4, 4), (10, 20, 30, 0)).save(f.root / "Train" / "0" / "img001.png")
    ds = load_image_folders(f.root, resize=4)
    assert ds.image_shape == (3, 4, 4)
    gray = f.images["Train"]["0"][0]
    for ch in range(3):
        np.testing.assert_array_equal(ds.train.images[0, ch].numpy(), gray)
    assert ds.train.images[1, :, 0, 0].tolist() == [10, 20, 30]


def test_resize_with_grayscale_converts_colour_first(image_folders):
    f = image_folders(classes=("0",), size=(4, 4), n_train=1, n_test=1, mode="RGB")
    Image.new("RGB", (6, 6), (255, 0, 0)).save(f.root / "Train" / "0" / "img000.png")
    ds = load_image_folders(f.root, resize=4, grayscale=True)
    assert ds.image_shape == (1, 4, 4)
    assert (ds.train.images == 76).all()  # round(0.299 * 255) = 76, constant image stays constant


def test_read_ahead_keeps_file_order(tmp_path):
    from convscope.data import folders

    paths = []
    for i in range(folders._READ_BATCH * (folders._READ_AHEAD + 2) + 5):
        p = tmp_path / f"f{i}"
        p.write_bytes(str(i).encode())
        paths.append(p)
    got = list(folders._iter_bytes(paths))
    assert [p for p, _ in got] == paths
    assert [int(b) for _, b in got] == list(range(len(paths)))
