"""Options applied uniformly to every source: per-class subsets, grayscale, resize.

Order (recorded in ``Dataset.meta["preprocessing"]``): per-class subset, then grayscale, then
resize. Subsetting first only saves work (the other two act on each image alone). Grayscale
before resize means the luma is rounded once, at the source resolution.

Choices:

* Grayscale is ITU-R BT.601 luma, ``Y = 0.299 R + 0.587 G + 0.114 B``, rounded half up, computed
  in integers (``(299 R + 587 G + 114 B + 500) // 1000``) so it is exact and platform-independent.
  One-channel data is left as is.
* Resize is Pillow's bilinear filter (``Image.resize(..., BILINEAR)``), which widens its support
  when shrinking, i.e. it is antialiased; the output is ``size x size`` (aspect ratio is not kept).
* A per-class subset is the first ``k`` images of each class in source order (file order for
  folders, record order for CIFAR batches and IDX files); a class with fewer than ``k`` is an error.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import torch
from PIL import Image

from convscope.data.base import Dataset, Split
from convscope.errors import ConfigError, DataError

log = logging.getLogger(__name__)

GRAYSCALE_METHOD = "ITU-R BT.601 luma (0.299 R + 0.587 G + 0.114 B), rounded half up"
RESIZE_METHOD = "Pillow bilinear (antialiased when shrinking)"


def luma(rgb: np.ndarray, axis: int) -> np.ndarray:
    """BT.601 luma of uint8 RGB data; ``axis`` is the channel axis (length 3), kept with length 1.

    Args:
        rgb: uint8 array with 3 channels along ``axis``, e.g. ``(N, 3, H, W)`` or ``(H, W, 3)``.

    Returns:
        uint8 array of the same shape with that axis of length 1.
    """
    if rgb.dtype != np.uint8 or rgb.shape[axis] != 3:
        raise DataError(
            f"grayscale: expected uint8 data with 3 channels, got {rgb.dtype} {rgb.shape}"
        )
    x = rgb.astype(np.int32)
    r, g, b = (np.take(x, [i], axis=axis) for i in range(3))
    return ((299 * r + 587 * g + 114 * b + 500) // 1000).astype(np.uint8)


def resize_hwc(img: np.ndarray, size: int) -> np.ndarray:
    """Resize one uint8 image ``(H, W)`` or ``(H, W, 3)`` to ``(size, size[, 3])`` (bilinear)."""
    if img.shape[0] == size and img.shape[1] == size:
        return img
    pil = Image.fromarray(img)  # (H, W) -> 'L', (H, W, 3) -> 'RGB'
    out = pil.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(out, dtype=np.uint8)


def resize_nchw(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 ``(N, C, H, W)`` (C = 1 or 3) to ``(N, C, size, size)``, image by image."""
    n, c, h, w = images.shape
    if h == size and w == size:
        return images
    if c not in (1, 3):
        raise DataError(f"resize: expected 1 or 3 channels, got {c}")
    out = np.empty((n, size, size, c), dtype=np.uint8)
    hwc = images.transpose(0, 2, 3, 1)
    for i in range(n):
        img = hwc[i, :, :, 0] if c == 1 else np.ascontiguousarray(hwc[i])
        r = resize_hwc(img, size)
        out[i] = r[:, :, None] if c == 1 else r
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def first_per_class(
    labels: np.ndarray, k: int, classes: tuple[str, ...], split: str, where: str
) -> np.ndarray:
    """Indices of the first ``k`` items of each class, in source order.

    Args:
        labels: ``(N,)`` integer labels.
        k: items per class (positive).
        classes: class names, for the error message.
        split: ``"train"`` or ``"test"``, for the error message.
        where: the data source, for the error message.

    Returns:
        ``(k * num_classes,)`` int64 indices, increasing (source order kept).
    """
    if k <= 0:
        raise ConfigError(f"config key '{split}_per_class': expected a positive integer, got {k}")
    keep = np.zeros(labels.shape[0], dtype=bool)
    for c, name in enumerate(classes):
        idx = np.flatnonzero(labels == c)
        if idx.size < k:
            raise DataError(
                f"{where}: class '{name}' has {idx.size} {split} images, fewer than "
                f"{split}_per_class={k}"
            )
        keep[idx[:k]] = True
    return np.flatnonzero(keep)


def preprocessing_notes(pre: dict[str, Any], loader_notes: list[str] | None = None) -> list[str]:
    """Short phrases for the source line, from ``meta["preprocessing"]`` and the loader's notes."""
    notes: list[str] = []
    tr, te = pre.get("train_per_class"), pre.get("test_per_class")
    if tr is not None or te is not None:
        notes.append(f"first {tr or 'all'} train / {te or 'all'} test images per class")
    if pre.get("grayscale") == GRAYSCALE_METHOD:
        notes.append("grayscale (BT.601 luma)")
    rs = pre.get("resize")
    if isinstance(rs, dict) and rs.get("images_resized"):
        notes.append(f"resized to {rs['size']}x{rs['size']} (bilinear)")
    return notes + list(loader_notes or [])


def source_line(
    origin: str, classes: tuple[str, ...], n_train: int, n_test: int, notes: list[str] | None = None
) -> str:
    """The one-line ``Dataset.source``: where it came from, sizes, and what was done to it."""
    line = f"{origin} ({len(classes)} classes, {n_train} train / {n_test} test)"
    if notes:
        line += "; " + ", ".join(notes)
    return line


def apply_options(
    ds: Dataset,
    *,
    grayscale: bool = False,
    resize: int | None = None,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
) -> Dataset:
    """Apply the uniform options to a loaded data set; return a new :class:`Dataset`.

    Order: per-class subsets, grayscale, resize. ``ds.meta["origin"]`` (set by every loader) is
    the first part of the rebuilt source line; what was done is recorded in
    ``meta["preprocessing"]``. Images are uint8 ``(N, C, H, W)`` before and after.
    """
    if resize is not None and resize <= 0:
        raise ConfigError(f"config key 'resize': expected a positive integer, got {resize}")
    where = str(ds.meta.get("path", ds.name))
    arrays = {"train": (ds.train.images.numpy(), ds.train.labels.numpy()),
              "test": (ds.test.images.numpy(), ds.test.labels.numpy())}  # fmt: skip
    pre: dict[str, Any] = dict(ds.meta.get("preprocessing", {}))
    pre["order"] = "per-class subset, grayscale, resize"

    for split, k in (("train", train_per_class), ("test", test_per_class)):
        if k is None:
            continue
        x, y = arrays[split]
        idx = first_per_class(y, k, ds.classes, split, where)
        arrays[split] = (x[idx], y[idx])
        pre[f"{split}_per_class"] = k

    c, h, w = ds.image_shape
    if grayscale:
        if c == 3:
            arrays = {s: (luma(x, axis=1), y) for s, (x, y) in arrays.items()}
            pre["grayscale"] = GRAYSCALE_METHOD
        elif "grayscale" not in pre:
            pre["grayscale"] = "not needed: source has 1 channel"

    if resize is not None:
        if (h, w) != (resize, resize):
            arrays = {s: (resize_nchw(x, resize), y) for s, (x, y) in arrays.items()}
            n = sum(len(y) for _, y in arrays.values())
            pre["resize"] = {"size": resize, "from": [h, w], "method": RESIZE_METHOD,
                             "images_resized": n}  # fmt: skip
        elif "resize" not in pre:
            pre["resize"] = {"size": resize, "from": [h, w], "images_resized": 0}

    train = Split(torch.from_numpy(np.require(arrays["train"][0], np.uint8, ["C", "W"])),
                  torch.from_numpy(np.require(arrays["train"][1], np.int64, ["C", "W"])))  # fmt: skip
    test = Split(torch.from_numpy(np.require(arrays["test"][0], np.uint8, ["C", "W"])),
                 torch.from_numpy(np.require(arrays["test"][1], np.int64, ["C", "W"])))  # fmt: skip
    meta = {**ds.meta, "preprocessing": pre}
    notes = preprocessing_notes(pre, ds.meta.get("loader_notes"))
    origin = str(ds.meta.get("origin", ds.name))
    source = source_line(origin, ds.classes, len(train), len(test), notes)
    return dataclasses.replace(ds, train=train, test=test, source=source, meta=meta)


def make_dataset(
    name: str,
    origin: str,
    classes: tuple[str, ...],
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    meta: dict[str, Any],
    loader_notes: list[str] | None = None,
) -> Dataset:
    """Build a :class:`Dataset` from numpy ``(N, C, H, W)`` uint8 images and integer labels.

    Used by every loader so ``source`` and ``meta`` have one shape: ``meta["origin"]`` is the
    plain description (e.g. ``"image folders at /x/CIFAR10"``), ``meta["class_mapping"]`` maps
    class name to label, ``meta["preprocessing"]`` what the loader already did (if anything).
    """
    splits = []
    for x, y in (train, test):
        splits.append(
            Split(
                torch.from_numpy(np.require(x, np.uint8, ["C", "W"])),
                torch.from_numpy(np.require(y, np.int64, ["C", "W"])),
            )  # fmt: skip
        )
    full_meta: dict[str, Any] = {
        "origin": origin,
        "source_image_shape": list(train[0].shape[1:]),
        **meta,
        "class_mapping": {c: i for i, c in enumerate(classes)},
    }
    if loader_notes:
        full_meta["loader_notes"] = list(loader_notes)
    notes = preprocessing_notes(full_meta.get("preprocessing", {}), loader_notes)
    source = source_line(origin, classes, len(splits[0]), len(splits[1]), notes)
    return Dataset(name, splits[0], splits[1], tuple(classes), source, full_meta)
