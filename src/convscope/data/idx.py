"""IDX files, the MNIST format (http://yann.lecun.com/exdb/mnist/), plain or gzip-compressed.

An IDX file is a big-endian header followed by the raw values: a magic number ``0x0000TTDD``
(``TT`` the value type, ``0x08`` = unsigned byte; ``DD`` the number of dimensions), then ``DD``
uint32 sizes. Images are ``0x00000803`` with sizes ``(N, H, W)``; labels ``0x00000801`` with
``(N,)``. A file is gzip when it starts with the gzip magic ``1f 8b`` (whatever its name).

A folder is read when it holds the four MNIST file names (``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``), each
optionally ending in ``.gz`` and optionally spelled with ``.`` instead of ``-`` before ``idx`` as
some mirrors do; a plain file wins over its ``.gz``. Class names are ``"0"`` .. ``str(max label)``.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from convscope.data import limits
from convscope.data.base import Dataset
from convscope.data.preprocess import make_dataset
from convscope.errors import DataError

log = logging.getLogger(__name__)

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
# role -> canonical file name (without .gz)
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
EXPECTED = "IDX files " + ", ".join(f"{n}[.gz]" for n in FILES.values())


def _candidates(canonical: str) -> list[str]:
    dotted = canonical.replace("-idx", ".idx")
    return [canonical, dotted, canonical + ".gz", dotted + ".gz"]


def find_idx_files(folder: Path) -> dict[str, Path | None]:
    """Role -> path of the first existing candidate name, or ``None``."""
    out: dict[str, Path | None] = {}
    for role, canonical in FILES.items():
        out[role] = next(
            (folder / c for c in _candidates(canonical) if (folder / c).is_file()), None
        )
    return out


def looks_like_idx(folder: Path) -> bool:
    """True when ``folder`` holds at least one of the four IDX file names."""
    return folder.is_dir() and any(p is not None for p in find_idx_files(folder).values())


_EXTRA_CAP = 1 << 20  # trailing bytes read to say how many there are


def _open(path: Path) -> BinaryIO:
    """The file, or its gzip stream (decompressed as read, so never more than is asked for)."""
    try:
        f: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by the caller
        magic = f.read(2)
        f.seek(0)
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e})") from None
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    return f


def _read(f: BinaryIO, n: int, path: Path) -> bytes:
    try:
        return f.read(n)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: corrupt or truncated gzip ({type(e).__name__}: {e})") from None


def read_idx(path: str | Path, expect_magic: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes.

    The header's sizes are checked against :mod:`~convscope.data.limits` before any data is
    read or inflated, and a gzip stream is read no further than one byte past what it declares.

    Args:
        path: the file (plain or gzip).
        expect_magic: :data:`IMAGES_MAGIC` (returns ``(N, H, W)``) or :data:`LABELS_MAGIC`
            (returns ``(N,)``).

    Returns:
        uint8 array with the dimensions from the header.
    """
    path = Path(path)
    what = "images" if expect_magic == IMAGES_MAGIC else "labels"
    with _open(path) as f:
        head = _read(f, 4, path)
        if len(head) < 4:
            raise DataError(
                f"{path}: {len(head)} bytes, too short for an IDX header; expected IDX {what}"
            )
        (magic,) = struct.unpack(">I", head)
        if magic != expect_magic:
            raise DataError(
                f"{path}: IDX magic number 0x{magic:08x}, expected 0x{expect_magic:08x} (unsigned-byte {what})"
            )
        ndim = expect_magic & 0xFF
        header = 4 + 4 * ndim
        dim_bytes = _read(f, 4 * ndim, path)
        if len(dim_bytes) < 4 * ndim:
            raise DataError(
                f"{path}: truncated IDX header ({4 + len(dim_bytes)} of {header} bytes)"
            )
        dims = struct.unpack(f">{ndim}I", dim_bytes)
        if ndim == 3 and (dims[1] == 0 or dims[2] == 0):
            raise DataError(
                f"{path}: image size {dims[1]}x{dims[2]}; expected positive height and width"
            )
        body = math.prod(dims)  # Python ints: no overflow
        limits.check_data_bytes(str(path), body, f"header says {'x'.join(map(str, dims))}, which")
        data = _read(f, body + 1, path)
        extra = len(_read(f, _EXTRA_CAP, path)) + 1 if len(data) > body else 0
    have = len(data)
    if have < body:
        raise DataError(
            f"{path}: truncated: header says {'x'.join(map(str, dims))} = {body} bytes of data, "
            f"found {have}"
        )
    if have > body:
        raise DataError(
            f"{path}: {extra if extra <= _EXTRA_CAP else 'over 1 MiB of'} unexpected bytes "
            f"after the {body} bytes of data the header "
            f"announces ({'x'.join(map(str, dims))})"
        )
    return np.frombuffer(data, dtype=np.uint8, count=body).reshape(dims)


def load_idx(folder: str | Path, *, name: str | None = None) -> Dataset:
    """Load the four MNIST-style IDX files in ``folder``.

    Args:
        folder: directory holding the train/t10k images/labels files (plain or ``.gz``).
        name: data set name; default the folder name.

    Returns:
        A :class:`Dataset` with images ``(N, 1, H, W)`` uint8 and classes ``"0"``.. ``"K-1"``.
    """
    folder = Path(os.path.abspath(Path(folder).expanduser()))
    if not folder.is_dir():
        raise DataError(f"{folder}: no such directory; expected a folder with {EXPECTED}")
    files = find_idx_files(folder)
    missing = [FILES[r] + "[.gz]" for r, p in files.items() if p is None]
    if missing:
        raise DataError(f"{folder}: missing {', '.join(missing)}; expected {EXPECTED}")
    paths: dict[str, Path] = {r: p for r, p in files.items() if p is not None}

    splits = {}
    for split in ("train", "test"):
        x = read_idx(paths[f"{split}_images"], IMAGES_MAGIC)
        y = read_idx(paths[f"{split}_labels"], LABELS_MAGIC)
        if x.shape[0] != y.shape[0]:
            raise DataError(
                f"{paths[f'{split}_labels']}: {y.shape[0]} labels but "
                f"{paths[f'{split}_images']} has {x.shape[0]} images; expected the same count"
            )
        splits[split] = (x[:, None], y.astype(np.int64))
    if splits["train"][0].shape[2:] != splits["test"][0].shape[2:]:
        raise DataError(
            f"{paths['test_images']}: images are {splits['test'][0].shape[2:]} but "
            f"{paths['train_images']} has {splits['train'][0].shape[2:]}; expected the same size"
        )
    n_labels = [int(y.max()) + 1 for _, y in splits.values() if y.size]
    classes = tuple(str(i) for i in range(max(n_labels, default=0)))
    if not classes:
        raise DataError(f"{folder}: the IDX files hold no images; expected at least one")
    meta: dict[str, Any] = {
        "format": "idx",
        "path": str(folder),
        "files": {r: p.name for r, p in paths.items()},
    }
    return make_dataset(
        name or folder.name,
        f"IDX files in {folder}",
        classes,
        splits["train"],
        splits["test"],
        meta,
    )
