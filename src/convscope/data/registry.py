"""Pick the data source named by ``DataConfig.data``, load it, apply the uniform options.

``data`` may be:

* ``"digits"``: scikit-learn's bundled 8x8 digits, upscaled (not the reference data);
* ``"download:cifar10"`` / ``"download:mnist"``: fetched into the cache with checksums;
* a path, recognised in this order: a folder with ``Train``/``Test`` (or ``train``/``test``)
  class folders; CIFAR-10 python batches (``cifar-10-batches-py``, a folder holding it, a folder
  with ``data_batch_1..5`` + ``test_batch`` + ``batches.meta``, or ``cifar-10-python.tar.gz``);
  a folder with MNIST IDX files. Anything else is a :class:`DataError` listing what was expected.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

import torch

from convscope.config import DataConfig
from convscope.data import cifar, download, folders, idx
from convscope.data.base import Dataset
from convscope.data.digits import DEFAULT_SIZE, load_digits
from convscope.data.preprocess import apply_options
from convscope.errors import ConfigError, DataError

log = logging.getLogger(__name__)

DOWNLOAD_PREFIX = "download:"
EXPECTED = (
    f"'digits', {', '.join(DOWNLOAD_PREFIX + k for k in download.RESOURCES)}, "
    f"or a path to image folders ({folders.LAYOUT}), {cifar.EXPECTED}, "
    f"or a folder with {idx.EXPECTED}"
)


def detect(spec: str) -> tuple[str, Path | None]:
    """Which loader owns ``spec``: ``(kind, path)``, kind in digits/download/folders/cifar/idx.

    For ``download`` the path is ``None`` (the key follows the prefix).
    """
    if spec == "digits":
        return "digits", None
    if spec.startswith(DOWNLOAD_PREFIX):
        return "download", None
    if not spec.strip():
        raise DataError(f"data source is empty; expected {EXPECTED}")
    path = Path(os.path.abspath(Path(spec).expanduser()))
    if path.is_symlink() and not path.exists():
        raise DataError(f"{path}: symbolic links form a loop or lead nowhere; expected {EXPECTED}")
    if not path.exists():
        raise DataError(f"{path}: no such file or directory; expected {EXPECTED}")
    if path.is_dir() and folders.looks_like_image_folders(path):
        return "folders", path
    if cifar.find_cifar(path) is not None:
        return "cifar", path
    if idx.looks_like_idx(path):
        return "idx", path
    raise DataError(f"{path}: not a recognised data source; expected {EXPECTED}")


def load_source(
    spec: str,
    *,
    resize: int | None = None,
    grayscale: bool = False,
    cache_dir: str | None = None,
    download_base: str | None = None,
) -> Dataset:
    """Load the source named by ``spec`` without the uniform options (see :func:`load_dataset`).

    ``resize`` and ``grayscale`` are passed to the loaders that must act while decoding (image
    folders whose images differ in size or mode; digits, resized once from 8x8).
    """
    kind, path = detect(spec)
    if kind == "digits":
        return load_digits(size=resize or DEFAULT_SIZE)
    if kind == "download":
        key = spec[len(DOWNLOAD_PREFIX) :]
        folder = download.fetch(key, cache_dir=cache_dir, base_urls=download_base)
        res = download.RESOURCES[key]
        info = {
            "key": key,
            "folder": str(folder),
            "files": {rf.name: {"md5": rf.md5} for rf in res.files},
            "checksums_verified": True,
        }
        if key == "cifar10":
            ds = cifar.load_cifar10(folder / cifar.ARCHIVE_NAME, name="CIFAR10")
        else:
            ds = idx.load_idx(folder, name="MNIST")
        ds.meta["download"] = info
        ds.meta["origin"] = f"{ds.meta['origin']} (downloaded as {spec}, md5 verified)"
        return ds
    if path is None:  # detect() returns a path for every other kind
        raise RuntimeError(f"no path for data source kind {kind!r}")
    if kind == "folders":
        return folders.load_image_folders(path, resize=resize, grayscale=grayscale)
    if kind == "cifar":
        return cifar.load_cifar10(path)
    return idx.load_idx(path)


def load_dataset(cfg: DataConfig) -> Dataset:
    """Load the data set ``cfg`` describes, once, into memory.

    Picks the source from ``cfg.data`` (see module docstring), then applies, in this order,
    ``train_per_class``/``test_per_class`` (first ``k`` per class in source order), ``grayscale``
    (BT.601 luma) and ``resize`` (bilinear, ``resize x resize``).

    Returns:
        A :class:`Dataset`: uint8 images ``(N, C, H, W)``, int64 labels ``(N,)``, class names,
        a one-line ``source`` and ``meta`` (paths, preprocessing, class mapping).
    """
    t0 = time.perf_counter()
    ds = load_source(cfg.data, resize=cfg.resize, grayscale=cfg.grayscale, cache_dir=cfg.cache_dir)
    ds = apply_options(
        ds,
        grayscale=cfg.grayscale,
        resize=cfg.resize,
        train_per_class=cfg.train_per_class,
        test_per_class=cfg.test_per_class,
    )
    if cfg.class_names:
        ds = rename_classes(ds, cfg.class_names)
    if cfg.permute_labels is not None:
        ds = permute_train_labels(ds, cfg.permute_labels)
    log.debug("loaded %s in %.2f s", ds.source, time.perf_counter() - t0)
    return ds


def permute_train_labels(ds: Dataset, seed: int) -> Dataset:
    """The training labels shuffled among the training images (``torch.randperm`` with a
    generator seeded ``seed``), test labels untouched: the data-randomisation test of Adebayo
    et al. 2018 (arXiv 1810.03292) §3.2. The class counts stay the same."""
    g = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(len(ds.train.labels), generator=g)
    train = dataclasses.replace(ds.train, labels=ds.train.labels[perm].clone())
    pre = {**ds.meta.get("preprocessing", {}), "permute_labels": int(seed)}
    return dataclasses.replace(
        ds,
        train=train,
        source=f"{ds.source}; training labels permuted (seed {int(seed)})",
        meta={**ds.meta, "preprocessing": pre},
    )


def rename_classes(ds: Dataset, names: list[str]) -> Dataset:
    """Give classes ``0..K-1`` display names (e.g. CIFAR-10's, for folders named 0-9)."""
    if len(names) != ds.num_classes or len(set(names)) != len(names):
        raise ConfigError(
            f"config key 'class_names': expected {ds.num_classes} distinct names for "
            f"{ds.name}'s classes {', '.join(ds.classes)}, got {len(names)}"
        )
    meta = {**ds.meta, "class_folders": list(ds.classes)}
    return dataclasses.replace(ds, classes=tuple(names), meta=meta)


def describe_source(source: str | DataConfig) -> dict[str, Any]:
    """Load a source (a ``data`` string or a :class:`DataConfig`) and return ``Dataset.describe()``."""
    cfg = source if isinstance(source, DataConfig) else DataConfig(data=str(source))
    return load_dataset(cfg).describe()
